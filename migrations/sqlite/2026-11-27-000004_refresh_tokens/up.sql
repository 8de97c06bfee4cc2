-- Refresh-token grants (RFC 6749 §6, RFC 9700 §4.14.2): one row per grant (one consent, one
-- sign-in), the durable record of what its refresh tokens allow and whether it was revoked.
-- The rotating tokens themselves are hot state (see src/oauth/grants/refresh_token.rs).
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
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE INDEX refresh_families_user ON refresh_families (user_id);
