-- Which sessions an account has, for "end every session", role rewrites and
-- shared-login checks. Redis holds the sessions themselves (with their idle
-- expiry), and this index costs Redis nothing. A row whose session has expired
-- is dropped when the account's sessions are next listed, and every row
-- past the absolute lifetime at the next login.
CREATE TABLE session_index (
    handle     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX session_index_account ON session_index (account_id);
CREATE INDEX session_index_expiry ON session_index (expires_at);
