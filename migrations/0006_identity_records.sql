-- Identity records the operator imports: a person activates an account by
-- proving they are one of them. `account_id` is set once, on activation.
CREATE TABLE identity_records (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,          -- member | provider
    member_id     TEXT,
    date_of_birth TEXT,                   -- YYYY-MM-DD
    npi           TEXT,
    tin           TEXT,
    name          TEXT NOT NULL,
    email         TEXT,
    phone         TEXT,
    account_id    TEXT REFERENCES accounts (id),
    imported_at   INTEGER NOT NULL,
    activated_at  INTEGER
);
CREATE UNIQUE INDEX identity_records_member ON identity_records (member_id) WHERE kind = 'member';
CREATE UNIQUE INDEX identity_records_provider ON identity_records (npi) WHERE kind = 'provider';
