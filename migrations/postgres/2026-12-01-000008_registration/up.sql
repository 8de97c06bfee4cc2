-- Dynamic client registration (RFC 7591, RFC 7592).
-- Initial access tokens: minted through the admin API, kept only as keyed hashes.
CREATE TABLE initial_access_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    uses_left  BIGINT NOT NULL
);
-- The registration access token of a dynamically registered client (RFC 7592 §1), hashed.
CREATE TABLE client_registrations (
    client_id  TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
