-- Client secrets: only a keyed SHA-256 (HMAC under a key derived from the KEK) is stored.
-- A rotation keeps the previous secret valid until its expires_at.
CREATE TABLE client_secrets (
    secret_id   TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);

CREATE INDEX client_secrets_client ON client_secrets (client_id);

-- Bumped in the same transaction as every change to clients or resource servers; nodes poll
-- it to drop their caches, so a change is in force everywhere within a second.
CREATE TABLE registry_versions (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

INSERT INTO registry_versions (name, version) VALUES ('registry', 0);
