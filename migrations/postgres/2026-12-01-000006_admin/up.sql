-- The admin API: who made a change (`cli`, `client:<id>`, `user:<id>`, `system`) and what it
-- changed, so the audit trail answers "who did this" without parsing `detail`.
ALTER TABLE audit_events ADD COLUMN actor TEXT;
ALTER TABLE audit_events ADD COLUMN target TEXT;
-- Newest-first keyset pagination of the audit trail, and its common filters.
CREATE INDEX audit_events_at_id ON audit_events (at, event_id);
CREATE INDEX audit_events_action_at ON audit_events (action, at);
-- User search by email prefix (username is unique, so already indexed).
CREATE INDEX users_email ON users (email);
-- Revoking every grant of a client.
CREATE INDEX refresh_families_client ON refresh_families (client_id);
