-- Accounts, memberships, login-failure counters and audit events.
-- Portable SQL: TEXT ids, INTEGER unix-second timestamps, no engine-specific
-- types, so the same file runs on SQLite and PostgreSQL.

CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    email               TEXT NOT NULL,
    phone               TEXT,
    account_type        TEXT NOT NULL,
    status              TEXT NOT NULL,
    password_hash       TEXT,
    password_changed_at INTEGER,
    created_at          INTEGER NOT NULL,
    last_login_at       INTEGER
);
CREATE INDEX accounts_email ON accounts (email);

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    org_id     TEXT NOT NULL,
    role       TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    granted_by TEXT NOT NULL,
    PRIMARY KEY (account_id, org_id, role)
);

-- Failure counters are kept per normalised username whether or not an
-- account exists, so an unknown name locks and answers like a real one.
CREATE TABLE login_failures (
    username     TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    reference  TEXT NOT NULL,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    code       TEXT,
    account_id TEXT,
    username   TEXT,
    client_id  TEXT,
    org_id     TEXT,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_reference ON audit_events (reference);
CREATE INDEX audit_events_at ON audit_events (at);
