-- Reverts 2026-01-01-000002_aurora_integration_tables (SQLite).

DROP TABLE aurora_bookings;
