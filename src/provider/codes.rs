//! Authorization codes: 256-bit, single use (GETDEL), short-lived, stored
//! under their digest. A redeemed code leaves a marker naming the token
//! family it produced, so a second redemption revokes that family
//! (RFC 6749 §4.1.2).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::store::{self, keys, kv::Kv};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: Vec<String>,
    pub account_id: String,
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Roles asserted by the upstream IdP for this login (not stored on the
    /// account: the IdP manages them).
    #[serde(default)]
    pub upstream_roles: Vec<String>,
    pub acr: String,
}

pub async fn issue(kv: &Kv, grant: &CodeGrant, ttl: Duration) -> Result<String, store::Error> {
    let code = crypto::random_token();
    let json = serde_json::to_string(grant).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    kv.set_ex(&keys::code(&crypto::token_digest(&code)), &json, ttl).await?;
    Ok(code)
}

pub enum Redeemed {
    Fresh(Box<CodeGrant>),
    /// Already redeemed: the family it produced, if still known.
    Reused(Option<String>),
    Unknown,
}

pub async fn redeem(kv: &Kv, code: &str) -> Result<Redeemed, store::Error> {
    let digest = crypto::token_digest(code);
    let marker_ttl = Duration::from_secs(3600);
    match kv
        .consume_leaving_marker(&keys::code(&digest), &keys::code_used(&digest), marker_ttl)
        .await?
    {
        Some(json) => serde_json::from_str(&json)
            .map(|g| Redeemed::Fresh(Box::new(g)))
            .map_err(|e| store::Error::Corrupt(e.to_string())),
        // The marker holds the grant until the exchange records its family.
        None => match kv.get(&keys::code_used(&digest)).await? {
            Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(Redeemed::Reused(Some(v))),
            Some(_) => Ok(Redeemed::Reused(None)),
            None => Ok(Redeemed::Unknown),
        },
    }
}

pub async fn mark_redeemed(kv: &Kv, code: &str, family_id: &str, ttl: Duration) -> Result<(), store::Error> {
    kv.set_ex(&keys::code_used(&crypto::token_digest(code)), family_id, ttl)
        .await
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge.
pub fn verify_pkce(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && crypto::constant_time_eq(
            crypto::b64url(&crypto::sha256(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_example() {
        assert!(verify_pkce(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify_pkce(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify_pkce("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}
