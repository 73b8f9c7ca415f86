-- Reverts 2026-01-01-000004_audit_log_table (SQLite). DROP TABLE fires no DELETE
-- trigger; the triggers go with the table.

DROP TABLE audit_log;
