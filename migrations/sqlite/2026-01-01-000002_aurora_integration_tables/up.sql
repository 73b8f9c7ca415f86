-- SQLite dialect of migrations/postgres/2026-01-01-000002_aurora_integration_tables.

CREATE TABLE aurora_bookings (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    booking_reference TEXT NOT NULL,
    property_id TEXT NOT NULL,
    property_name TEXT,
    check_in DATE NOT NULL,
    check_out DATE NOT NULL,
    booking_amount NUMERIC(20, 4) NOT NULL,
    currency TEXT NOT NULL,
    reward_earned NUMERIC(36, 18) NOT NULL DEFAULT 0,
    reward_transaction_id INTEGER REFERENCES transactions (id) ON DELETE RESTRICT,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT aurora_bookings_booking_reference_key UNIQUE (booking_reference),
    -- Dates are ISO text (YYYY-MM-DD), so text order is date order once both are valid.
    CONSTRAINT aurora_bookings_dates_check CHECK (date(check_in) IS check_in AND date(check_out) IS check_out),
    CONSTRAINT aurora_bookings_stay_check CHECK (check_out > check_in),
    CONSTRAINT aurora_bookings_booking_amount_check
        CHECK (typeof(booking_amount) IN ('integer', 'real') AND booking_amount >= 0),
    CONSTRAINT aurora_bookings_currency_check CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    CONSTRAINT aurora_bookings_reward_earned_check
        CHECK (typeof(reward_earned) IN ('integer', 'real') AND reward_earned >= 0),
    CONSTRAINT aurora_bookings_status_check CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled'))
);

CREATE INDEX aurora_bookings_user_id_idx ON aurora_bookings (user_id);
CREATE INDEX aurora_bookings_reward_transaction_id_idx ON aurora_bookings (reward_transaction_id);
CREATE INDEX aurora_bookings_property_id_check_in_idx ON aurora_bookings (property_id, check_in);

CREATE TRIGGER aurora_bookings_set_updated_at
    AFTER UPDATE ON aurora_bookings
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE aurora_bookings SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
