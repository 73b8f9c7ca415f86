-- Reverts 2026-01-01-000001_initial_schema. Dropping a table drops its indexes,
-- constraints, triggers and identity sequence; the function and the types go last,
-- once nothing uses them.

DROP TABLE system_metrics;
DROP TABLE redemption_requests;
DROP TABLE transactions;
DROP TABLE users;

DROP FUNCTION haven_set_updated_at();

DROP TYPE redemption_status;
DROP TYPE transaction_status;
DROP TYPE transaction_kind;
DROP TYPE kyc_status;
DROP TYPE user_status;
