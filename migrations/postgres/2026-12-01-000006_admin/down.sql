DROP INDEX refresh_families_client;
DROP INDEX users_email;
DROP INDEX audit_events_action_at;
DROP INDEX audit_events_at_id;
ALTER TABLE audit_events DROP COLUMN target;
ALTER TABLE audit_events DROP COLUMN actor;
