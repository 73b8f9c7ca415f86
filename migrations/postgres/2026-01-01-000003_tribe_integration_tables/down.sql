-- Reverts 2026-01-01-000003_tribe_integration_tables (tribe_rewards references
-- tribe_events, so it goes first).

DROP TABLE staking_records;
DROP TABLE tribe_rewards;
DROP TABLE tribe_events;

DROP TYPE staking_status;
DROP TYPE tribe_contribution_kind;
