//! Organization administration in SQL: role grants (scoped to a TIN),
//! their last use, pending invitations, and the delegation history — which
//! has an insert and reads, and nothing that updates or deletes it.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::Error;
use super::sql::{Sql, db};

/// A role held in an organization, as the admin pages list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Grant {
    pub account_id: String,
    pub org_id: String,
    pub role: String,
    /// Empty: the whole organization.
    pub tin: String,
    pub granted_at: i64,
    pub granted_by: String,
    pub last_used_at: Option<i64>,
}

fn grant_from_row(r: &SqliteRow) -> Result<Grant, sqlx::Error> {
    Ok(Grant {
        account_id: r.try_get("account_id")?,
        org_id: r.try_get("org_id")?,
        role: r.try_get("role")?,
        tin: r.try_get("tin")?,
        granted_at: r.try_get("granted_at")?,
        granted_by: r.try_get("granted_by")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

/// One line of the delegation history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DelegationRow {
    pub id: String,
    pub at: i64,
    pub org_id: String,
    /// grant, revoke, invite, invite_resent, invite_revoked, invitation_accepted,
    /// unlock, disable, enable, mfa_reset
    pub action: String,
    pub actor: String,
    pub subject: String,
    pub subject_id: Option<String>,
    pub role: Option<String>,
    pub tin: Option<String>,
    pub reason: String,
}

/// What the history report is filtered on.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Matches the actor or the subject (username or email), exactly.
    pub person: Option<String>,
}

/// A pending invitation, as the admin pages list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingInvitation {
    pub digest: String,
    pub email: String,
    pub roles: Vec<String>,
    pub tin: Option<String>,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Sql {
    /// Every role held in `org_id`.
    pub async fn org_grants(&self, org_id: &str) -> Result<Vec<Grant>, Error> {
        let rows = sqlx::query("SELECT * FROM memberships WHERE org_id = $1 ORDER BY account_id, role, tin")
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(grant_from_row).collect::<Result<_, _>>().map_err(db)
    }

    /// Grants a role; `false` when the account already holds it there.
    pub async fn grant_role(&self, g: &Grant) -> Result<bool, Error> {
        let r = sqlx::query(
            "INSERT INTO memberships (account_id, org_id, role, tin, granted_at, granted_by, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT (account_id, org_id, role, tin) DO NOTHING",
        )
        .bind(&g.account_id)
        .bind(&g.org_id)
        .bind(&g.role)
        .bind(&g.tin)
        .bind(g.granted_at)
        .bind(&g.granted_by)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        self.changed(&g.account_id);
        Ok(r.rows_affected() == 1)
    }

    /// Revokes a role; `false` when the account did not hold it.
    pub async fn revoke_role(&self, account_id: &str, org_id: &str, role: &str, tin: &str) -> Result<bool, Error> {
        let r = sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND org_id = $2 AND role = $3 AND tin = $4")
            .bind(account_id)
            .bind(org_id)
            .bind(role)
            .bind(tin)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        self.changed(account_id);
        Ok(r.rows_affected() == 1)
    }

    /// Records that `roles` of an account were needed (a portal requiring
    /// one of them let the account in).
    pub async fn roles_used(&self, account_id: &str, roles: &[String], at: i64) -> Result<(), Error> {
        for role in roles {
            sqlx::query("UPDATE memberships SET last_used_at = $1 WHERE account_id = $2 AND role = $3")
                .bind(at)
                .bind(account_id)
                .bind(role)
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// Removes every second factor, backup code and remembered device of an
    /// account (the next login enrolls again).
    pub async fn reset_mfa(&self, account_id: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for statement in [
            "DELETE FROM mfa_methods WHERE account_id = $1",
            "DELETE FROM backup_codes WHERE account_id = $1",
            "UPDATE accounts SET mfa_version = mfa_version + 1 WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(account_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub async fn record_delegation(&self, d: &DelegationRow) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO delegation_history (id, at, org_id, action, actor, subject, subject_id, role, tin, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&d.id)
        .bind(d.at)
        .bind(&d.org_id)
        .bind(&d.action)
        .bind(&d.actor)
        .bind(&d.subject)
        .bind(&d.subject_id)
        .bind(&d.role)
        .bind(&d.tin)
        .bind(&d.reason)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The history of `org_id`, filtered: the newest `limit` entries,
    /// oldest first.
    pub async fn delegation_history(
        &self,
        org_id: &str,
        f: &HistoryFilter,
        limit: i64,
    ) -> Result<Vec<DelegationRow>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM delegation_history WHERE org_id = $1 AND at >= $2 AND at <= $3 \
             AND ($4 = '' OR actor = $4 OR subject = $4) ORDER BY at DESC, id DESC LIMIT $5",
        )
        .bind(org_id)
        .bind(f.from.unwrap_or(i64::MIN))
        .bind(f.to.unwrap_or(i64::MAX))
        .bind(f.person.as_deref().unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut out: Vec<DelegationRow> = rows
            .iter()
            .map(|r| {
                Ok(DelegationRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    org_id: r.try_get("org_id")?,
                    action: r.try_get("action")?,
                    actor: r.try_get("actor")?,
                    subject: r.try_get("subject")?,
                    subject_id: r.try_get("subject_id")?,
                    role: r.try_get("role")?,
                    tin: r.try_get("tin")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db)?;
        // The newest `limit`, shown oldest first.
        out.reverse();
        Ok(out)
    }

    /// Invitations of an org not used, revoked or expired at `now`.
    pub async fn pending_invitations(&self, org_id: &str, now: i64) -> Result<Vec<PendingInvitation>, Error> {
        let rows = sqlx::query(
            "SELECT digest, email, roles, tin, invited_by, created_at, expires_at FROM invitations \
             WHERE org_id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at",
        )
        .bind(org_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let roles: String = r.try_get("roles").map_err(db)?;
                Ok(PendingInvitation {
                    digest: r.try_get("digest").map_err(db)?,
                    email: r.try_get("email").map_err(db)?,
                    roles: serde_json::from_str(&roles).map_err(|e| Error::Corrupt(e.to_string()))?,
                    tin: r.try_get("tin").map_err(db)?,
                    invited_by: r.try_get("invited_by").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                    expires_at: r.try_get("expires_at").map_err(db)?,
                })
            })
            .collect()
    }

    /// Revokes a pending invitation of `org_id`; `false` if there was none.
    pub async fn revoke_invitation(&self, digest: &str, org_id: &str, at: i64) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE invitations SET revoked_at = $1 WHERE digest = $2 AND org_id = $3 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(digest)
        .bind(org_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }
}
