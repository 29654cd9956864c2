-- A random id of this database, made once and shared by every process that uses it. It is the
-- default prefix of Tessera's Redis keys and channel, so that deployments sharing one Redis
-- never share keys, while all instances of one deployment do.
CREATE TABLE deployment (
    id TEXT NOT NULL
);
INSERT INTO deployment (id) VALUES (lower(hex(randomblob(16))));
