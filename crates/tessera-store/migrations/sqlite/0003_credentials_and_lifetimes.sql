-- Credential epochs, the longest access-token lifetime, and the deployment secret.
--
-- `credential_epoch` is bumped by a password change or a disable; a session records the epoch of
-- the credentials it was made from, and is created (and rotated) only while that epoch is
-- current, so no login racing a password change or a disable keeps a session.
ALTER TABLE users ADD COLUMN credential_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN credential_epoch INTEGER NOT NULL DEFAULT 0;

-- The longest access-token lifetime any server of this deployment has issued with (raised at
-- each start, never lowered): revocations are kept at least that long, whatever the process
-- that records them is configured with.
ALTER TABLE deployment ADD COLUMN longest_access_ttl INTEGER NOT NULL DEFAULT 0;

-- A random secret shared by every instance (the CSRF token key), set by the first to need it.
ALTER TABLE deployment ADD COLUMN secret BLOB;
