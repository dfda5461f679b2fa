//! The per-account index of portal sessions, in SQL. The sessions live in
//! the ephemeral store; a row here only names one (by its handle) so an
//! account's sessions can be found without a Redis structure per account.
//! Rows are judged by `created_at` against the absolute lifetime in force
//! when they are read, so a longer lifetime set later still finds them.

use sqlx::Row;

use super::Error;
use super::sql::{Sql, db};

impl Sql {
    /// Indexes a new session, and drops every row created at or before
    /// `stale_before` (past the absolute lifetime: the session is gone).
    pub async fn index_session(
        &self,
        handle: &str,
        account_id: &str,
        created_at: i64,
        stale_before: i64,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM session_index WHERE created_at <= $1")
            .bind(stale_before)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO session_index (handle, account_id, created_at) VALUES ($1, $2, $3)")
            .bind(handle)
            .bind(account_id)
            .bind(created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// The handles of an account's sessions created after `stale_before`,
    /// oldest first, whether or not they are still in the ephemeral store.
    pub async fn indexed_sessions(&self, account_id: &str, stale_before: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT handle FROM session_index WHERE account_id = $1 AND created_at > $2 ORDER BY created_at, handle",
        )
        .bind(account_id)
        .bind(stale_before)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| r.try_get("handle").map_err(db)).collect()
    }
}
