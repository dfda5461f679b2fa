//! Storage: the only module that imports `redis` and `sqlx`.
//!
//! * `sql` — the durable store (accounts, memberships, failure counters,
//!   audit events) on SQLite through sqlx, with portable SQL.
//! * `kv` — the ephemeral store with native expiry (sessions, login
//!   transactions, codes, token families): Redis, or process memory for the
//!   single-node quick start.
//! * `keys` — every ephemeral key name, in one place.
//! * `session_index` — which sessions each account has (SQL, so the index
//!   costs Redis nothing).
//!
//! Domain modules receive typed records from here; they never see a
//! `redis::Value` or a `sqlx::Row`.

pub mod account_cache;
pub mod keys;
pub mod kv;
pub mod org;
pub mod session_index;
pub mod sql;

/// A storage failure. The domains only need to know whether to call the
/// service unavailable; the cause is kept for the logs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the session store (Redis) is unavailable")]
    KvUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the database is unavailable")]
    SqlUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("the record kept changing while it was being updated")]
    Contended,
}
