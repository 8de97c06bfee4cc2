ALTER TABLE groups DROP COLUMN external_id;
DROP INDEX users_email_lower;
DROP INDEX users_external_id;
ALTER TABLE users DROP COLUMN display_name;
ALTER TABLE users DROP COLUMN external_id;
