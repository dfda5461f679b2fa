//! The offline ID-token explainer: the same parse, signature and claim
//! checks as the live callback, laid out as a check list. Reads the IdP's
//! keys (discovery) but stores nothing.

use serde_json::Value;

use super::error::Error;
use super::validate::{self, Expect};
use super::{Connection, Discovered};
use crate::diagnostics::checks::{self, Check, Result as R};

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
        Error::ClaimMissing { claim, .. } if claim == "exp" => CHECKS[7],
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
    let failure = result
        .as_ref()
        .err()
        .map(|e| checks::failed(check_of(e), &e.detail(), e.to_string()));
    let checks = checks::ordered(CHECKS, failure, |name| {
        if name == "nonce" && nonce.is_none() {
            Check::new(name, R::Skipped).actual("needs the login's nonce (--nonce); not checked offline")
        } else {
            Check::pass(name)
        }
    });
    Explained { result, checks }
}
