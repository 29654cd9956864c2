-- Tessera PostgreSQL schema, version 1.
--
-- Applied by `PostgresStore::connect` inside one transaction that holds an advisory lock and then
-- records version 1 in `tessera_schema_version`. Never edit this file once released: add
-- `0002_*.sql` instead.
--
-- The same tables as the SQLite schema, with the same meaning. Conventions: times are BIGINT
-- seconds since the Unix epoch; digests of secrets (refresh tokens, client secrets) are 32-byte
-- SHA-256 BYTEA; flags are BOOLEAN. `insertion_order` stands in for SQLite's `rowid`: the tie-break
-- when two rows have the same `created_at`.

-- User accounts. Usernames are unique without regard to ASCII case, and only ASCII case: `lower()`
-- would also fold non-ASCII letters (so `É` and `é` would clash, unlike SQLite's NOCASE), so the
-- index folds A-Z alone. Lookups compare this same expression with a parameter folded the same way,
-- so they use this index.
CREATE TABLE users (
    id              TEXT    NOT NULL PRIMARY KEY,
    username        TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    insertion_order BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY
);

CREATE UNIQUE INDEX users_username_ascii_folded
    ON users (translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));

-- Login sessions: one family of refresh tokens each, named by the `sid` claim.
CREATE TABLE sessions (
    id              TEXT   NOT NULL PRIMARY KEY,
    user_id         TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    user_agent      TEXT,
    ip              TEXT,
    revoked_at      BIGINT,
    insertion_order BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Refresh tokens, by digest. A used token stays (with `used_at` set) until its session is purged,
-- so that presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    hash       BYTEA  NOT NULL PRIMARY KEY,
    session_id TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- The durable deny-list. Readers poll `seq > last_seen` to learn of changes, so `seq` must be
-- handed out in commit order and never twice: it comes from `revocation_counter`, not from a
-- SEQUENCE (a sequence hands numbers out in call order, and a transaction holding a smaller number
-- can commit after a reader has already seen a larger one).
CREATE TABLE revocations (
    seq        BIGINT NOT NULL PRIMARY KEY,
    kind       TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    not_before BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (kind, subject)
);

CREATE INDEX revocations_by_expiry ON revocations (expires_at);

-- The last revocation sequence number handed out: exactly one row. Every revocation write first
-- increments it, which holds the row's lock until that transaction ends, so revocation writers
-- take turns and numbers are handed out in commit order. It only ever grows (purging revocations
-- leaves it alone), so a number is never reused.
CREATE TABLE revocation_counter (
    singleton BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    value     BIGINT  NOT NULL
);

INSERT INTO revocation_counter (value) VALUES (0);

-- OAuth clients allowed to introspect tokens.
CREATE TABLE clients (
    client_id   TEXT   NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    secret_hash BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL
);
