//! The offline ID-token explainer: the same parse, signature and claim
//! checks as the live callback, laid out as a check list. Reads the IdP's
//! keys (discovery) but stores nothing.

use serde_json::Value;

use super::error::Error;
use super::validate::{self, Expect};
use super::{Connection, Discovered};
use crate::diagnostics::checks::{Check, Result as R};

pub const CHECKS: &[&str] = &[
    "format (compact JWS)",
    "algorithm allowed",
    "signing key (kid) published",
    "signature verifies",
    "issuer",
    "audience / azp",
    "nonce",
    "validity period (clock)",
    "required claims and mapping",
];

pub fn check_of(e: &Error) -> &'static str {
    match e {
        Error::Malformed { .. } => CHECKS[0],
        Error::AlgorithmNotAllowed { .. } => CHECKS[1],
        Error::KeyUnknown { .. } => CHECKS[2],
        Error::SignatureInvalid { .. } => CHECKS[3],
        Error::IssuerMismatch { .. } => CHECKS[4],
        Error::AudienceMismatch { .. } => CHECKS[5],
        Error::NonceMismatch { .. } => CHECKS[6],
        Error::ClockSkew { .. } | Error::Expired { .. } => CHECKS[7],
        Error::ClaimMissing { .. } | Error::UnknownUser { .. } => CHECKS[8],
        Error::Unreachable { .. } | Error::IdpError { .. } | Error::StateMismatch { .. } => "IdP",
    }
}

pub struct Explained {
    pub result: Result<serde_json::Map<String, Value>, Error>,
    pub checks: Vec<Check>,
}

/// Explains `jwt` as of `now`. Without `nonce` the token's own nonce is
/// taken as given and the check is `skipped`.
pub fn explain(conn: &Connection, d: &Discovered, jwt: &str, nonce: Option<&str>, now: i64) -> Explained {
    let result = (|| {
        let parsed = validate::parse(jwt.trim())?;
        validate::verify_signature(&parsed, &d.jwks, &conn.cfg.signing_algs)?;
        let own_nonce = parsed
            .claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        validate::check_claims(
            &parsed.claims,
            &Expect {
                issuer: &conn.cfg.issuer,
                client_id: &conn.cfg.client_id,
                nonce: nonce.unwrap_or(&own_nonce),
                allowed_skew: conn.cfg.allowed_clock_skew.as_secs() as i64,
                algs: &conn.cfg.signing_algs,
                now,
                idp_date: None,
            },
        )?;
        conn.assertion(&parsed.claims)?;
        Ok(parsed.claims)
    })();
    let failed_at = result
        .as_ref()
        .err()
        .and_then(|e| CHECKS.iter().position(|c| *c == check_of(e)));
    let mut checks = Vec::new();
    for (i, name) in CHECKS.iter().enumerate() {
        checks.push(match (failed_at, &result) {
            (Some(at), Err(e)) if i == at => {
                let d = e.detail();
                let text = |k: &str| {
                    d.get(k).map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                };
                let mut c = Check::new(name, R::Fail).actual(text("actual").unwrap_or_else(|| e.to_string()));
                if let Some(x) = text("expected") {
                    c = c.expected(x);
                }
                if let Some(f) = text("fix") {
                    c = c.fix(f);
                }
                c
            }
            (Some(at), _) if i > at => Check::new(name, R::Skipped).actual("not reached: an earlier check failed"),
            _ if *name == "nonce" && nonce.is_none() => {
                Check::new(name, R::Skipped).actual("needs the login's nonce (--nonce); not checked offline")
            }
            _ => Check::pass(name),
        });
    }
    if let Err(e) = &result
        && failed_at.is_none()
    {
        checks.insert(0, Check::new(check_of(e), R::Fail).actual(e.to_string()));
    }
    Explained { result, checks }
}
