//! Portal sessions (the gateway's SSO session).
//!
//! A `SessionId` is 256 random bits; the browser holds it, the store holds
//! only its SHA-256 (`SessionHandle`), so a dump of Redis cannot be replayed
//! as cookies. The idle timeout is the key's TTL, refreshed on each use; the
//! absolute lifetime is checked against `created_at`. A per-account index
//! makes "log out everywhere" one call.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::crypto;
use crate::store::{self, keys, kv::Kv};

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
    pub account_id: String,
    pub username: String,
    pub email: String,
    pub account_type: String,
    pub org: Option<String>,
    pub roles: Vec<String>,
    pub amr: Vec<String>,
    /// The authenticator assurance level this session reached (1 or 2).
    #[serde(default)]
    pub aal: u8,
    /// A second factor was proven (by the gateway, a remembered device, or
    /// a trusted IdP).
    #[serde(default)]
    pub mfa: bool,
    /// Roles asserted by the upstream IdP for this login (not stored on the
    /// account: the IdP manages them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_roles: Vec<String>,
    pub acr: String,
    pub auth_time: i64,
    pub created_at: i64,
    /// Roles limited to one TIN, as `role@tin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tin_roles: Vec<String>,
    /// Where the login came from (shared-login detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A digest of the browser's user agent (which device), not the
    /// string itself: it is compared, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SessionStore {
    kv: Kv,
    idle: Duration,
    absolute: Duration,
    clock: SharedClock,
}

/// The device digest stored in a session for a user agent.
pub fn device_of(user_agent: Option<&str>) -> Option<String> {
    user_agent.map(|ua| crypto::token_digest(ua)[..16].to_string())
}

impl SessionStore {
    pub fn new(kv: Kv, idle: Duration, absolute: Duration, clock: SharedClock) -> Self {
        Self {
            kv,
            idle,
            absolute,
            clock,
        }
    }

    /// Stores a new session under a fresh id (never a caller-chosen one: no
    /// fixation) and indexes it under the account.
    pub async fn create(&self, session: &Session) -> Result<SessionId, store::Error> {
        let id = SessionId::generate();
        let handle = id.handle();
        let json = serde_json::to_string(session).map_err(|e| store::Error::Corrupt(e.to_string()))?;
        self.kv.set_ex(&keys::session(&handle.0), &json, self.idle).await?;
        self.kv
            .set_add(&keys::account_sessions(&session.account_id), &handle.0, self.absolute)
            .await?;
        Ok(id)
    }

    /// The live session for `id`, sliding its idle expiry. A session past its
    /// absolute lifetime is deleted and reported absent.
    pub async fn get(&self, id: &SessionId) -> Result<Option<(SessionHandle, Session)>, store::Error> {
        let handle = id.handle();
        let Some(json) = self.kv.get_touch(&keys::session(&handle.0), self.idle).await? else {
            return Ok(None);
        };
        let session: Session = serde_json::from_str(&json).map_err(|e| store::Error::Corrupt(e.to_string()))?;
        if self.clock.now() >= session.created_at + self.absolute.as_secs() as i64 {
            self.delete(&handle, &session.account_id).await?;
            return Ok(None);
        }
        Ok(Some((handle, session)))
    }

    /// Records a fresh authentication (re-authentication before sensitive
    /// changes) without changing the session id.
    pub async fn reauthenticated(
        &self,
        handle: &SessionHandle,
        session: &Session,
        now: i64,
    ) -> Result<(), store::Error> {
        let mut s = session.clone();
        s.auth_time = now;
        let json = serde_json::to_string(&s).map_err(|e| store::Error::Corrupt(e.to_string()))?;
        self.kv.set_ex(&keys::session(&handle.0), &json, self.idle).await
    }

    pub async fn get_by_handle(&self, handle: &SessionHandle) -> Result<Option<Session>, store::Error> {
        match self.kv.get(&keys::session(&handle.0)).await? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| store::Error::Corrupt(e.to_string())),
        }
    }

    pub async fn delete(&self, handle: &SessionHandle, account_id: &str) -> Result<(), store::Error> {
        self.kv.del(&[keys::session(&handle.0)]).await?;
        self.kv.set_remove(&keys::account_sessions(account_id), &handle.0).await
    }

    /// Ends every session of an account; returns how many were live.
    pub async fn delete_all_for_account(&self, account_id: &str) -> Result<Vec<SessionHandle>, store::Error> {
        let index = keys::account_sessions(account_id);
        let handles = self.kv.set_members(&index).await?;
        let mut keys_to_delete: Vec<String> = handles.iter().map(|h| keys::session(h)).collect();
        keys_to_delete.push(index);
        self.kv.del(&keys_to_delete).await?;
        Ok(handles.into_iter().map(SessionHandle).collect())
    }

    /// The account's live sessions.
    pub async fn live_for_account(&self, account_id: &str) -> Result<Vec<(SessionHandle, Session)>, store::Error> {
        let mut out = Vec::new();
        for h in self.kv.set_members(&keys::account_sessions(account_id)).await? {
            let handle = SessionHandle(h);
            if let Some(s) = self.get_by_handle(&handle).await?
                && self.clock.now() < s.created_at + self.absolute.as_secs() as i64
            {
                out.push((handle, s));
            }
        }
        Ok(out)
    }

    /// Rewrites the roles of every live session of an account (after a
    /// grant or revocation) to `roles` plus what the session's IdP asserted,
    /// keeping each session's remaining idle time.
    pub async fn set_roles(
        &self,
        account_id: &str,
        roles: &[String],
        tin_roles: &[String],
    ) -> Result<usize, store::Error> {
        let mut n = 0;
        for (handle, mut s) in self.live_for_account(account_id).await? {
            let key = keys::session(&handle.0);
            let Some(left) = self.kv.ttl(&key).await? else { continue };
            let mut all: Vec<String> = roles.iter().chain(s.upstream_roles.iter()).cloned().collect();
            all.sort();
            all.dedup();
            s.roles = all;
            s.tin_roles = tin_roles.to_vec();
            let json = serde_json::to_string(&s).map_err(|e| store::Error::Corrupt(e.to_string()))?;
            self.kv
                .set_ex(&key, &json, std::time::Duration::from_secs(left.max(1) as u64))
                .await?;
            n += 1;
        }
        Ok(n)
    }

    pub async fn count_for_account(&self, account_id: &str) -> Result<usize, store::Error> {
        let mut live = 0;
        for h in self.kv.set_members(&keys::account_sessions(account_id)).await? {
            if self.kv.get(&keys::session(&h)).await?.is_some() {
                live += 1;
            }
        }
        Ok(live)
    }
}
