-- Aurora PMS integration: stays booked through Aurora earn HAVEN tokens.

CREATE TYPE aurora_booking_status AS ENUM ('pending', 'confirmed', 'completed', 'cancelled');

CREATE TABLE aurora_bookings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    -- Aurora's own identifier of the booking; webhooks are matched on it.
    booking_reference TEXT NOT NULL,
    property_id TEXT NOT NULL,
    property_name TEXT,
    check_in DATE NOT NULL,
    check_out DATE NOT NULL,
    -- What the guest paid, in fiat.
    booking_amount NUMERIC(20, 4) NOT NULL,
    currency TEXT NOT NULL,
    -- Tokens earned for the stay.
    reward_earned NUMERIC(36, 18) NOT NULL DEFAULT 0,
    -- The mint that paid the reward, once it exists.
    reward_transaction_id BIGINT REFERENCES transactions (id) ON DELETE RESTRICT,
    status aurora_booking_status NOT NULL DEFAULT 'pending',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT aurora_bookings_booking_reference_key UNIQUE (booking_reference),
    CONSTRAINT aurora_bookings_stay_check CHECK (check_out > check_in),
    CONSTRAINT aurora_bookings_booking_amount_check CHECK (booking_amount >= 0),
    CONSTRAINT aurora_bookings_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT aurora_bookings_reward_earned_check CHECK (reward_earned >= 0)
);

CREATE INDEX aurora_bookings_user_id_idx ON aurora_bookings (user_id);
CREATE INDEX aurora_bookings_reward_transaction_id_idx ON aurora_bookings (reward_transaction_id);
CREATE INDEX aurora_bookings_property_id_check_in_idx ON aurora_bookings (property_id, check_in);

CREATE TRIGGER aurora_bookings_set_updated_at
    BEFORE UPDATE ON aurora_bookings
    FOR EACH ROW EXECUTE FUNCTION haven_set_updated_at();

COMMENT ON TABLE aurora_bookings IS 'A stay booked through Aurora PMS, and the tokens it earns.';
COMMENT ON COLUMN aurora_bookings.booking_reference IS 'Aurora''s identifier of the booking; unique.';
COMMENT ON COLUMN aurora_bookings.check_out IS 'Departure date, after check_in.';
COMMENT ON COLUMN aurora_bookings.booking_amount IS 'What the guest paid, in currency.';
COMMENT ON COLUMN aurora_bookings.currency IS 'ISO 4217 code of booking_amount.';
COMMENT ON COLUMN aurora_bookings.reward_earned IS 'Tokens earned for the stay, exact to 18 decimals.';
COMMENT ON COLUMN aurora_bookings.reward_transaction_id IS 'The mint that paid the reward, once it exists.';
