-- Durable entities of the provider. Times are Unix seconds (BIGINT) so one diesel code path
-- serves PostgreSQL and SQLite; lists are JSON text.

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    alg                TEXT NOT NULL,
    generation         BIGINT NOT NULL,
    public_jwk         TEXT NOT NULL,
    -- AES-256-GCM under the key-encryption key: nonce || ciphertext || tag, with the kid as AAD.
    sealed_private_key BYTEA NOT NULL,
    -- Which key-encryption key sealed it, so a wrong or missing KEK is named, not guessed.
    kek_id             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    signs_from         BIGINT NOT NULL,
    UNIQUE (alg, generation)
);

CREATE TABLE resource_servers (
    identifier            TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    access_token_lifetime BIGINT,
    require_dpop          BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    client_type                TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    resources                  TEXT NOT NULL,
    default_resource           TEXT,
    redirect_uris              TEXT NOT NULL,
    web_origins                TEXT NOT NULL,
    dpop_bound_access_tokens   BOOLEAN NOT NULL,
    access_token_lifetime      BIGINT,
    jwks                       TEXT,
    jwks_uri                   TEXT,
    enabled                    BOOLEAN NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    email_verified BOOLEAN NOT NULL,
    name           TEXT,
    given_name     TEXT,
    family_name    TEXT,
    password_hash  TEXT,
    enabled        BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE audit_events (
    event_id   TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    request_id TEXT,
    origin     TEXT,
    ip         TEXT,
    client_id  TEXT,
    user_id    TEXT,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT
);

CREATE INDEX audit_events_at ON audit_events (at);
