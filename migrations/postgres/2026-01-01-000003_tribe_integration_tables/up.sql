-- Tribe app integration: event attendance, community contribution rewards, and staking.

CREATE TYPE tribe_contribution_kind AS ENUM (
    'content', 'referral', 'event_hosting', 'moderation', 'feedback', 'other'
);
CREATE TYPE staking_status AS ENUM ('active', 'matured', 'withdrawn');

-- One row per user and Tribe event attended.
CREATE TABLE tribe_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Attendance is personal data derived from Tribe, not a ledger: it goes with the user.
    -- The tokens it paid stay in transactions, which RESTRICT the user's deletion anyway.
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Tribe's own identifier of the event.
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    attended_at TIMESTAMPTZ NOT NULL,
    reward_amount NUMERIC(36, 18) NOT NULL DEFAULT 0,
    reward_transaction_id BIGINT REFERENCES transactions (id) ON DELETE RESTRICT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Also the index of the user_id foreign key (its leading column).
    CONSTRAINT tribe_events_user_id_event_id_key UNIQUE (user_id, event_id),
    CONSTRAINT tribe_events_reward_amount_check CHECK (reward_amount >= 0)
);

CREATE INDEX tribe_events_reward_transaction_id_idx ON tribe_events (reward_transaction_id);
CREATE INDEX tribe_events_event_id_idx ON tribe_events (event_id);

CREATE TABLE tribe_rewards (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    contribution_kind tribe_contribution_kind NOT NULL,
    amount NUMERIC(36, 18) NOT NULL,
    description TEXT,
    -- The event the contribution belongs to, if any; the reward outlives the attendance row.
    tribe_event_id BIGINT REFERENCES tribe_events (id) ON DELETE SET NULL,
    reward_transaction_id BIGINT REFERENCES transactions (id) ON DELETE RESTRICT,
    awarded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tribe_rewards_amount_check CHECK (amount > 0)
);

CREATE INDEX tribe_rewards_user_id_idx ON tribe_rewards (user_id);
CREATE INDEX tribe_rewards_tribe_event_id_idx ON tribe_rewards (tribe_event_id);
CREATE INDEX tribe_rewards_reward_transaction_id_idx ON tribe_rewards (reward_transaction_id);

CREATE TABLE staking_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    amount NUMERIC(36, 18) NOT NULL,
    -- Yearly rate as a fraction: 0.05 is 5 % a year.
    reward_rate NUMERIC(10, 6) NOT NULL,
    accrued_rewards NUMERIC(36, 18) NOT NULL DEFAULT 0,
    lock_start TIMESTAMPTZ NOT NULL DEFAULT now(),
    lock_end TIMESTAMPTZ NOT NULL,
    status staking_status NOT NULL DEFAULT 'active',
    withdrawn_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT staking_records_amount_check CHECK (amount > 0),
    CONSTRAINT staking_records_reward_rate_check CHECK (reward_rate >= 0),
    CONSTRAINT staking_records_accrued_rewards_check CHECK (accrued_rewards >= 0),
    CONSTRAINT staking_records_lock_check CHECK (lock_end > lock_start),
    CONSTRAINT staking_records_withdrawn_check CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL))
);

CREATE INDEX staking_records_user_id_idx ON staking_records (user_id);
-- The accrual job walks the active stakes.
CREATE INDEX staking_records_active_lock_end_idx ON staking_records (lock_end) WHERE status = 'active';

CREATE TRIGGER staking_records_set_updated_at
    BEFORE UPDATE ON staking_records
    FOR EACH ROW EXECUTE FUNCTION haven_set_updated_at();

COMMENT ON TABLE tribe_events IS 'A user''s attendance at a Tribe event, and its reward.';
COMMENT ON COLUMN tribe_events.event_id IS 'Tribe''s identifier of the event; one row per user and event.';
COMMENT ON COLUMN tribe_events.reward_transaction_id IS 'The mint that paid the reward, once it exists.';

COMMENT ON TABLE tribe_rewards IS 'Tokens awarded for a community contribution in the Tribe app.';
COMMENT ON COLUMN tribe_rewards.amount IS 'Tokens awarded, exact to 18 decimals; always positive.';
COMMENT ON COLUMN tribe_rewards.tribe_event_id IS 'The event the contribution belongs to, if any.';
COMMENT ON COLUMN tribe_rewards.reward_transaction_id IS 'The mint that paid the reward, once it exists.';

COMMENT ON TABLE staking_records IS 'Tokens locked for a period, and the rewards they accrue.';
COMMENT ON COLUMN staking_records.amount IS 'Tokens locked, exact to 18 decimals; always positive.';
COMMENT ON COLUMN staking_records.reward_rate IS 'Yearly reward rate as a fraction: 0.05 is 5 % a year.';
COMMENT ON COLUMN staking_records.accrued_rewards IS 'Rewards accrued so far, exact to 18 decimals.';
COMMENT ON COLUMN staking_records.lock_end IS 'End of the lock, after lock_start.';
COMMENT ON COLUMN staking_records.withdrawn_at IS 'When the stake was withdrawn; set exactly when status is withdrawn.';
