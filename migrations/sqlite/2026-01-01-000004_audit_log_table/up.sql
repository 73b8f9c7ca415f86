-- SQLite dialect of migrations/postgres/2026-01-01-000004_audit_log_table: JSON is
-- TEXT checked with json_valid(), and the append-only rule is two BEFORE triggers.
-- actor_user_id has deliberately no foreign key (see the PostgreSQL migration).

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY NOT NULL,
    actor_user_id INTEGER,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    old_values TEXT,
    new_values TEXT,
    ip_address TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT audit_log_actor_check CHECK (actor <> ''),
    CONSTRAINT audit_log_action_check CHECK (action <> ''),
    CONSTRAINT audit_log_entity_type_check CHECK (entity_type <> ''),
    -- CASE, because json_type() raises an error on malformed JSON instead of failing.
    CONSTRAINT audit_log_old_values_check CHECK (
        old_values IS NULL OR CASE WHEN json_valid(old_values) THEN json_type(old_values) = 'object' ELSE 0 END
    ),
    CONSTRAINT audit_log_new_values_check CHECK (
        new_values IS NULL OR CASE WHEN json_valid(new_values) THEN json_type(new_values) = 'object' ELSE 0 END
    )
);

CREATE INDEX audit_log_actor_user_id_idx ON audit_log (actor_user_id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);

CREATE TRIGGER audit_log_no_update
    BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete
    BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
