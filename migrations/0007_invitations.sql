-- Invitations by email: the link carries a random token, only its digest is
-- kept. An invitation makes one account, once, before it expires.
CREATE TABLE invitations (
    digest       TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    account_type TEXT NOT NULL,
    org_id       TEXT,
    roles        TEXT NOT NULL,           -- JSON array
    invited_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    account_id   TEXT REFERENCES accounts (id)
);
