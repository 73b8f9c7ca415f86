-- SQLite dialect of migrations/postgres/2026-01-01-000001_initial_schema: the same
-- tables, columns, nullability and keys, in the nearest SQLite types.
--
-- * Ids are INTEGER PRIMARY KEY (the rowid, 64-bit), without AUTOINCREMENT: that would
--   create sqlite_sequence, which no down.sql can drop.
-- * Enum types become TEXT with CHECK (... IN (...)), kept equal to the PostgreSQL labels.
-- * Amounts are NUMERIC (numeric affinity, so "amount > 0" compares numbers). SQLite
--   keeps about 15 significant digits of a non-integer: exact amounts are PostgreSQL's
--   job. typeof() keeps text out, which would otherwise compare greater than any number.
-- * Timestamps are TIMESTAMP text in UTC; comparisons go through julianday(), which reads
--   both CURRENT_TIMESTAMP's format and Diesel's "+00:00" suffix.

CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    wallet_address TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    kyc_status TEXT NOT NULL DEFAULT 'not_started',
    status TEXT NOT NULL DEFAULT 'active',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- ^0x[0-9a-fA-F]{40}$ without regular expressions.
    CONSTRAINT users_wallet_address_check CHECK (
        length(wallet_address) = 42
        AND wallet_address GLOB '0x*'
        AND substr(wallet_address, 3) NOT GLOB '*[^0-9a-fA-F]*'
    ),
    CONSTRAINT users_email_check CHECK (email IS NULL OR email LIKE '_%@_%'),
    CONSTRAINT users_kyc_status_check CHECK (kyc_status IN ('not_started', 'pending', 'verified', 'rejected')),
    CONSTRAINT users_status_check CHECK (status IN ('active', 'suspended', 'closed'))
);

CREATE UNIQUE INDEX users_wallet_address_key ON users (lower(wallet_address));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Keeps updated_at honest when the application forgets it; an explicit new value wins.
CREATE TRIGGER users_set_updated_at
    AFTER UPDATE ON users
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE transactions (
    id INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    amount NUMERIC(36, 18) NOT NULL,
    from_user_id INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    to_user_id INTEGER REFERENCES users (id) ON DELETE RESTRICT,
    tx_hash TEXT,
    block_number INTEGER,
    memo TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    confirmed_at TIMESTAMP,
    CONSTRAINT transactions_kind_check CHECK (kind IN ('mint', 'burn', 'transfer')),
    CONSTRAINT transactions_status_check CHECK (status IN ('pending', 'confirmed', 'failed')),
    CONSTRAINT transactions_amount_check CHECK (typeof(amount) IN ('integer', 'real') AND amount > 0),
    CONSTRAINT transactions_tx_hash_check CHECK (
        tx_hash IS NULL OR (
            length(tx_hash) = 66
            AND tx_hash GLOB '0x*'
            AND substr(tx_hash, 3) NOT GLOB '*[^0-9a-fA-F]*'
        )
    ),
    CONSTRAINT transactions_tx_hash_key UNIQUE (tx_hash),
    CONSTRAINT transactions_block_number_check CHECK (block_number IS NULL OR block_number >= 0),
    CONSTRAINT transactions_parties_check CHECK (
        CASE kind
            WHEN 'mint' THEN from_user_id IS NULL AND to_user_id IS NOT NULL
            WHEN 'burn' THEN from_user_id IS NOT NULL AND to_user_id IS NULL
            ELSE from_user_id IS NOT NULL AND to_user_id IS NOT NULL AND from_user_id <> to_user_id
        END
    ),
    CONSTRAINT transactions_confirmed_at_check CHECK (status <> 'confirmed' OR confirmed_at IS NOT NULL)
);

CREATE INDEX transactions_from_user_id_idx ON transactions (from_user_id);
CREATE INDEX transactions_to_user_id_idx ON transactions (to_user_id);
CREATE INDEX transactions_created_at_idx ON transactions (created_at);

CREATE TABLE redemption_requests (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    token_amount NUMERIC(36, 18) NOT NULL,
    fiat_currency TEXT NOT NULL,
    fiat_amount NUMERIC(20, 4) NOT NULL,
    status TEXT NOT NULL DEFAULT 'requested',
    burn_transaction_id INTEGER REFERENCES transactions (id) ON DELETE RESTRICT,
    payout_reference TEXT,
    rejection_reason TEXT,
    requested_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    approved_at TIMESTAMP,
    paid_out_at TIMESTAMP,
    rejected_at TIMESTAMP,
    cancelled_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT redemption_requests_token_amount_check
        CHECK (typeof(token_amount) IN ('integer', 'real') AND token_amount > 0),
    CONSTRAINT redemption_requests_fiat_amount_check
        CHECK (typeof(fiat_amount) IN ('integer', 'real') AND fiat_amount > 0),
    CONSTRAINT redemption_requests_fiat_currency_check
        CHECK (length(fiat_currency) = 3 AND fiat_currency NOT GLOB '*[^A-Z]*'),
    CONSTRAINT redemption_requests_status_check
        CHECK (status IN ('requested', 'approved', 'paid_out', 'rejected', 'cancelled')),
    CONSTRAINT redemption_requests_approved_check
        CHECK (status NOT IN ('approved', 'paid_out') OR approved_at IS NOT NULL),
    CONSTRAINT redemption_requests_paid_out_check
        CHECK (status <> 'paid_out' OR (paid_out_at IS NOT NULL AND payout_reference IS NOT NULL)),
    CONSTRAINT redemption_requests_rejected_check CHECK (status <> 'rejected' OR rejected_at IS NOT NULL),
    CONSTRAINT redemption_requests_cancelled_check CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL),
    CONSTRAINT redemption_requests_order_check CHECK (
        (approved_at IS NULL OR julianday(approved_at) >= julianday(requested_at))
        AND (paid_out_at IS NULL OR (approved_at IS NOT NULL AND julianday(paid_out_at) >= julianday(approved_at)))
    )
);

CREATE INDEX redemption_requests_user_id_idx ON redemption_requests (user_id);
CREATE INDEX redemption_requests_burn_transaction_id_idx ON redemption_requests (burn_transaction_id);
CREATE INDEX redemption_requests_open_idx ON redemption_requests (requested_at)
    WHERE status IN ('requested', 'approved');

CREATE TRIGGER redemption_requests_set_updated_at
    AFTER UPDATE ON redemption_requests
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE redemption_requests SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE system_metrics (
    id INTEGER PRIMARY KEY NOT NULL,
    metric_name TEXT NOT NULL,
    value NUMERIC NOT NULL,
    recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT system_metrics_metric_name_check CHECK (metric_name <> ''),
    CONSTRAINT system_metrics_value_check CHECK (typeof(value) IN ('integer', 'real'))
);

CREATE INDEX system_metrics_metric_name_recorded_at_idx ON system_metrics (metric_name, recorded_at);
