//! The per-account index of portal sessions, in SQL. The sessions live in
//! the ephemeral store; a row here only names one (by its handle) so an
//! account's sessions can be found without a Redis structure per account.

use sqlx::Row;

use super::Error;
use super::sql::{Sql, db};

impl Sql {
    /// Indexes a new session, and drops every row past its absolute
    /// lifetime (the session behind it is gone whatever Redis says).
    pub async fn index_session(&self, handle: &str, account_id: &str, at: i64, expires_at: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM session_index WHERE expires_at <= $1")
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO session_index (handle, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(handle)
            .bind(account_id)
            .bind(at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// The handles of an account's sessions that are within their absolute
    /// lifetime at `now`, oldest first.
    pub async fn indexed_sessions(&self, account_id: &str, now: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT handle FROM session_index WHERE account_id = $1 AND expires_at > $2 ORDER BY created_at, handle",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| r.try_get("handle").map_err(db)).collect()
    }

    pub async fn unindex_sessions(&self, handles: &[String]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for h in handles {
            sqlx::query("DELETE FROM session_index WHERE handle = $1")
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub async fn unindex_account_sessions(&self, account_id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("DELETE FROM session_index WHERE account_id = $1 RETURNING handle")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(|r| r.try_get("handle").map_err(db)).collect()
    }
}
