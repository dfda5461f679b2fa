//! Access tokens, refresh-token families and ID tokens.
//!
//! Access and refresh tokens are opaque 256-bit secrets stored under their
//! digest, so they can be revoked and introspected. Every refresh token
//! belongs to a family (one per code redemption). Rotation consumes the
//! presented token atomically (GETDEL) and leaves a "used" marker; presenting
//! a used token again is reuse, and revokes the whole family — the refresh
//! token, and every access token it produced.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::accounts::{Account, Status};
use crate::audit::{Event, RequestContext};
use crate::config::Portal;
use crate::crypto;
use crate::store::kv::{Kv, Write};
use crate::store::{self, keys};

use super::codes::CodeGrant;
use super::{BearerError, Provider, TokenError, TokenResponse};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Family {
    pub id: String,
    pub client_id: String,
    pub account_id: String,
    pub sid: String,
    pub scope: Vec<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Roles asserted by the upstream IdP for this login (not stored on the
    /// account: the IdP manages them).
    #[serde(default)]
    pub upstream_roles: Vec<String>,
    pub acr: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Digest of the one refresh token currently valid.
    pub current: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRecord {
    #[serde(default)]
    pub upstream_roles: Vec<String>,
    pub account_id: String,
    pub client_id: String,
    pub scope: Vec<String>,
    pub family_id: String,
    pub sid: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshRecord {
    family_id: String,
    /// The family as it stood when this token was issued (a rotation
    /// writes both in one step), so a refresh reads one key, not two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<Family>,
}

fn corrupt(e: serde_json::Error) -> store::Error {
    store::Error::Corrupt(e.to_string())
}

fn secs(n: i64) -> std::time::Duration {
    std::time::Duration::from_secs(n.max(1) as u64)
}

/// Revokes a family: its current refresh token and every access token it
/// issued. Idempotent. A free function so the command line, which has the
/// store but no token service, ends tokens the same way.
pub async fn revoke_family(kv: &Kv, id: &str) -> Result<(), store::Error> {
    let mut doomed = vec![keys::family(id), keys::family_access(id)];
    match family(kv, id).await {
        Ok(Some(f)) => doomed.push(keys::refresh_token(&f.current)),
        Ok(None) => {}
        // Still revoked: without its family key no refresh can write a
        // successor (the rotation is guarded by it).
        Err(store::Error::Corrupt(why)) => tracing::error!(family = id, why, "unreadable token family revoked"),
        Err(e) => return Err(e),
    }
    for a in kv.set_members(&keys::family_access(id)).await? {
        doomed.push(keys::access_token(&a));
    }
    kv.del(&doomed).await
}

/// A token family as stored.
async fn family(kv: &Kv, id: &str) -> Result<Option<Family>, store::Error> {
    match kv.get(&keys::family(id)).await? {
        None => Ok(None),
        Some(j) => serde_json::from_str(&j).map(Some).map_err(corrupt),
    }
}

/// Revokes every family started under an SSO session; returns how many.
pub async fn revoke_session_families(kv: &Kv, sid: &str) -> Result<usize, store::Error> {
    let families = kv.set_members(&keys::session_families(sid)).await?;
    for f in &families {
        revoke_family(kv, f).await?;
    }
    kv.del(&[keys::session_families(sid)]).await?;
    Ok(families.len())
}

/// What ending every session of an account did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    /// Sessions that were live (in the store) and are now gone.
    pub sessions: usize,
    /// Portal refresh-token families revoked with them.
    pub families: usize,
    /// Sessions whose tokens could not be revoked (the store failed); ending
    /// again retries them.
    pub unrevoked: usize,
}

/// Ends every session of an account, and revokes the portal tokens started
/// under each, including sessions that idled out earlier: the one way the
/// gateway and the command line do "whoever was signed in is out".
pub async fn end_every_session(
    kv: &Kv,
    sessions: &crate::session::SessionStore,
    account_id: &str,
) -> Result<Ended, store::Error> {
    let (live, handles) = sessions.delete_all_for_account(account_id).await?;
    let mut ended = Ended {
        sessions: live,
        ..Ended::default()
    };
    for h in &handles {
        match revoke_session_families(kv, &h.0).await {
            Ok(n) => ended.families += n,
            Err(e) => {
                tracing::error!(error = %e, "revoking the portal tokens of an ended session failed");
                ended.unrevoked += 1;
            }
        }
    }
    Ok(ended)
}

impl Provider {
    /// Ends every session of an account and the tokens started under them.
    pub async fn end_every_session(&self, account_id: &str) -> Result<Ended, store::Error> {
        end_every_session(&self.kv, &self.sessions, account_id).await
    }

    /// Claims for ID tokens and userinfo, read fresh from the account so role
    /// changes show in the next token.
    pub fn identity_claims(account: &Account, upstream_roles: &[String]) -> serde_json::Map<String, Value> {
        let mut roles = account.roles();
        roles.extend(upstream_roles.iter().cloned());
        roles.sort();
        roles.dedup();
        let mut m = serde_json::Map::new();
        m.insert("preferred_username".into(), json!(account.username));
        m.insert("email".into(), json!(account.email));
        m.insert("account_type".into(), json!(account.account_type.as_str()));
        m.insert("org".into(), json!(account.org()));
        m.insert("roles".into(), json!(roles));
        let tin_roles = account.tin_roles();
        if !tin_roles.is_empty() {
            m.insert("tin_roles".into(), json!(tin_roles));
        }
        m
    }

    /// Issues an access token, a rotated refresh token and an ID token for
    /// `family`, recording the new refresh token as the family's current one.
    ///
    /// `rotated` is the refresh token being exchanged, if any: its "used"
    /// marker is written in the same step, and the whole write only happens
    /// while the family still exists (a revocation racing the refresh wins).
    pub(crate) async fn mint(
        &self,
        mut family: Family,
        portal: &Portal,
        account: &Account,
        nonce: Option<&str>,
        narrower: Option<Vec<String>>,
        rotated: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let now = self.clock.now();
        // A refresh may ask for less: the access token gets it; the family
        // (and its next refresh token) keeps the original scope (RFC 6749 §6).
        let access_scope = narrower.unwrap_or_else(|| family.scope.clone());
        let t = &self.cfg.tokens;
        let access_ttl = t.access_token_lifetime.as_secs() as i64;
        let remaining = family.expires_at - now;
        if remaining <= 0 {
            return Err(TokenError::invalid_grant("the refresh token has expired"));
        }

        let access = crypto::random_token();
        let access_digest = crypto::token_digest(&access);
        let record = AccessRecord {
            upstream_roles: family.upstream_roles.clone(),
            account_id: account.id.as_str().to_string(),
            client_id: portal.client_id.clone(),
            scope: access_scope.clone(),
            family_id: family.id.clone(),
            sid: family.sid.clone(),
            issued_at: now,
            expires_at: now + access_ttl,
        };
        let refresh = crypto::random_token();
        let refresh_digest = crypto::token_digest(&refresh);
        family.current = refresh_digest.clone();
        // The access token, its place in the family, the new refresh token
        // and the family: one atomic round trip.
        let access_json = serde_json::to_string(&record).map_err(corrupt)?;
        let refresh_json = serde_json::to_string(&RefreshRecord {
            family_id: family.id.clone(),
            family: Some(family.clone()),
        })
        .map_err(corrupt)?;
        let family_json = serde_json::to_string(&family).map_err(corrupt)?;
        let (access_key, family_access_key) = (keys::access_token(&access_digest), keys::family_access(&family.id));
        let (refresh_key, family_key) = (keys::refresh_token(&refresh_digest), keys::family(&family.id));
        let used_key = rotated.map(|t| keys::refresh_used(&crypto::token_digest(t)));
        let mut writes = vec![
            Write::Set {
                key: &access_key,
                value: &access_json,
                ttl: secs(access_ttl),
            },
            Write::SetAdd {
                key: &family_access_key,
                member: &access_digest,
                ttl: secs(remaining),
            },
            Write::Set {
                key: &refresh_key,
                value: &refresh_json,
                ttl: secs(remaining),
            },
            Write::Set {
                key: &family_key,
                value: &family_json,
                ttl: secs(remaining),
            },
        ];
        match &used_key {
            // A rotation: the old token's marker now names the family, and
            // nothing is written if the family was revoked meanwhile.
            Some(used_key) => {
                writes.push(Write::Set {
                    key: used_key,
                    value: &family.id,
                    ttl: secs(remaining),
                });
                if !self.kv.write_all_if_exists(&family_key, &writes).await? {
                    return Err(TokenError::invalid_grant("the refresh token has been revoked"));
                }
            }
            None => self.kv.write_all(&writes).await?,
        }

        let mut claims = Self::identity_claims(account, &family.upstream_roles);
        let half = &crypto::sha256(access.as_bytes())[..16];
        for (k, v) in [
            ("iss", json!(self.cfg.server.issuer())),
            ("sub", json!(account.id.as_str())),
            ("aud", json!(portal.client_id)),
            ("azp", json!(portal.client_id)),
            ("iat", json!(now)),
            ("exp", json!(now + t.id_token_lifetime.as_secs() as i64)),
            ("auth_time", json!(family.auth_time)),
            ("amr", json!(family.amr)),
            ("acr", json!(family.acr)),
            ("sid", json!(family.sid)),
            ("at_hash", json!(crypto::b64url(half))),
        ] {
            claims.insert(k.into(), v);
        }
        if let Some(n) = nonce {
            claims.insert("nonce".into(), json!(n));
        }
        let id_token = self
            .keys
            .sign(portal.signing_alg, &Value::Object(claims))
            .map_err(|e| {
                tracing::error!(error = %e, "ID token signing failed");
                TokenError::new("server_error", "could not sign the ID token")
            })?;
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: access_ttl as u64,
            refresh_token: refresh,
            id_token,
            scope: access_scope.join(" "),
        })
    }

    /// Starts a family for a freshly redeemed code and indexes it under the
    /// SSO session, so logging out ends the portal's refresh tokens too.
    pub(crate) async fn new_family(&self, grant: &CodeGrant) -> Result<Family, store::Error> {
        let now = self.clock.now();
        let lifetime = self.cfg.tokens.refresh_token_lifetime.as_secs() as i64;
        let family = Family {
            id: crypto::hex(&crypto::random_bytes::<16>()),
            client_id: grant.client_id.clone(),
            account_id: grant.account_id.clone(),
            sid: grant.sid.clone(),
            scope: grant.scope.clone(),
            auth_time: grant.auth_time,
            amr: grant.amr.clone(),
            upstream_roles: grant.upstream_roles.clone(),
            acr: grant.acr.clone(),
            created_at: now,
            expires_at: now + lifetime,
            current: String::new(),
        };
        self.kv
            .set_add(&keys::session_families(&grant.sid), &family.id, secs(lifetime))
            .await?;
        Ok(family)
    }

    pub(crate) async fn family(&self, id: &str) -> Result<Option<Family>, store::Error> {
        family(&self.kv, id).await
    }

    /// Revokes a family: its current refresh token and every access token it
    /// issued. Idempotent.
    pub async fn revoke_family(&self, id: &str) -> Result<(), store::Error> {
        revoke_family(&self.kv, id).await
    }

    /// Revokes every family started under an SSO session (logout).
    pub async fn revoke_session_families(&self, sid: &str) -> Result<usize, store::Error> {
        revoke_session_families(&self.kv, sid).await
    }

    /// Consumes a refresh token, leaving its "used" marker: the family id,
    /// and the family itself when the token carries it (tokens issued
    /// before it did carry only the id).
    pub(crate) async fn take_refresh(&self, token: &str) -> Result<Option<(String, Option<Family>)>, store::Error> {
        let digest = crypto::token_digest(token);
        let ttl = self.cfg.tokens.refresh_token_lifetime;
        match self
            .kv
            .consume_leaving_marker(&keys::refresh_token(&digest), &keys::refresh_used(&digest), ttl)
            .await?
        {
            None => Ok(None),
            Some(j) => {
                let r: RefreshRecord = serde_json::from_str(&j).map_err(corrupt)?;
                Ok(Some((r.family_id, r.family)))
            }
        }
    }

    /// The family of an already-rotated refresh token. The marker holds the
    /// family id, or the consumed record while its rotation is in flight.
    pub(crate) async fn used_refresh_family(&self, token: &str) -> Result<Option<String>, store::Error> {
        let v = self.kv.get(&keys::refresh_used(&crypto::token_digest(token))).await?;
        Ok(v.map(|v| match serde_json::from_str::<RefreshRecord>(&v) {
            Ok(r) => r.family_id,
            Err(_) => v,
        }))
    }

    async fn access_record(&self, token: &str) -> Result<Option<AccessRecord>, store::Error> {
        if token.len() != 43 {
            return Ok(None);
        }
        match self.kv.get(&keys::access_token(&crypto::token_digest(token))).await? {
            None => Ok(None),
            Some(j) => {
                let r: AccessRecord = serde_json::from_str(&j).map_err(corrupt)?;
                Ok((r.expires_at > self.clock.now()).then_some(r))
            }
        }
    }

    /// `/oauth2/userinfo`: the claims of the account behind a live access
    /// token.
    pub async fn userinfo(&self, token: Option<&str>) -> Result<Value, BearerError> {
        let token = token.ok_or(BearerError::Missing)?;
        let rec = self.access_record(token).await?.ok_or(BearerError::InvalidToken)?;
        let account = self
            .accounts
            .for_tokens(&rec.account_id)
            .await?
            .filter(|a| a.status == Status::Active)
            .ok_or(BearerError::InvalidToken)?;
        let mut claims = Self::identity_claims(&account, &rec.upstream_roles);
        claims.insert("sub".into(), json!(account.id.as_str()));
        Ok(Value::Object(claims))
    }

    /// `/oauth2/introspect` (RFC 7662). Only the client a token was issued to
    /// learns anything about it.
    pub async fn introspect(&self, portal: &Portal, token: &str) -> Result<Value, TokenError> {
        let inactive = json!({ "active": false });
        if let Some(r) = self.access_record(token).await? {
            if r.client_id != portal.client_id {
                return Ok(inactive);
            }
            return Ok(json!({
                "active": true, "token_type": "Bearer", "client_id": r.client_id, "sub": r.account_id,
                "scope": r.scope.join(" "), "exp": r.expires_at, "iat": r.issued_at,
                "iss": self.cfg.server.issuer(), "sid": r.sid,
            }));
        }
        let digest = crypto::token_digest(token);
        if let Some(j) = self.kv.get(&keys::refresh_token(&digest)).await? {
            let r: RefreshRecord = serde_json::from_str(&j).map_err(|e| TokenError::from(corrupt(e)))?;
            if let Some(f) = self.family(&r.family_id).await?
                && f.client_id == portal.client_id
                && f.current == digest
            {
                return Ok(json!({
                    "active": true, "token_type": "refresh_token", "client_id": f.client_id, "sub": f.account_id,
                    "scope": f.scope.join(" "), "exp": f.expires_at, "iss": self.cfg.server.issuer(),
                }));
            }
        }
        Ok(inactive)
    }

    /// `/oauth2/revoke` (RFC 7009): revoking a refresh token ends its family;
    /// an unknown token is not an error.
    pub async fn revoke(&self, portal: &Portal, token: &str, ctx: &RequestContext) -> Result<(), TokenError> {
        let digest = crypto::token_digest(token);
        if let Some(r) = self.access_record(token).await? {
            if r.client_id == portal.client_id {
                self.kv.del(&[keys::access_token(&digest)]).await?;
                self.kv.set_remove(&keys::family_access(&r.family_id), &digest).await?;
            }
            return Ok(());
        }
        if let Some(j) = self.kv.get(&keys::refresh_token(&digest)).await? {
            let r: RefreshRecord = serde_json::from_str(&j).map_err(|e| TokenError::from(corrupt(e)))?;
            if let Some(f) = self.family(&r.family_id).await?
                && f.client_id == portal.client_id
            {
                self.revoke_family(&f.id).await?;
                self.audit
                    .record(
                        Event::new("refresh_token_revoked")
                            .account(f.account_id)
                            .client(f.client_id)
                            .detail("family", f.id),
                        ctx,
                    )
                    .await;
            }
        }
        Ok(())
    }
}
