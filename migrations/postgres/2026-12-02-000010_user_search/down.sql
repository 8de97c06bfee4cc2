DROP INDEX users_email_pattern;
DROP INDEX users_username_pattern;
