-- Reverts 2026-01-01-000002_aurora_integration_tables.

DROP TABLE aurora_bookings;
DROP TYPE aurora_booking_status;
