-- A GATEHOUSE_SECRET_KEY given as a passphrase is stretched with argon2id and this deployment's salt: made
-- at random by the first server to start with a passphrase, then shared by every process on this database.
-- At most one row. Not a secret (a salt only makes precomputed guesses useless), but never changed: a new
-- salt would derive another key, which could not open the credentials already stored.
CREATE TABLE key_derivation (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    salt TEXT NOT NULL
);
