-- Links between an upstream identity (organization + issuer + subject) and
-- a local account.
CREATE TABLE federated_identities (
    org_id        TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER,
    PRIMARY KEY (org_id, issuer, subject)
);
CREATE INDEX federated_identities_account ON federated_identities (account_id);
