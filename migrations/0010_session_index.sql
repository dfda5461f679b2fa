-- Which sessions an account has, for "end every session" (and the refresh
-- tokens started under each), role rewrites and shared-login checks. Redis
-- holds the sessions themselves (with their idle expiry), and this index
-- costs Redis nothing. A row stays until its session is ended or is past
-- the absolute lifetime in force: a session that idled out of Redis still
-- has refresh tokens to revoke.
CREATE TABLE session_index (
    handle     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX session_index_account ON session_index (account_id);
CREATE INDEX session_index_created ON session_index (created_at);
