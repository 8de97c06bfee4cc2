-- The embedded hot store's durable keyspaces (src/store/hot/keyspaces.rs): refresh tokens and
-- families, revoked access-token ids, sign-in counters and locks, browser sessions, redeemed
-- codes. The node keeps them in memory and writes each change through to this table, so a
-- restart finds them again (src/store/hot/journal.rs). Unused when Redis is the hot store
-- (PostgreSQL without Redis uses them as SQLite does).
CREATE TABLE hot_entries (
    key        TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    -- Unix time in milliseconds; a row past it is dead and swept.
    expires_at BIGINT NOT NULL
);

CREATE INDEX hot_entries_expires_at ON hot_entries (expires_at);

-- Keys a command (`idp users unlock`, `idp grants …`) changed, in order, so the running node
-- re-reads them from hot_entries (it polls `seq`); the node's own writes are not listed.
CREATE TABLE hot_changes (
    seq        BIGSERIAL PRIMARY KEY,
    key        TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE INDEX hot_changes_changed_at ON hot_changes (changed_at);
