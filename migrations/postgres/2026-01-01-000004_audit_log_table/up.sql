-- Audit trail for compliance and security: who did what, to which entity, when and from
-- where. Append-only: the database itself refuses UPDATE, DELETE and TRUNCATE.
--
-- actor_user_id has deliberately no foreign key. The trail must outlive the rows it
-- talks about (entity_id has none either), and ON DELETE SET NULL would be an UPDATE
-- the append-only trigger refuses, so a FK could only ever mean RESTRICT: no user with
-- a history could be erased.

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_user_id BIGINT,
    -- Who acted, as text: 'user:42', 'admin:alice', 'system:payout-worker'.
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    old_values JSONB,
    new_values JSONB,
    ip_address TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_actor_check CHECK (actor <> ''),
    CONSTRAINT audit_log_action_check CHECK (action <> ''),
    CONSTRAINT audit_log_entity_type_check CHECK (entity_type <> ''),
    CONSTRAINT audit_log_old_values_check CHECK (old_values IS NULL OR jsonb_typeof(old_values) = 'object'),
    CONSTRAINT audit_log_new_values_check CHECK (new_values IS NULL OR jsonb_typeof(new_values) = 'object')
);

CREATE INDEX audit_log_actor_user_id_idx ON audit_log (actor_user_id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new audit_log row.';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

COMMENT ON TABLE audit_log IS 'Append-only audit trail: the database refuses UPDATE, DELETE and TRUNCATE.';
COMMENT ON COLUMN audit_log.actor_user_id IS 'The acting user, if a user acted (deliberately not a foreign key).';
COMMENT ON COLUMN audit_log.actor IS 'Who acted, as text: `user:42`, `admin:alice`, `system:payout-worker`.';
COMMENT ON COLUMN audit_log.action IS 'What was done, such as `redemption.approve`.';
COMMENT ON COLUMN audit_log.entity_type IS 'The kind of entity acted on, such as `redemption_request`.';
COMMENT ON COLUMN audit_log.entity_id IS 'The identifier of the entity acted on, as text.';
COMMENT ON COLUMN audit_log.old_values IS 'The changed fields before the action, as a JSON object.';
COMMENT ON COLUMN audit_log.new_values IS 'The changed fields after the action, as a JSON object.';
COMMENT ON COLUMN audit_log.ip_address IS 'The client address the action came from, if any.';
