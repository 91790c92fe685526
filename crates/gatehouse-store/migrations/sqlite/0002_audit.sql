-- The audit log: one row per action, written in the same transaction as the changes it describes, so an
-- event exists if and only if its change was committed. Rows are only ever inserted.
-- AUTOINCREMENT (not just the rowid): ids are never reused, even after the newest row is deleted, so an id
-- stays a stable position for paging. Writers are serialised (BEGIN IMMEDIATE), so ids follow commit order.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- Unix nanoseconds, as every time in this schema.
    at          INTEGER NOT NULL,
    -- A subject string (`user:alice@example.com`) or `system`.
    actor       TEXT NOT NULL,
    -- `user.create`, `role.update`, `token.issue`, ...
    action      TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_name TEXT NOT NULL,
    -- A JSON document the caller has already redacted; the store does not parse it.
    changes     TEXT NOT NULL,
    request_id  TEXT NULL
);
-- The id last in each index: a filtered page in id order is then read straight from the index.
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_object ON audit_events (object_kind, object_name, id);
CREATE INDEX audit_events_at ON audit_events (at);
