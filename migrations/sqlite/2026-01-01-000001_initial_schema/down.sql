-- Reverts 2026-01-01-000001_initial_schema (SQLite). Dropping a table drops its
-- indexes and triggers.

DROP TABLE system_metrics;
DROP TABLE redemption_requests;
DROP TABLE transactions;
DROP TABLE users;
