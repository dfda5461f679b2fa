-- Second factors: enrolled methods (TOTP seeds encrypted at rest), single-use
-- backup codes (stored hashed), and a per-account version that changes
-- whenever methods change (it invalidates "remember this device").
CREATE TABLE mfa_methods (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL,
    label        TEXT NOT NULL,
    secret       TEXT,
    confirmed    INTEGER NOT NULL,
    preferred    INTEGER NOT NULL,
    last_step    INTEGER,
    failures     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX mfa_methods_account ON mfa_methods (account_id);

CREATE TABLE backup_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (account_id, code_hash)
);

ALTER TABLE accounts ADD COLUMN mfa_version INTEGER NOT NULL DEFAULT 0;
