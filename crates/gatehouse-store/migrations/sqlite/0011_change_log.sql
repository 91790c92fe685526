-- What each committed version changed, as the list of changes the writer applied to its own snapshot, so
-- that other processes on the database apply the same list instead of loading everything again. One row per
-- version, written in the commit's transaction. Pruned by count and age: a reader that fell further behind
-- than the log reaches loads the whole state instead.
-- `at` is unix nanoseconds; `changes` is a JSON array (see the store's change_log module).
CREATE TABLE change_log (
    version BIGINT PRIMARY KEY NOT NULL,
    at      BIGINT NOT NULL,
    changes TEXT NOT NULL
);
