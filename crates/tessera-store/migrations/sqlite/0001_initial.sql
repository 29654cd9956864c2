-- Tessera SQLite schema, version 1.
--
-- Applied by `SqliteStore::open` inside one `BEGIN IMMEDIATE` transaction, which then sets
-- `PRAGMA user_version = 1`. Never edit this file once released: add `0002_*.sql` instead.
--
-- Conventions: times are INTEGER seconds since the Unix epoch; digests of secrets (refresh tokens,
-- client secrets) are 32-byte SHA-256 BLOBs; tables are STRICT so a value of the wrong type is
-- refused on write instead of surfacing later as a decoding error.

-- User accounts. Usernames are unique without regard to ASCII case (NOCASE folds ASCII only,
-- which is exactly the contract of `AccountStore`).
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

-- Login sessions: one family of refresh tokens each, named by the `sid` claim.
CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Refresh tokens, by digest. A used token stays (with `used_at` set) until its session is purged,
-- so that presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- The durable deny-list. `seq` is AUTOINCREMENT so that a number is never handed out twice, even
-- after the newest row is deleted or replaced: readers poll `seq > last_seen` to learn of changes.
CREATE TABLE revocations (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    not_before INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (kind, subject)
) STRICT;

CREATE INDEX revocations_by_expiry ON revocations (expires_at);

-- OAuth clients allowed to introspect tokens.
CREATE TABLE clients (
    client_id   TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
