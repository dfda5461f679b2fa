//! Portal sessions (the gateway's SSO session).
//!
//! A `SessionId` is 256 random bits; the browser holds it, the store holds
//! only its SHA-256 (`SessionHandle`), so a dump of Redis cannot be replayed
//! as cookies. The idle timeout is the key's TTL, refreshed on each use; the
//! absolute lifetime is checked against `created_at`.
//!
//! Redis holds one key per session and nothing else: the record is JSON
//! with one- and two-letter field names (the long names are still read), and
//! the per-account index ("log out everywhere", role rewrites, shared-login
//! checks) is a SQL table, `session_index`. A login writes the row before
//! the session, so every live session is indexed. A row outlives its
//! session: the refresh tokens a portal got under it may still be live (a
//! session idles out of Redis in 30 minutes, its tokens last 12 hours), and
//! "end every session" must revoke them. Rows go once past the retention
//! (`with_token_lifetime`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::crypto;
use crate::store::{self, keys, kv::Kv, sql::Sql};

/// The secret session identifier carried by the cookie. `Debug` redacts.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

impl SessionId {
    pub fn generate() -> Self {
        Self(crypto::random_token())
    }
    /// Accepts exactly the shape `generate` produces (43 base64url chars).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self(s.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn handle(&self) -> SessionHandle {
        SessionHandle(crypto::token_digest(&self.0))
    }
}

/// The stored, non-secret name of a session: SHA-256 of its id. Used as the
/// ID token's `sid` and as the key in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHandle(pub String);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    #[serde(rename = "a", alias = "account_id")]
    pub account_id: String,
    #[serde(rename = "u", alias = "username")]
    pub username: String,
    #[serde(rename = "e", alias = "email")]
    pub email: String,
    #[serde(rename = "t", alias = "account_type")]
    pub account_type: String,
    #[serde(rename = "o", alias = "org", default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(rename = "r", alias = "roles")]
    pub roles: Vec<String>,
    #[serde(rename = "m", alias = "amr")]
    pub amr: Vec<String>,
    /// The authenticator assurance level this session reached (1 or 2).
    #[serde(rename = "l", alias = "aal", default)]
    pub aal: u8,
    /// A second factor was proven (by the gateway, a remembered device, or
    /// a trusted IdP).
    #[serde(rename = "f", alias = "mfa", default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa: bool,
    /// Roles asserted by the upstream IdP for this login (not stored on the
    /// account: the IdP manages them).
    #[serde(
        rename = "ur",
        alias = "upstream_roles",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub upstream_roles: Vec<String>,
    /// Stored only when it is not the one `aal` implies (see `encode`).
    #[serde(rename = "c", alias = "acr", default, skip_serializing_if = "String::is_empty")]
    pub acr: String,
    /// Stored only when it differs from `created_at` (see `encode`).
    #[serde(rename = "at", alias = "auth_time", default, skip_serializing_if = "is_zero")]
    pub auth_time: i64,
    #[serde(rename = "ct", alias = "created_at")]
    pub created_at: i64,
    /// Roles limited to one TIN, as `role@tin`.
    #[serde(rename = "tr", alias = "tin_roles", default, skip_serializing_if = "Vec::is_empty")]
    pub tin_roles: Vec<String>,
    /// Where the login came from (shared-login detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A digest of the browser's user agent (which device), not the
    /// string itself: it is compared, never shown.
    #[serde(rename = "d", alias = "device", default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SessionStore {
    kv: Kv,
    sql: Sql,
    idle: Duration,
    absolute: Duration,
    /// How long an index row is kept after its session was created: the
    /// absolute lifetime plus that of the refresh tokens started under it.
    retention: Duration,
    clock: SharedClock,
}

/// The device digest stored in a session for a user agent.
pub fn device_of(user_agent: Option<&str>) -> Option<String> {
    user_agent.map(|ua| crypto::token_digest(ua)[..16].to_string())
}

/// The `acr` a session at assurance level `aal` carries.
pub fn acr_for(aal: u8) -> &'static str {
    if aal >= 2 {
        "urn:gatehouse:loa:2"
    } else {
        "urn:gatehouse:loa:1"
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The stored form leaves out what it can restore: an `acr` that `aal`
/// implies and an `auth_time` equal to `created_at` (the usual case: every
/// byte here is paid for by every live session).
fn encode(session: &Session) -> Result<String, store::Error> {
    let mut stored = session.clone();
    if stored.acr == acr_for(stored.aal) {
        stored.acr.clear();
    }
    if stored.auth_time == stored.created_at {
        stored.auth_time = 0;
    }
    serde_json::to_string(&stored).map_err(|e| store::Error::Corrupt(e.to_string()))
}

fn decode(json: &str) -> Result<Session, store::Error> {
    let mut s: Session = serde_json::from_str(json).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    if s.acr.is_empty() {
        s.acr = acr_for(s.aal).to_string();
    }
    if s.auth_time == 0 {
        s.auth_time = s.created_at;
    }
    Ok(s)
}

/// A stored session, or `None` (logged without its content) when the
/// record cannot be read.
fn readable(json: &str) -> Option<Session> {
    match decode(json) {
        Ok(s) => Some(s),
        Err(_) => {
            tracing::warn!(bytes = json.len(), "unreadable session record: treated as signed out");
            None
        }
    }
}

impl SessionStore {
    pub fn new(kv: Kv, sql: Sql, idle: Duration, absolute: Duration, clock: SharedClock) -> Self {
        Self {
            kv,
            sql,
            idle,
            absolute,
            retention: absolute,
            clock,
        }
    }

    /// Keeps index rows for `absolute` + `tokens` (how long the portal
    /// tokens started under a session can outlive it).
    pub fn with_token_lifetime(mut self, tokens: Duration) -> Self {
        self.retention = self.absolute + tokens;
        self
    }

    /// Rows created at or before this instant are past retention.
    fn stale_before(&self) -> i64 {
        self.clock.now() - self.retention.as_secs() as i64
    }

    fn expired(&self, session: &Session, now: i64) -> bool {
        now >= session.created_at + self.absolute.as_secs() as i64
    }

    /// Stores a new session under a fresh id (never a caller-chosen one: no
    /// fixation). The index row comes first: a session that exists is
    /// always indexed, while a row left by a failed write is harmless.
    pub async fn create(&self, session: &Session) -> Result<SessionId, store::Error> {
        let id = SessionId::generate();
        let handle = id.handle();
        let json = encode(session)?;
        self.sql
            .index_session(&handle.0, &session.account_id, self.clock.now(), self.stale_before())
            .await?;
        self.kv.set_ex(&keys::session(&handle.0), &json, self.idle).await?;
        Ok(id)
    }

    /// The live session for `id`, sliding its idle expiry: one round trip.
    /// A session past its absolute lifetime is deleted and reported absent
    /// (its index row stays, for the refresh tokens started under it).
    pub async fn get(&self, id: &SessionId) -> Result<Option<(SessionHandle, Session)>, store::Error> {
        let handle = id.handle();
        let Some(json) = self.kv.get_touch(&keys::session(&handle.0), self.idle).await? else {
            return Ok(None);
        };
        let Some(session) = readable(&json) else {
            // Written by a release that stored another shape (a rollback, a
            // mixed deploy): the user signs in again rather than every
            // check failing as if the store were down.
            self.delete(&handle).await?;
            return Ok(None);
        };
        if self.expired(&session, self.clock.now()) {
            self.delete(&handle).await?;
            return Ok(None);
        }
        Ok(Some((handle, session)))
    }

    /// Records a fresh authentication (re-authentication before sensitive
    /// changes) without changing the session id. The stored record is
    /// changed in place (`update`): a role change or an "end every session"
    /// landing meanwhile is kept, never written over.
    pub async fn reauthenticated(&self, handle: &SessionHandle, now: i64) -> Result<bool, store::Error> {
        self.update(handle, Some(self.idle), |s| s.auth_time = now).await
    }

    /// Applies `change` to the stored session with compare-and-set, a few
    /// times if another writer got in between. `false`: the session is gone
    /// (ended, expired), and nothing was written. `ttl`: a new idle expiry,
    /// or `None` to keep the remaining one.
    async fn update(
        &self,
        handle: &SessionHandle,
        ttl: Option<Duration>,
        change: impl Fn(&mut Session),
    ) -> Result<bool, store::Error> {
        let key = keys::session(&handle.0);
        for _ in 0..5 {
            let Some(json) = self.kv.get(&key).await? else {
                return Ok(false);
            };
            let Some(mut s) = readable(&json) else { return Ok(false) };
            change(&mut s);
            if self.kv.replace_if_unchanged(&key, &json, &encode(&s)?, ttl).await? {
                return Ok(true);
            }
        }
        Err(store::Error::Contended)
    }

    pub async fn get_by_handle(&self, handle: &SessionHandle) -> Result<Option<Session>, store::Error> {
        Ok(self
            .kv
            .get(&keys::session(&handle.0))
            .await?
            .and_then(|json| readable(&json)))
    }

    /// Ends one session. Its index row stays: "end every session" later
    /// still revokes whatever refresh tokens were started under it.
    pub async fn delete(&self, handle: &SessionHandle) -> Result<(), store::Error> {
        self.kv.del(&[keys::session(&handle.0)]).await
    }

    /// The handles indexed for an account: the SQL rows, plus members of
    /// the per-account set that earlier releases kept in Redis.
    async fn indexed(&self, account_id: &str) -> Result<Vec<String>, store::Error> {
        let mut handles = self.sql.indexed_sessions(account_id, self.stale_before()).await?;
        for h in self.kv.set_members(&keys::legacy_account_sessions(account_id)).await? {
            if !handles.contains(&h) {
                handles.push(h);
            }
        }
        Ok(handles)
    }

    /// Ends every session of an account. Returns how many were live, and
    /// every handle indexed (live, idled out or ended before) so the caller
    /// can revoke the refresh tokens started under each. The rows stay
    /// (retention ages them out): ending again reaches the same sessions,
    /// so a revocation that failed can be retried, and a login racing this
    /// keeps its row.
    pub async fn delete_all_for_account(&self, account_id: &str) -> Result<(usize, Vec<SessionHandle>), store::Error> {
        let handles = self.indexed(account_id).await?;
        let mut doomed: Vec<String> = handles.iter().map(|h| keys::session(h)).collect();
        let live = self.kv.del_counting(&doomed).await?;
        doomed.clear();
        doomed.push(keys::legacy_account_sessions(account_id));
        self.kv.del(&doomed).await?;
        Ok((live, handles.into_iter().map(SessionHandle).collect()))
    }

    /// The account's live sessions (in Redis, within the absolute
    /// lifetime). Reads only: rows of sessions that are gone stay indexed.
    pub async fn live_for_account(&self, account_id: &str) -> Result<Vec<(SessionHandle, Session)>, store::Error> {
        let now = self.clock.now();
        let handles = self.indexed(account_id).await?;
        let keys: Vec<String> = handles.iter().map(|h| keys::session(h)).collect();
        // One round trip however many rows the account has.
        let records = self.kv.get_many(&keys).await?;
        Ok(handles
            .into_iter()
            .zip(records)
            .filter_map(|(h, json)| {
                let s = readable(&json?)?;
                (!self.expired(&s, now)).then_some((SessionHandle(h), s))
            })
            .collect())
    }

    /// Rewrites the roles of every live session of an account (after a
    /// grant or revocation) to `roles` plus what the session's IdP asserted,
    /// keeping each session's remaining idle time. Each rewrite is a
    /// compare-and-set: a re-authentication racing it cannot put the old
    /// roles back.
    pub async fn set_roles(
        &self,
        account_id: &str,
        roles: &[String],
        tin_roles: &[String],
    ) -> Result<usize, store::Error> {
        let mut n = 0;
        let mut failed = None;
        for (handle, _) in self.live_for_account(account_id).await? {
            let changed = self
                .update(&handle, None, |s| {
                    let mut all: Vec<String> = roles.iter().chain(s.upstream_roles.iter()).cloned().collect();
                    all.sort();
                    all.dedup();
                    s.roles = all;
                    s.tin_roles = tin_roles.to_vec();
                })
                .await;
            match changed {
                Ok(changed) => n += usize::from(changed),
                // A session whose roles could not be rewritten is ended (the
                // safe way to fail: its holder signs in again and gets the
                // new roles); the others are still rewritten.
                Err(e) => {
                    let _ = self.delete(&handle).await;
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    pub async fn count_for_account(&self, account_id: &str) -> Result<usize, store::Error> {
        Ok(self.live_for_account(account_id).await?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Session {
        Session {
            account_id: "0190c5d2-8a4b-7c3e-9f10-2b3c4d5e6f70".into(),
            username: "dr.adams".into(),
            email: "dr.adams@northside.example".into(),
            account_type: "provider".into(),
            org: Some("northside-clinic".into()),
            roles: vec!["billing".into(), "clinician".into()],
            amr: vec!["pwd".into(), "otp".into()],
            aal: 2,
            mfa: true,
            upstream_roles: vec![],
            acr: "urn:gatehouse:loa:2".into(),
            auth_time: 1_764_000_000,
            created_at: 1_764_000_000,
            tin_roles: vec!["billing@12-3456789".into()],
            ip: Some("203.0.113.7".into()),
            device: device_of(Some("Mozilla/5.0")),
        }
    }

    #[test]
    fn the_stored_record_is_compact_and_round_trips() {
        let s = sample();
        let json = encode(&s).unwrap();
        assert!(!json.contains("account_id") && !json.contains("created_at"), "{json}");
        assert!(json.len() < 330, "{} bytes: {json}", json.len());
        assert_eq!(decode(&json).unwrap(), s);
        // Defaults are left out entirely.
        let mut bare = s.clone();
        (bare.mfa, bare.org, bare.tin_roles, bare.ip, bare.device) = (false, None, vec![], None, None);
        let json = encode(&bare).unwrap();
        assert!(!json.contains("\"f\"") && !json.contains("\"o\""), "{json}");
        // acr follows from aal and auth_time equals created_at: both left out.
        assert!(!json.contains("\"c\"") && !json.contains("\"at\""), "{json}");
        assert_eq!(decode(&json).unwrap(), bare);
        // Re-authenticated later, or an acr that aal does not imply: kept.
        let mut later = bare.clone();
        later.auth_time += 600;
        later.acr = "urn:example:custom".into();
        let json = encode(&later).unwrap();
        assert!(json.contains("\"at\"") && json.contains("urn:example:custom"), "{json}");
        assert_eq!(decode(&json).unwrap(), later);
    }

    #[test]
    fn sessions_written_with_the_long_field_names_are_still_read() {
        let s = sample();
        let old = serde_json::json!({
            "account_id": s.account_id, "username": s.username, "email": s.email,
            "account_type": s.account_type, "org": s.org, "roles": s.roles, "amr": s.amr,
            "aal": 2, "mfa": true, "acr": s.acr, "auth_time": s.auth_time,
            "created_at": s.created_at, "tin_roles": s.tin_roles, "ip": s.ip, "device": s.device,
        });
        assert_eq!(decode(&old.to_string()).unwrap(), s);
    }
}
