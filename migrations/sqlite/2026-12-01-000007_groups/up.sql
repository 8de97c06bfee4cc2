-- Groups of users, managed by operators (admin API, SCIM, CLI) and released to apps as the
-- `groups` claim.
CREATE TABLE groups (
    group_id   TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);
-- A resource server that authorizes by group opts in to the claim in its access tokens.
ALTER TABLE resource_servers ADD COLUMN include_groups BOOLEAN NOT NULL DEFAULT 0;
