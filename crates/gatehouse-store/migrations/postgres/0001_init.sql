-- Times are unix nanoseconds, so they round-trip exactly and compare in SQL like the times they stand for.

CREATE TABLE roles (
    name         TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL,
    -- Permission ids, comma-separated: ids are the stable contract, bit positions are not.
    permissions  TEXT NOT NULL,
    builtin      TEXT NULL CHECK (builtin IN ('admin', 'member', 'team-manager'))
);

CREATE TABLE users (
    email         TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL REFERENCES roles (name),
    active        BOOLEAN NOT NULL,
    password_hash TEXT NULL
);
CREATE INDEX users_role ON users (role);

CREATE TABLE teams (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE team_members (
    team    TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    email   TEXT NOT NULL REFERENCES users (email) ON DELETE CASCADE,
    manager BOOLEAN NOT NULL,
    PRIMARY KEY (team, email)
);
-- Deleting a user cascades here; without an index that is a full scan per user.
CREATE INDEX team_members_email ON team_members (email);

CREATE TABLE virtual_accounts (
    name        TEXT PRIMARY KEY NOT NULL,
    owner_team  TEXT NOT NULL REFERENCES teams (name),
    description TEXT NOT NULL,
    expires_at  BIGINT NULL
);
CREATE INDEX virtual_accounts_owner_team ON virtual_accounts (owner_team);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('pat', 'virtual-account', 'session')),
    owner_user   TEXT NULL REFERENCES users (email) ON DELETE CASCADE,
    owner_va     TEXT NULL REFERENCES virtual_accounts (name) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    -- Revoked rows are kept for audit; they are never loaded.
    revoked_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    CHECK ((owner_user IS NULL) <> (owner_va IS NULL))
);
CREATE INDEX tokens_owner_user ON tokens (owner_user);
CREATE INDEX tokens_owner_va ON tokens (owner_va);

-- Subjects are not foreign keys: a subject may be a user, a team or a virtual account, and the operations
-- delete a subject's grants explicitly before the subject.
CREATE TABLE grants (
    resource_kind TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    subject       TEXT NOT NULL,
    role          TEXT NOT NULL,
    PRIMARY KEY (resource_kind, resource_name, subject)
);
CREATE INDEX grants_subject ON grants (subject);

-- One row; every commit bumps it, which is how other processes notice a change.
CREATE TABLE state (
    id      BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO state (id, version) VALUES (1, 0);
