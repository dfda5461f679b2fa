-- Diagnostics: organization-wide incidents, certificate notices already
-- given, and operator settings (the maintenance notice).

CREATE INDEX audit_events_org ON audit_events (org_id, at);

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    code            TEXT NOT NULL,
    status          TEXT NOT NULL,
    users           INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    first_at        INTEGER NOT NULL,
    latest_at       INTEGER NOT NULL,
    opened_at       INTEGER NOT NULL,
    closed_at       INTEGER,
    successes_since INTEGER NOT NULL
);
-- At most one open incident per organization and code: raising is atomic.
CREATE UNIQUE INDEX incidents_open ON incidents (org_id, code) WHERE status = 'open';
CREATE INDEX incidents_org ON incidents (org_id, opened_at);

CREATE TABLE certificate_notices (
    org_id     TEXT NOT NULL,
    cert_use   TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    level      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (org_id, cert_use, sha256)
);

CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
