-- Earlier password hashes, so a change cannot reuse a recent one.
CREATE TABLE password_history (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    hash       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, created_at);
