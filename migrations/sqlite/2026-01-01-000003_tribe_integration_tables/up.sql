-- SQLite dialect of migrations/postgres/2026-01-01-000003_tribe_integration_tables.

CREATE TABLE tribe_events (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    attended_at TIMESTAMP NOT NULL,
    reward_amount NUMERIC(36, 18) NOT NULL DEFAULT 0,
    reward_transaction_id INTEGER REFERENCES transactions (id) ON DELETE RESTRICT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT tribe_events_user_id_event_id_key UNIQUE (user_id, event_id),
    CONSTRAINT tribe_events_reward_amount_check
        CHECK (typeof(reward_amount) IN ('integer', 'real') AND reward_amount >= 0)
);

CREATE INDEX tribe_events_reward_transaction_id_idx ON tribe_events (reward_transaction_id);
CREATE INDEX tribe_events_event_id_idx ON tribe_events (event_id);

CREATE TABLE tribe_rewards (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    contribution_kind TEXT NOT NULL,
    amount NUMERIC(36, 18) NOT NULL,
    description TEXT,
    tribe_event_id INTEGER REFERENCES tribe_events (id) ON DELETE SET NULL,
    reward_transaction_id INTEGER REFERENCES transactions (id) ON DELETE RESTRICT,
    awarded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT tribe_rewards_contribution_kind_check CHECK (
        contribution_kind IN ('content', 'referral', 'event_hosting', 'moderation', 'feedback', 'other')
    ),
    CONSTRAINT tribe_rewards_amount_check CHECK (typeof(amount) IN ('integer', 'real') AND amount > 0)
);

CREATE INDEX tribe_rewards_user_id_idx ON tribe_rewards (user_id);
CREATE INDEX tribe_rewards_tribe_event_id_idx ON tribe_rewards (tribe_event_id);
CREATE INDEX tribe_rewards_reward_transaction_id_idx ON tribe_rewards (reward_transaction_id);

CREATE TABLE staking_records (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    amount NUMERIC(36, 18) NOT NULL,
    reward_rate NUMERIC(10, 6) NOT NULL,
    accrued_rewards NUMERIC(36, 18) NOT NULL DEFAULT 0,
    lock_start TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    lock_end TIMESTAMP NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    withdrawn_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT staking_records_amount_check CHECK (typeof(amount) IN ('integer', 'real') AND amount > 0),
    CONSTRAINT staking_records_reward_rate_check
        CHECK (typeof(reward_rate) IN ('integer', 'real') AND reward_rate >= 0),
    CONSTRAINT staking_records_accrued_rewards_check
        CHECK (typeof(accrued_rewards) IN ('integer', 'real') AND accrued_rewards >= 0),
    -- julianday() is NULL for a malformed timestamp: COALESCE makes that a failure too.
    CONSTRAINT staking_records_lock_check CHECK (COALESCE(julianday(lock_end) > julianday(lock_start), 0)),
    CONSTRAINT staking_records_status_check CHECK (status IN ('active', 'matured', 'withdrawn')),
    CONSTRAINT staking_records_withdrawn_check CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL))
);

CREATE INDEX staking_records_user_id_idx ON staking_records (user_id);
CREATE INDEX staking_records_active_lock_end_idx ON staking_records (lock_end) WHERE status = 'active';

CREATE TRIGGER staking_records_set_updated_at
    AFTER UPDATE ON staking_records
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE staking_records SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
