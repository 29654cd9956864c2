-- The signing keys of stored-key mode, and the version of the ring they form.
--
-- The same tables as the SQLite schema, with the same meaning. The store knows nothing of keys
-- or encryption: it keeps each key's private part as the bytes the caller wrapped it into (nonce
-- and AEAD ciphertext, under the key-encryption key named by `kek_id`, a fingerprint, never the
-- key), its public part as a JWK, and its times. Keys are changed only as a whole ring, under a
-- version check (`KeyStore::change_key_ring`).

-- Every stored key. `seq` is the order keys were added, the order `key_ring()` lists them in. An
-- identity hands numbers out in call order, not commit order, but every write of this table comes
-- after the same transaction bumped `key_ring`, whose row lock it holds to its commit: writers
-- take turns, so `seq` is also the order the changes committed in.
CREATE TABLE signing_keys (
    kid             TEXT   NOT NULL PRIMARY KEY,
    algorithm       TEXT   NOT NULL,
    wrapped_private BYTEA  NOT NULL,
    kek_id          TEXT   NOT NULL,
    public_jwk      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    activates_at    BIGINT NOT NULL,
    retired_at      BIGINT,
    seq             BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY
);

-- The ring's version: exactly one row, raised by one at every change. A change starts with
-- `UPDATE key_ring SET version = version + 1 WHERE version = <the version it read>`: of
-- concurrent changes from the same version, the first takes the row's lock; the others wait for
-- its commit, then find the version moved on, match no row, and apply nothing.
CREATE TABLE key_ring (
    singleton BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version   BIGINT  NOT NULL
);

INSERT INTO key_ring (version) VALUES (0);
