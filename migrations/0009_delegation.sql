-- Delegated organization administration: roles scoped to a TIN, when a
-- role was last used, revocable invitations, and the delegation history
-- (append-only: the code has no statement that updates or deletes it).

CREATE TABLE memberships_v2 (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    org_id       TEXT NOT NULL,
    role         TEXT NOT NULL,
    tin          TEXT NOT NULL,
    granted_at   INTEGER NOT NULL,
    granted_by   TEXT NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (account_id, org_id, role, tin)
);
INSERT INTO memberships_v2 (account_id, org_id, role, tin, granted_at, granted_by, last_used_at)
    SELECT account_id, org_id, role, '', granted_at, granted_by, NULL FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_v2 RENAME TO memberships;
CREATE INDEX memberships_org ON memberships (org_id);

ALTER TABLE invitations ADD COLUMN tin TEXT;
ALTER TABLE invitations ADD COLUMN revoked_at INTEGER;
CREATE INDEX invitations_org ON invitations (org_id);

CREATE TABLE delegation_history (
    id         TEXT PRIMARY KEY,
    at         INTEGER NOT NULL,
    org_id     TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    subject_id TEXT,
    role       TEXT,
    tin        TEXT,
    reason     TEXT NOT NULL
);
CREATE INDEX delegation_history_org ON delegation_history (org_id, at);
