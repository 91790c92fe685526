-- The model gateway's request log: one row per gateway request, written in batches off the hot path by the
-- server's background writer. It is not part of the access graph: inserting rows bumps no version.
-- AUTOINCREMENT (not just the rowid): ids are never reused, so an id stays a stable position for paging.
CREATE TABLE request_logs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- Unix nanoseconds, as every time in this schema.
    at                  INTEGER NOT NULL,
    -- The caller: `user:alice@example.com` or `virtualaccount:checkout`.
    subject             TEXT NOT NULL,
    token_id            TEXT NOT NULL,
    virtual_account     TEXT NULL,
    -- `<provider account>/<model>`.
    model               TEXT NOT NULL,
    -- `chat`, `completions`, `embeddings`, `messages`.
    route               TEXT NOT NULL,
    -- The HTTP status the caller got.
    status              INTEGER NOT NULL,
    latency_us          INTEGER NOT NULL,
    upstream_latency_us INTEGER NULL,
    input_tokens        INTEGER NULL,
    output_tokens       INTEGER NULL,
    request_id          TEXT NULL,
    -- Only when the operator turned body logging on; NULL otherwise.
    prompt              TEXT NULL,
    completion          TEXT NULL
);
-- The id last in each index: a filtered page in id order is then read straight from the index.
CREATE INDEX request_logs_subject ON request_logs (subject, id);
CREATE INDEX request_logs_model ON request_logs (model, id);
CREATE INDEX request_logs_virtual_account ON request_logs (virtual_account, id);
CREATE INDEX request_logs_at ON request_logs (at);
