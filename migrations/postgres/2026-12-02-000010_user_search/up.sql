-- The admin API's `?q=` prefix search (`LIKE 'prefix%'`): a plain btree index cannot serve LIKE
-- under a non-C collation (bench/README.md measured a full scan: 173 searches/s at 100k users);
-- pattern-ops indexes can.
CREATE INDEX users_username_pattern ON users (username text_pattern_ops);
CREATE INDEX users_email_pattern ON users (email text_pattern_ops);
