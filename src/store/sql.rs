//! The durable store: SQLite through sqlx with runtime queries (no compile-
//! time macros, no database needed to build). SQL stays portable: `$n`
//! placeholders, TEXT ids, INTEGER unix seconds.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, sqlite::SqliteRow};

use super::Error;
use super::account_cache::AccountCache;

/// Migrations, embedded so the binary carries its own schema.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (2, "federation", include_str!("../../migrations/0002_federation.sql")),
    (3, "mfa", include_str!("../../migrations/0003_mfa.sql")),
    (4, "mfa-targets", include_str!("../../migrations/0004_mfa_targets.sql")),
    (
        5,
        "password-history",
        include_str!("../../migrations/0005_password_history.sql"),
    ),
    (
        6,
        "identity-records",
        include_str!("../../migrations/0006_identity_records.sql"),
    ),
    (7, "invitations", include_str!("../../migrations/0007_invitations.sql")),
    (8, "diagnostics", include_str!("../../migrations/0008_diagnostics.sql")),
    (9, "delegation", include_str!("../../migrations/0009_delegation.sql")),
    (
        10,
        "session-index",
        include_str!("../../migrations/0010_session_index.sql"),
    ),
];

#[derive(Clone, Debug)]
pub struct Sql {
    pub(super) pool: SqlitePool,
    /// Off unless `with_account_cache` is called; read only by
    /// `account_for_tokens`.
    pub(super) accounts: Arc<AccountCache>,
}

pub(super) fn db(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::Conflict(d.message().to_string()),
        _ => Error::SqlUnavailable(Box::new(e)),
    }
}

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: String,
    pub username: String,
    pub email: String,
    pub phone: Option<String>,
    pub account_type: String,
    pub status: String,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<i64>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub org_id: String,
    pub role: String,
    /// The TIN the role is limited to; empty for the whole organization.
    pub tin: String,
}

#[derive(Debug, Clone)]
pub struct MfaMethodRecord {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub label: String,
    pub secret: Option<String>,
    pub target: Option<String>,
    pub confirmed: bool,
    pub preferred: bool,
    pub last_step: Option<i64>,
    pub failures: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct FailureRecord {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: String,
    pub reference: String,
    pub at: i64,
    pub kind: String,
    pub code: Option<String>,
    pub account_id: Option<String>,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub org_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
}

fn account_from_row(r: &SqliteRow) -> Result<AccountRecord, sqlx::Error> {
    Ok(AccountRecord {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        account_type: r.try_get("account_type")?,
        status: r.try_get("status")?,
        password_hash: r.try_get("password_hash")?,
        password_changed_at: r.try_get("password_changed_at")?,
        created_at: r.try_get("created_at")?,
        last_login_at: r.try_get("last_login_at")?,
    })
}

fn audit_from_row(r: &SqliteRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        reference: r.try_get("reference")?,
        at: r.try_get("at")?,
        kind: r.try_get("kind")?,
        code: r.try_get("code")?,
        account_id: r.try_get("account_id")?,
        username: r.try_get("username")?,
        client_id: r.try_get("client_id")?,
        org_id: r.try_get("org_id")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        request_id: r.try_get("request_id")?,
        detail: r.try_get("detail")?,
    })
}

/// `SELECT <account columns> FROM accounts <tail>` as a static string.
macro_rules! select_accounts {
    ($tail:literal) => {
        concat!(
            "SELECT id, username, email, phone, account_type, status, password_hash, ",
            "password_changed_at, created_at, last_login_at FROM accounts ",
            $tail
        )
    };
}

impl Sql {
    /// Opens (creating the file and its folder when missing) and migrates.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        if path != ":memory:"
            && let Some(parent) = Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| Error::SqlUnavailable(Box::new(e)))?;
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(db)?;
        let sql = Self {
            pool,
            accounts: Arc::new(AccountCache::new(Duration::ZERO)),
        };
        sql.migrate().await?;
        Ok(sql)
    }

    /// Keeps accounts read by `account_for_tokens` for `ttl` (see
    /// `account_cache`).
    pub fn with_account_cache(mut self, ttl: Duration) -> Self {
        self.accounts = Arc::new(AccountCache::new(ttl));
        self
    }

    /// Forgets a cached account after a write to it or its memberships.
    pub(super) fn changed(&self, account_id: &str) {
        self.accounts.forget(Some(account_id));
    }

    async fn migrate(&self) -> Result<(), Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(db)?;
        for (version, name, sql) in MIGRATIONS {
            let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
            if applied.is_some() {
                continue;
            }
            let mut tx = self.pool.begin().await.map_err(db)?;
            for statement in sql
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !is_comment_only(s))
            {
                sqlx::query(statement).execute(&mut *tx).await.map_err(db)?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(version)
                .bind(name)
                .bind(crate::clock::Clock::now(&crate::clock::SystemClock))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    // -- accounts ---------------------------------------------------------

    pub async fn insert_account(
        &self,
        a: &AccountRecord,
        memberships: &[MembershipRecord],
        granted_by: &str,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO accounts (id, username, email, phone, account_type, status, password_hash, password_changed_at, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&a.id)
        .bind(&a.username)
        .bind(&a.email)
        .bind(&a.phone)
        .bind(&a.account_type)
        .bind(&a.status)
        .bind(&a.password_hash)
        .bind(a.password_changed_at)
        .bind(a.created_at)
        .bind(a.last_login_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for m in memberships {
            sqlx::query(
                "INSERT INTO memberships (account_id, org_id, role, tin, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5, $6)",
            )
                .bind(&a.id)
                .bind(&m.org_id)
                .bind(&m.role)
                .bind(&m.tin)
                .bind(a.created_at)
                .bind(granted_by)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        self.changed(&a.id);
        Ok(())
    }

    pub async fn account_by_username(&self, username: &str) -> Result<Option<AccountRecord>, Error> {
        let row = sqlx::query(select_accounts!("WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| account_from_row(&r)).transpose().map_err(db)
    }

    /// Accounts whose email matches, ignoring case.
    pub async fn accounts_by_email(&self, email: &str) -> Result<Vec<AccountRecord>, Error> {
        let rows = sqlx::query(select_accounts!("WHERE lower(email) = lower($1) ORDER BY username"))
            .bind(email)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(account_from_row).collect::<Result<_, _>>().map_err(db)
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<AccountRecord>, Error> {
        let row = sqlx::query(select_accounts!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| account_from_row(&r)).transpose().map_err(db)
    }

    /// An account and its memberships in one query: the token endpoints
    /// read this on every request, and each query to SQLite is a hand-off
    /// to its worker thread (the profile of userinfo showed those waits
    /// dominating).
    ///
    /// What the token endpoints (refresh, userinfo) read, through the
    /// account cache. Logins and administration read `account_with_memberships`
    /// instead: a login must not go ahead on a copy up to a TTL old (a
    /// session it created would outlive a disable made elsewhere).
    pub async fn account_for_tokens(&self, id: &str) -> Result<Option<(AccountRecord, Vec<MembershipRecord>)>, Error> {
        if let Some(hit) = self.accounts.get(id) {
            return Ok(Some(hit));
        }
        let generation = self.accounts.generation();
        let found = self.account_with_memberships(id).await?;
        if let Some(entry) = &found {
            self.accounts.put(id, entry, generation);
        }
        Ok(found)
    }

    /// An account and its memberships, read from the database.
    pub async fn account_with_memberships(
        &self,
        id: &str,
    ) -> Result<Option<(AccountRecord, Vec<MembershipRecord>)>, Error> {
        let rows = sqlx::query(
            "SELECT a.id, a.username, a.email, a.phone, a.account_type, a.status, a.password_hash, \
             a.password_changed_at, a.created_at, a.last_login_at, m.org_id, m.role, m.tin \
             FROM accounts a LEFT JOIN memberships m ON m.account_id = a.id WHERE a.id = $1 \
             ORDER BY m.org_id, m.role, m.tin",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let Some(first) = rows.first() else { return Ok(None) };
        let account = account_from_row(first).map_err(db)?;
        let mut memberships = Vec::new();
        for r in &rows {
            let org_id: Option<String> = r.try_get("org_id").map_err(db)?;
            if let Some(org_id) = org_id {
                memberships.push(MembershipRecord {
                    org_id,
                    role: r.try_get("role").map_err(db)?,
                    tin: r.try_get("tin").map_err(db)?,
                });
            }
        }
        Ok(Some((account, memberships)))
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>, Error> {
        let rows = sqlx::query(select_accounts!("ORDER BY username"))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(account_from_row).collect::<Result<_, _>>().map_err(db)
    }

    /// The account's current hash and up to `n` earlier ones, newest first.
    pub async fn recent_password_hashes(&self, account_id: &str, n: i64) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT hash FROM password_history WHERE account_id = $1 ORDER BY created_at DESC LIMIT $2")
            .bind(account_id)
            .bind(n)
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    /// Replaces the password: new hash, change time, the old hash into the
    /// history, failure counter cleared.
    pub async fn set_password(&self, account_id: &str, username: &str, hash: &str, at: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let old: Option<Option<String>> = sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(Some(old)) = old {
            sqlx::query("INSERT INTO password_history (account_id, hash, created_at) VALUES ($1, $2, $3)")
                .bind(account_id)
                .bind(old)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(at)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM login_failures WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed(account_id);
        Ok(())
    }

    pub async fn set_account_status(&self, id: &str, status: &str) -> Result<bool, Error> {
        let r = sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        self.changed(id);
        Ok(r.rows_affected() == 1)
    }

    pub async fn record_login(&self, id: &str, at: i64) -> Result<(), Error> {
        sqlx::query("UPDATE accounts SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        self.changed(id);
        Ok(())
    }

    pub async fn memberships(&self, account_id: &str) -> Result<Vec<MembershipRecord>, Error> {
        let rows =
            sqlx::query("SELECT org_id, role, tin FROM memberships WHERE account_id = $1 ORDER BY org_id, role, tin")
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(MembershipRecord {
                    org_id: r.try_get("org_id")?,
                    role: r.try_get("role")?,
                    tin: r.try_get("tin")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db)
    }

    // -- federated identities ----------------------------------------------

    pub async fn linked_account(&self, org_id: &str, issuer: &str, subject: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar(
            "SELECT account_id FROM federated_identities WHERE org_id = $1 AND issuer = $2 AND subject = $3",
        )
        .bind(org_id)
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)
    }

    pub async fn link_identity(
        &self,
        org_id: &str,
        issuer: &str,
        subject: &str,
        account_id: &str,
        at: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO federated_identities (org_id, issuer, subject, account_id, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(org_id)
        .bind(issuer)
        .bind(subject)
        .bind(account_id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub async fn touch_identity(&self, org_id: &str, issuer: &str, subject: &str, at: i64) -> Result<(), Error> {
        sqlx::query(
            "UPDATE federated_identities SET last_login_at = $1 WHERE org_id = $2 AND issuer = $3 AND subject = $4",
        )
        .bind(at)
        .bind(org_id)
        .bind(issuer)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    // -- second factors ---------------------------------------------------

    pub async fn mfa_methods(&self, account_id: &str) -> Result<Vec<MfaMethodRecord>, Error> {
        let rows = sqlx::query(
            "SELECT id, account_id, kind, label, secret, target, confirmed, preferred, last_step, failures, created_at, last_used_at \
             FROM mfa_methods WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(MfaMethodRecord {
                    id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                    kind: r.try_get("kind")?,
                    label: r.try_get("label")?,
                    secret: r.try_get("secret")?,
                    target: r.try_get("target")?,
                    confirmed: r.try_get::<i64, _>("confirmed")? != 0,
                    preferred: r.try_get::<i64, _>("preferred")? != 0,
                    last_step: r.try_get("last_step")?,
                    failures: r.try_get("failures")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db)
    }

    pub async fn insert_mfa_method(&self, m: &MfaMethodRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO mfa_methods (id, account_id, kind, label, secret, confirmed, preferred, last_step, failures, created_at, last_used_at, target) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&m.id)
        .bind(&m.account_id)
        .bind(&m.kind)
        .bind(&m.label)
        .bind(&m.secret)
        .bind(m.confirmed as i64)
        .bind(m.preferred as i64)
        .bind(m.last_step)
        .bind(m.failures)
        .bind(m.created_at)
        .bind(m.last_used_at)
        .bind(&m.target)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Confirms an enrolled method and bumps the account's MFA version.
    pub async fn confirm_mfa_method(&self, id: &str, account_id: &str, step: i64, at: i64) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let has_preferred: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mfa_methods WHERE account_id = $1 AND confirmed = 1 AND preferred = 1",
        )
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let r = sqlx::query(
            "UPDATE mfa_methods SET confirmed = 1, preferred = $1, last_step = $2, last_used_at = $3 \
             WHERE id = $4 AND account_id = $5 AND confirmed = 0",
        )
        .bind((has_preferred == 0) as i64)
        .bind(step)
        .bind(at)
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE accounts SET mfa_version = mfa_version + 1 WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    /// Records a used TOTP step, only if it is newer than the last one: two
    /// concurrent uses of one code cannot both succeed.
    pub async fn use_totp_step(&self, id: &str, step: i64, at: i64) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE mfa_methods SET last_step = $1, last_used_at = $2, failures = 0 \
             WHERE id = $3 AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes a method; bumps the account's MFA version (remembered devices
    /// end).
    pub async fn delete_mfa_method(&self, id: &str, account_id: &str) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let r = sqlx::query("DELETE FROM mfa_methods WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE accounts SET mfa_version = mfa_version + 1 WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn set_preferred_mfa(&self, id: &str, account_id: &str) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("UPDATE mfa_methods SET preferred = 0 WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let r = sqlx::query("UPDATE mfa_methods SET preferred = 1 WHERE id = $1 AND account_id = $2 AND confirmed = 1")
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn update_mfa_secret(&self, id: &str, secret: &str) -> Result<(), Error> {
        sqlx::query("UPDATE mfa_methods SET secret = $1 WHERE id = $2")
            .bind(secret)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Records a successful use of a method and clears its failure count.
    pub async fn mfa_used(&self, id: &str, at: i64) -> Result<(), Error> {
        sqlx::query("UPDATE mfa_methods SET last_used_at = $1, failures = 0 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Counts a failed attempt against a method; returns the new count.
    pub async fn mfa_failure(&self, id: &str) -> Result<i64, Error> {
        sqlx::query_scalar("UPDATE mfa_methods SET failures = failures + 1 WHERE id = $1 RETURNING failures")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    pub async fn mfa_version(&self, account_id: &str) -> Result<i64, Error> {
        sqlx::query_scalar("SELECT mfa_version FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
            .map(|v| v.unwrap_or(0))
    }

    /// Replaces the account's backup codes.
    pub async fn replace_backup_codes(&self, account_id: &str, hashes: &[String], at: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM backup_codes WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for h in hashes {
            sqlx::query(
                "INSERT INTO backup_codes (account_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)",
            )
            .bind(account_id)
            .bind(h)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        sqlx::query("UPDATE accounts SET mfa_version = mfa_version + 1 WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Marks a backup code used; `false` when it is unknown or already used
    /// (one atomic statement, so a code cannot be spent twice).
    pub async fn spend_backup_code(&self, account_id: &str, hash: &str, at: i64) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE backup_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(at)
        .bind(account_id)
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn backup_codes_left(&self, account_id: &str) -> Result<i64, Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM backup_codes WHERE account_id = $1 AND used_at IS NULL")
            .bind(account_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    // -- login failure counters --------------------------------------------

    pub async fn failures(&self, username: &str) -> Result<FailureRecord, Error> {
        let row = sqlx::query("SELECT failures, window_start, locked_until FROM login_failures WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            None => Ok(FailureRecord::default()),
            Some(r) => Ok(FailureRecord {
                failures: r.try_get("failures").map_err(db)?,
                window_start: r.try_get("window_start").map_err(db)?,
                locked_until: r.try_get("locked_until").map_err(db)?,
            }),
        }
    }

    pub async fn put_failures(&self, username: &str, f: &FailureRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO login_failures (username, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until",
        )
        .bind(username)
        .bind(f.failures)
        .bind(f.window_start)
        .bind(f.locked_until)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub async fn clear_failures(&self, username: &str) -> Result<bool, Error> {
        let r = sqlx::query("DELETE FROM login_failures WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    // -- audit ---------------------------------------------------------------

    pub async fn insert_audit(&self, e: &AuditRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO audit_events (id, reference, at, kind, code, account_id, username, client_id, org_id, ip, user_agent, request_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&e.id)
        .bind(&e.reference)
        .bind(e.at)
        .bind(&e.kind)
        .bind(&e.code)
        .bind(&e.account_id)
        .bind(&e.username)
        .bind(&e.client_id)
        .bind(&e.org_id)
        .bind(&e.ip)
        .bind(&e.user_agent)
        .bind(&e.request_id)
        .bind(&e.detail)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub async fn audit_by_reference(&self, reference: &str) -> Result<Vec<AuditRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE reference = $1 ORDER BY at")
            .bind(reference)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(audit_from_row).collect::<Result<_, _>>().map_err(db)
    }

    /// Login outcomes (`login_failure`, `login_success`) of one
    /// organization since `since`, oldest first, at most `limit`.
    pub async fn org_outcomes(&self, org_id: &str, since: i64, limit: i64) -> Result<Vec<AuditRecord>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM audit_events WHERE org_id = $1 AND at >= $2 \
             AND kind IN ('login_failure', 'login_success') ORDER BY at DESC, id LIMIT $3",
        )
        .bind(org_id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut v = rows
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        v.reverse();
        Ok(v)
    }

    pub async fn last_success(&self, org_id: &str) -> Result<Option<i64>, Error> {
        sqlx::query_scalar("SELECT MAX(at) FROM audit_events WHERE org_id = $1 AND kind = 'login_success'")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    /// The accounts of an organization with an event of `kind` after `since`.
    pub async fn accounts_with_event(&self, org_id: &str, kind: &str, since: i64) -> Result<Vec<String>, Error> {
        sqlx::query_scalar(
            "SELECT DISTINCT account_id FROM audit_events \
             WHERE org_id = $1 AND kind = $2 AND at > $3 AND account_id IS NOT NULL",
        )
        .bind(org_id)
        .bind(kind)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    /// Recent events, optionally of one organization, newest first.
    pub async fn recent_audit_for(&self, org_id: Option<&str>, limit: i64) -> Result<Vec<AuditRecord>, Error> {
        let rows = match org_id {
            Some(o) => {
                sqlx::query("SELECT * FROM audit_events WHERE org_id = $1 ORDER BY at DESC, id LIMIT $2")
                    .bind(o)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM audit_events ORDER BY at DESC, id LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db)?;
        rows.iter().map(audit_from_row).collect::<Result<_, _>>().map_err(db)
    }

    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRecord>, Error> {
        self.recent_audit_for(None, limit).await
    }
}

/// An organization-wide incident, open or closed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IncidentRow {
    pub id: String,
    pub org_id: String,
    pub code: String,
    pub status: String,
    pub users: i64,
    pub failures: i64,
    pub first_at: i64,
    pub latest_at: i64,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub successes_since: i64,
}

fn incident_from_row(r: &SqliteRow) -> Result<IncidentRow, sqlx::Error> {
    Ok(IncidentRow {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        code: r.try_get("code")?,
        status: r.try_get("status")?,
        users: r.try_get("users")?,
        failures: r.try_get("failures")?,
        first_at: r.try_get("first_at")?,
        latest_at: r.try_get("latest_at")?,
        opened_at: r.try_get("opened_at")?,
        closed_at: r.try_get("closed_at")?,
        successes_since: r.try_get("successes_since")?,
    })
}

impl Sql {
    // -- diagnostics ---------------------------------------------------------

    /// Opens an incident; `Conflict` when one is already open for the org
    /// and code (the unique index decides, so two instances cannot both
    /// raise it).
    pub async fn open_incident(&self, i: &IncidentRow) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO incidents (id, org_id, code, status, users, failures, first_at, latest_at, opened_at, closed_at, successes_since) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, NULL, 0)",
        )
        .bind(&i.id)
        .bind(&i.org_id)
        .bind(&i.code)
        .bind(i.users)
        .bind(i.failures)
        .bind(i.first_at)
        .bind(i.latest_at)
        .bind(i.opened_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Brings an open incident up to date with the latest failure.
    pub async fn update_incident(&self, id: &str, users: i64, failures: i64, latest_at: i64) -> Result<(), Error> {
        sqlx::query(
            "UPDATE incidents SET users = CASE WHEN users > $2 THEN users ELSE $2 END, failures = failures + $3, \
             latest_at = CASE WHEN latest_at > $4 THEN latest_at ELSE $4 END, \
             successes_since = 0 WHERE id = $1 AND status = 'open'",
        )
        .bind(id)
        .bind(users)
        .bind(failures)
        .bind(latest_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Counts a success against every open incident of the org; returns
    /// the ones that reached `close_after` and were closed by this call.
    pub async fn incident_success(&self, org_id: &str, close_after: i64, at: i64) -> Result<Vec<IncidentRow>, Error> {
        sqlx::query("UPDATE incidents SET successes_since = successes_since + 1 WHERE org_id = $1 AND status = 'open'")
            .bind(org_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        let due =
            sqlx::query("SELECT * FROM incidents WHERE org_id = $1 AND status = 'open' AND successes_since >= $2")
                .bind(org_id)
                .bind(close_after)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        let mut closed = Vec::new();
        for row in &due {
            let mut i = incident_from_row(row).map_err(db)?;
            let r =
                sqlx::query("UPDATE incidents SET status = 'closed', closed_at = $2 WHERE id = $1 AND status = 'open'")
                    .bind(&i.id)
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
            if r.rows_affected() == 1 {
                i.status = "closed".into();
                i.closed_at = Some(at);
                closed.push(i);
            }
        }
        Ok(closed)
    }

    /// When the last incident of this org and code was closed.
    pub async fn last_closed_incident(&self, org_id: &str, code: &str) -> Result<Option<i64>, Error> {
        sqlx::query_scalar("SELECT MAX(closed_at) FROM incidents WHERE org_id = $1 AND code = $2 AND status = 'closed'")
            .bind(org_id)
            .bind(code)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    pub async fn open_incident_for(&self, org_id: &str, code: &str) -> Result<Option<IncidentRow>, Error> {
        let row = sqlx::query("SELECT * FROM incidents WHERE org_id = $1 AND code = $2 AND status = 'open'")
            .bind(org_id)
            .bind(code)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(incident_from_row).transpose().map_err(db)
    }

    /// Incidents, newest first, optionally of one org.
    pub async fn incidents(&self, org_id: Option<&str>, limit: i64) -> Result<Vec<IncidentRow>, Error> {
        let rows = match org_id {
            Some(o) => {
                sqlx::query("SELECT * FROM incidents WHERE org_id = $1 ORDER BY opened_at DESC, id LIMIT $2")
                    .bind(o)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM incidents ORDER BY opened_at DESC, id LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db)?;
        rows.iter().map(incident_from_row).collect::<Result<_, _>>().map_err(db)
    }

    /// The level last notified for a certificate, if any.
    pub async fn certificate_notice(&self, org_id: &str, usage: &str, sha256: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT level FROM certificate_notices WHERE org_id = $1 AND cert_use = $2 AND sha256 = $3")
            .bind(org_id)
            .bind(usage)
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    pub async fn put_certificate_notice(
        &self,
        org_id: &str,
        usage: &str,
        sha256: &str,
        level: &str,
        at: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO certificate_notices (org_id, cert_use, sha256, level, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, cert_use, sha256) DO UPDATE SET level = excluded.level, at = excluded.at",
        )
        .bind(org_id)
        .bind(usage)
        .bind(sha256)
        .bind(level)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Every certificate fingerprint ever noticed for an org and use.
    pub async fn certificate_fingerprints(&self, org_id: &str, usage: &str) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT sha256 FROM certificate_notices WHERE org_id = $1 AND cert_use = $2")
            .bind(org_id)
            .bind(usage)
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>, Error> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    pub async fn put_setting(&self, name: &str, value: Option<&str>, at: i64, by: &str) -> Result<(), Error> {
        match value {
            Some(v) => sqlx::query(
                "INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(name)
            .bind(v)
            .bind(at)
            .bind(by)
            .execute(&self.pool)
            .await
            .map_err(db)?,
            None => sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(db)?,
        };
        Ok(())
    }
}

fn is_comment_only(statement: &str) -> bool {
    statement
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
}

/// An imported identity record (see `accounts::records`).
#[derive(Debug, Clone)]
pub struct IdentityRecordRow {
    pub id: String,
    pub kind: String,
    pub key: String,
    pub proof: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub account_id: Option<String>,
}

impl Sql {
    /// Adds or updates (by member id / NPI) a record not yet activated.
    /// Returns false when the record exists and is already activated.
    pub async fn upsert_identity_record(&self, r: &IdentityRecordRow, at: i64) -> Result<bool, Error> {
        let (find, update, insert) = if r.kind == "member" {
            (
                "SELECT id, account_id FROM identity_records WHERE kind = $1 AND member_id = $2",
                "UPDATE identity_records SET date_of_birth = $1, name = $2, email = $3, phone = $4, imported_at = $5 WHERE id = $6",
                "INSERT INTO identity_records (id, kind, member_id, date_of_birth, name, email, phone, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
        } else {
            (
                "SELECT id, account_id FROM identity_records WHERE kind = $1 AND npi = $2",
                "UPDATE identity_records SET tin = $1, name = $2, email = $3, phone = $4, imported_at = $5 WHERE id = $6",
                "INSERT INTO identity_records (id, kind, npi, tin, name, email, phone, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
        };
        let existing: Option<(String, Option<String>)> = sqlx::query_as(find)
            .bind(&r.kind)
            .bind(&r.key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match existing {
            Some((_, Some(_))) => Ok(false),
            Some((id, None)) => {
                sqlx::query(update)
                    .bind(&r.proof)
                    .bind(&r.name)
                    .bind(&r.email)
                    .bind(&r.phone)
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(true)
            }
            None => {
                sqlx::query(insert)
                    .bind(&r.id)
                    .bind(&r.kind)
                    .bind(&r.key)
                    .bind(&r.proof)
                    .bind(&r.name)
                    .bind(&r.email)
                    .bind(&r.phone)
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(true)
            }
        }
    }

    /// The record of this kind whose member id / NPI is `key`.
    pub async fn identity_record(&self, kind: &str, key: &str) -> Result<Option<IdentityRecordRow>, Error> {
        let sql = if kind == "member" {
            "SELECT id, kind, member_id AS k, date_of_birth AS p, name, email, phone, account_id FROM identity_records WHERE kind = 'member' AND member_id = $1"
        } else {
            "SELECT id, kind, npi AS k, tin AS p, name, email, phone, account_id FROM identity_records WHERE kind = 'provider' AND npi = $1"
        };
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(IdentityRecordRow {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                key: r.try_get("k")?,
                proof: r.try_get("p")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                phone: r.try_get("phone")?,
                account_id: r.try_get("account_id")?,
            })
        })
        .transpose()
        .map_err(db)
    }

    /// Links a record to its new account, once: false if already linked.
    pub async fn activate_identity_record(&self, id: &str, account_id: &str, at: i64) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE identity_records SET account_id = $1, activated_at = $2 WHERE id = $3 AND account_id IS NULL",
        )
        .bind(account_id)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}

/// An invitation to create an account (see `flow::activation`).
#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub digest: String,
    pub email: String,
    pub account_type: String,
    pub org_id: Option<String>,
    pub roles: Vec<String>,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The TIN the invited roles are limited to.
    pub tin: Option<String>,
    pub revoked_at: Option<i64>,
}

impl Sql {
    pub async fn insert_invitation(&self, i: &InvitationRow) -> Result<(), Error> {
        let roles = serde_json::to_string(&i.roles).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO invitations (digest, email, account_type, org_id, roles, invited_by, created_at, expires_at, tin) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&i.digest)
        .bind(&i.email)
        .bind(&i.account_type)
        .bind(&i.org_id)
        .bind(roles)
        .bind(&i.invited_by)
        .bind(i.created_at)
        .bind(i.expires_at)
        .bind(&i.tin)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub async fn invitation(&self, digest: &str) -> Result<Option<InvitationRow>, Error> {
        let row = sqlx::query(
            "SELECT digest, email, account_type, org_id, roles, invited_by, created_at, expires_at, used_at, tin, revoked_at \
             FROM invitations WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let roles: String = r.try_get("roles").map_err(db)?;
        Ok(Some(InvitationRow {
            digest: r.try_get("digest").map_err(db)?,
            email: r.try_get("email").map_err(db)?,
            account_type: r.try_get("account_type").map_err(db)?,
            org_id: r.try_get("org_id").map_err(db)?,
            roles: serde_json::from_str(&roles).map_err(|e| Error::Corrupt(e.to_string()))?,
            invited_by: r.try_get("invited_by").map_err(db)?,
            created_at: r.try_get("created_at").map_err(db)?,
            expires_at: r.try_get("expires_at").map_err(db)?,
            used_at: r.try_get("used_at").map_err(db)?,
            tin: r.try_get("tin").map_err(db)?,
            revoked_at: r.try_get("revoked_at").map_err(db)?,
        }))
    }

    /// Marks an invitation used by `account_id`, once: false if it was already.
    pub async fn use_invitation(&self, digest: &str, account_id: &str, at: i64) -> Result<bool, Error> {
        let done =
            sqlx::query("UPDATE invitations SET used_at = $1, account_id = $2 WHERE digest = $3 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(at)
                .bind(account_id)
                .bind(digest)
                .execute(&self.pool)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
