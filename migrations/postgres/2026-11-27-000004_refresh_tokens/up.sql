-- Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2): a family is one grant (one consent, one
-- sign-in); each rotation adds a token to it. Only a SHA-256 of each token is stored. A
-- token presented after it was rotated revokes the family.
CREATE TABLE refresh_families (
    family_id    TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    scopes       TEXT NOT NULL,
    resources    TEXT NOT NULL,
    -- The thumbprint of the DPoP key a public client's tokens are bound to.
    jkt          TEXT,
    auth_time    BIGINT NOT NULL,
    sid          TEXT NOT NULL,
    generation   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE INDEX refresh_families_user ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,
    generation   BIGINT NOT NULL,
    issued_at    BIGINT NOT NULL,
    rotated_at   BIGINT,
    -- The access token issued with this refresh token, revoked with the family.
    access_jti   TEXT NOT NULL,
    access_exp   BIGINT NOT NULL
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
