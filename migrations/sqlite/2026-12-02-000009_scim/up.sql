-- SCIM provisioning (RFC 7643 §3.1, §4.1.1): the provisioning system's own id of a user
-- (caseExact, not unique), and the name shown for them beside the full name in `name`.
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT;
-- SCIM filters: `externalId eq`, and `emails.value` compared without case (RFC 7643 §4.1.2).
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_email_lower ON users (lower(email));
-- A SCIM Group's `externalId`.
ALTER TABLE groups ADD COLUMN external_id TEXT;
