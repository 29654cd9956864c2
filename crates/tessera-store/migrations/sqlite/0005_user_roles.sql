-- Users' roles (carried in access tokens as `roles`, and mapped to OAuth scopes).
--
-- One row per role a user has; a user's roles go with the user (ON DELETE CASCADE). Taking a role
-- away records a user revocation in the same transaction (`RoleStore::remove_user_role`), so no
-- access token issued before still carries it. The primary key both keeps a role from being given
-- twice and serves the lookup of one user's roles, in order.
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
) STRICT;
