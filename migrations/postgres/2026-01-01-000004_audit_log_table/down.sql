-- Reverts 2026-01-01-000004_audit_log_table. DROP TABLE is not a DELETE: the
-- append-only triggers go with the table, then their function.

DROP TABLE audit_log;
DROP FUNCTION audit_log_refuse_change();
