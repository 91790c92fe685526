-- Identities: 128 random bits (32 lowercase hex digits) per user and virtual account, given at creation and
-- never again, so that a name deleted and taken again does not inherit its predecessor's records. The
-- server gives them (from its entropy source) when it creates a user or account; the triggers give one to a
-- row inserted without (an older binary, a hand edit), so no user or account is ever without one.
ALTER TABLE users ADD COLUMN identity_id TEXT NULL;
ALTER TABLE virtual_accounts ADD COLUMN identity_id TEXT NULL;
UPDATE users SET identity_id = lower(hex(randomblob(16))) WHERE identity_id IS NULL;
UPDATE virtual_accounts SET identity_id = lower(hex(randomblob(16))) WHERE identity_id IS NULL;
CREATE UNIQUE INDEX users_identity ON users (identity_id);
CREATE UNIQUE INDEX virtual_accounts_identity ON virtual_accounts (identity_id);
CREATE TRIGGER users_identity_given AFTER INSERT ON users WHEN NEW.identity_id IS NULL
BEGIN
    UPDATE users SET identity_id = lower(hex(randomblob(16))) WHERE email = NEW.email;
END;
CREATE TRIGGER virtual_accounts_identity_given AFTER INSERT ON virtual_accounts WHEN NEW.identity_id IS NULL
BEGIN
    UPDATE virtual_accounts SET identity_id = lower(hex(randomblob(16))) WHERE name = NEW.name;
END;

-- Each request log row records the identity of its caller; reads are limited by identity, not by name.
ALTER TABLE request_logs ADD COLUMN subject_id TEXT NULL;
CREATE INDEX request_logs_subject_id ON request_logs (subject_id, id);

-- Rows logged before identities existed go to the identity holding their subject's name now, unless that
-- holder was created after the row (an audit `*.create` event for the name later than the row): then the row
-- was a predecessor's, and keeps no identity, which leaves it to admins alone.
UPDATE request_logs
SET subject_id = (SELECT u.identity_id FROM users u WHERE u.email = substr(request_logs.subject, 6))
WHERE subject LIKE 'user:%'
  AND NOT EXISTS (
    SELECT 1 FROM audit_events a
    WHERE a.object_kind = 'user' AND a.object_name = substr(request_logs.subject, 6)
      AND a.action = 'user.create' AND a.at > request_logs.at
  );
UPDATE request_logs
SET subject_id = (SELECT v.identity_id FROM virtual_accounts v WHERE v.name = substr(request_logs.subject, 16))
WHERE subject LIKE 'virtualaccount:%'
  AND NOT EXISTS (
    SELECT 1 FROM audit_events a
    WHERE a.object_kind = 'virtual-account' AND a.object_name = substr(request_logs.subject, 16)
      AND a.action = 'virtual-account.create' AND a.at > request_logs.at
  );
