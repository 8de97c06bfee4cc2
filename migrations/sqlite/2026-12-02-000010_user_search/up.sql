-- PostgreSQL gains pattern-ops indexes for the users prefix search here; SQLite's LIKE is
-- case-insensitive and cannot use an index for it either way, and the embedded store is small.
SELECT 1;
