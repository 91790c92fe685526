-- MCP sessions of the gateway, shared by every replica behind one database: a session opened on one is
-- used on another. The session id is a secret: only its SHA-256 (hex) is stored.
CREATE TABLE mcp_sessions (
    id_hash        TEXT PRIMARY KEY,
    -- The server the session is with, as the client named it.
    server         TEXT NOT NULL,
    -- Who opened it: the subject and, when it has one, its identity (a user deleted and created again under
    -- the same name is someone else).
    owner_subject  TEXT NOT NULL,
    owner_identity TEXT NULL,
    -- The protocol version agreed at initialize.
    protocol       TEXT NULL,
    -- A JSON object: upstream server name to the session id it gave (null when it keeps none).
    upstreams      TEXT NOT NULL,
    -- Unix nanoseconds, as every time in this schema.
    created_at     INTEGER NOT NULL,
    last_used      INTEGER NOT NULL
);
-- Expiry deletes the sessions unused since a time.
CREATE INDEX mcp_sessions_last_used ON mcp_sessions (last_used);
