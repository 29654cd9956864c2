-- The signing keys of stored-key mode, and the version of the ring they form.
--
-- The store knows nothing of keys or encryption: it keeps each key's private part as the bytes
-- the caller wrapped it into (nonce and AEAD ciphertext, under the key-encryption key named by
-- `kek_id`, a fingerprint, never the key), its public part as a JWK, and its times. Keys are
-- changed only as a whole ring, under a version check (`KeyStore::change_key_ring`).

-- Every stored key. `seq` is the order keys were added, the order `key_ring()` lists them in:
-- AUTOINCREMENT, so it is never handed out twice and, unlike a plain `rowid`, never renumbered
-- (by VACUUM, say). Keys are only ever written under the write lock, after bumping the ring's
-- version, so `seq` is also the order the changes committed in. `kid` is the key's identity.
CREATE TABLE signing_keys (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kid             TEXT    NOT NULL UNIQUE,
    algorithm       TEXT    NOT NULL,
    wrapped_private BLOB    NOT NULL,
    kek_id          TEXT    NOT NULL,
    public_jwk      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    activates_at    INTEGER NOT NULL,
    retired_at      INTEGER
) STRICT;

-- The ring's version: exactly one row, raised by one at every change. A change starts with
-- `UPDATE key_ring SET version = version + 1 WHERE version = <the version it read>` and applies
-- nothing if that matched no row (another writer changed the ring first).
CREATE TABLE key_ring (
    singleton INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    version   INTEGER NOT NULL
) STRICT;

INSERT INTO key_ring (version) VALUES (0);
