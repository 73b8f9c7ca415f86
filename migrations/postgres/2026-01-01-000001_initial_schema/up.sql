-- Core tables of the HAVEN Token backend: users, token transactions, fiat redemptions
-- and system metrics.
--
-- Conventions for every migration of this set:
-- * Token amounts are NUMERIC(36,18): 18 decimals, as the ERC-20 token, never floats.
-- * Statuses and kinds are enum types (mapped with diesel-derive-enum in src/models.rs).
-- * Timestamps are timestamptz; the server stores UTC whatever the session time zone.
-- * Every foreign key says what happens on DELETE and has an index leading with its
--   columns (a FK without one makes deletes on the parent scan the child table).
-- * Money-bearing rows are never deleted behind our back: their foreign keys RESTRICT.

CREATE TYPE user_status AS ENUM ('active', 'suspended', 'closed');
CREATE TYPE kyc_status AS ENUM ('not_started', 'pending', 'verified', 'rejected');
CREATE TYPE transaction_kind AS ENUM ('mint', 'burn', 'transfer');
CREATE TYPE transaction_status AS ENUM ('pending', 'confirmed', 'failed');
CREATE TYPE redemption_status AS ENUM ('requested', 'approved', 'paid_out', 'rejected', 'cancelled');

-- Keeps updated_at honest when the application forgets it; an explicit new value wins.
CREATE FUNCTION haven_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wallet_address TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    kyc_status kyc_status NOT NULL DEFAULT 'not_started',
    status user_status NOT NULL DEFAULT 'active',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_wallet_address_check CHECK (wallet_address ~ '^0x[0-9a-fA-F]{40}$'),
    CONSTRAINT users_email_check CHECK (email IS NULL OR email LIKE '_%@_%')
);

-- Ethereum addresses are case-insensitive (mixed case is only a checksum), so
-- uniqueness is on the lower-cased form: the same wallet cannot be registered twice.
CREATE UNIQUE INDEX users_wallet_address_key ON users (lower(wallet_address));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION haven_set_updated_at();

CREATE TABLE transactions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind transaction_kind NOT NULL,
    status transaction_status NOT NULL DEFAULT 'pending',
    amount NUMERIC(36, 18) NOT NULL,
    from_user_id BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    to_user_id BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    tx_hash TEXT,
    block_number BIGINT,
    memo TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    confirmed_at TIMESTAMPTZ,
    CONSTRAINT transactions_amount_check CHECK (amount > 0),
    CONSTRAINT transactions_tx_hash_check CHECK (tx_hash IS NULL OR tx_hash ~ '^0x[0-9a-fA-F]{64}$'),
    CONSTRAINT transactions_tx_hash_key UNIQUE (tx_hash),
    CONSTRAINT transactions_block_number_check CHECK (block_number IS NULL OR block_number >= 0),
    -- A mint creates tokens for someone, a burn destroys someone's tokens, a transfer
    -- moves them between two different users.
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
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    token_amount NUMERIC(36, 18) NOT NULL,
    fiat_currency TEXT NOT NULL,
    fiat_amount NUMERIC(20, 4) NOT NULL,
    status redemption_status NOT NULL DEFAULT 'requested',
    -- The burn that destroyed the redeemed tokens, once it exists.
    burn_transaction_id BIGINT REFERENCES transactions (id) ON DELETE RESTRICT,
    payout_reference TEXT,
    rejection_reason TEXT,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    approved_at TIMESTAMPTZ,
    paid_out_at TIMESTAMPTZ,
    rejected_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT redemption_requests_token_amount_check CHECK (token_amount > 0),
    CONSTRAINT redemption_requests_fiat_amount_check CHECK (fiat_amount > 0),
    CONSTRAINT redemption_requests_fiat_currency_check CHECK (fiat_currency ~ '^[A-Z]{3}$'),
    -- requested -> approved -> paid_out, or -> rejected / cancelled: each state carries
    -- the timestamp of the step that reached it.
    CONSTRAINT redemption_requests_approved_check
        CHECK (status NOT IN ('approved', 'paid_out') OR approved_at IS NOT NULL),
    CONSTRAINT redemption_requests_paid_out_check
        CHECK (status <> 'paid_out' OR (paid_out_at IS NOT NULL AND payout_reference IS NOT NULL)),
    CONSTRAINT redemption_requests_rejected_check CHECK (status <> 'rejected' OR rejected_at IS NOT NULL),
    CONSTRAINT redemption_requests_cancelled_check CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL),
    CONSTRAINT redemption_requests_order_check CHECK (
        (approved_at IS NULL OR approved_at >= requested_at)
        AND (paid_out_at IS NULL OR (approved_at IS NOT NULL AND paid_out_at >= approved_at))
    )
);

CREATE INDEX redemption_requests_user_id_idx ON redemption_requests (user_id);
CREATE INDEX redemption_requests_burn_transaction_id_idx ON redemption_requests (burn_transaction_id);
-- The payout queue: open requests, oldest first.
CREATE INDEX redemption_requests_open_idx ON redemption_requests (requested_at)
    WHERE status IN ('requested', 'approved');

CREATE TRIGGER redemption_requests_set_updated_at
    BEFORE UPDATE ON redemption_requests
    FOR EACH ROW EXECUTE FUNCTION haven_set_updated_at();

CREATE TABLE system_metrics (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    metric_name TEXT NOT NULL,
    -- Unconstrained NUMERIC: metrics are supplies, counts and ratios alike, all exact.
    value NUMERIC NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT system_metrics_metric_name_check CHECK (metric_name <> '')
);

CREATE INDEX system_metrics_metric_name_recorded_at_idx ON system_metrics (metric_name, recorded_at);

-- Documentation: `diesel print-schema` turns these comments into the doc comments of
-- src/schema.rs.
COMMENT ON TABLE users IS 'A HAVEN account, identified by its wallet.';
COMMENT ON COLUMN users.wallet_address IS 'Ethereum address, `0x` and 40 hex digits; unique whatever its letter case.';
COMMENT ON COLUMN users.email IS 'Contact address, unique ignoring case; optional.';
COMMENT ON COLUMN users.kyc_status IS 'Where the know-your-customer check stands.';
COMMENT ON COLUMN users.status IS 'Whether the account may transact.';
COMMENT ON COLUMN users.updated_at IS 'Last change; set by a trigger when an UPDATE does not set it.';

COMMENT ON TABLE transactions IS 'A token mint, burn or transfer.';
COMMENT ON COLUMN transactions.amount IS 'Tokens moved, exact to 18 decimals; always positive.';
COMMENT ON COLUMN transactions.from_user_id IS 'Sender: NULL for a mint.';
COMMENT ON COLUMN transactions.to_user_id IS 'Recipient: NULL for a burn.';
COMMENT ON COLUMN transactions.tx_hash IS 'On-chain transaction hash (`0x` and 64 hex digits), once submitted.';
COMMENT ON COLUMN transactions.confirmed_at IS 'When the chain confirmed it; required once confirmed.';

COMMENT ON TABLE redemption_requests IS 'Tokens redeemed for a fiat payout: requested, approved, paid out, or rejected or cancelled.';
COMMENT ON COLUMN redemption_requests.token_amount IS 'Tokens redeemed, exact to 18 decimals; always positive.';
COMMENT ON COLUMN redemption_requests.fiat_currency IS 'ISO 4217 code of the payout, such as `EUR`.';
COMMENT ON COLUMN redemption_requests.fiat_amount IS 'Payout in fiat_currency, to 4 decimals; always positive.';
COMMENT ON COLUMN redemption_requests.burn_transaction_id IS 'The burn that destroyed the redeemed tokens, once it exists.';
COMMENT ON COLUMN redemption_requests.payout_reference IS 'Reference of the fiat payment; required once paid out.';

COMMENT ON TABLE system_metrics IS 'A sample of a system-wide metric (supply, counts, ratios).';
COMMENT ON COLUMN system_metrics.value IS 'The sampled value, exact.';
