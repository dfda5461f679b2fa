//! Why an upstream OpenID Connect login failed, in the IdP admin's terms:
//! each variant carries the expected and actual values, maps to exactly one
//! design failure code, and says what to fix.

use serde_json::{Value, json};

use crate::diagnostics::FailureCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("IdP unreachable at {endpoint}: {cause}")]
    Unreachable { endpoint: String, cause: String },
    #[error("IdP answered {status} at {endpoint}: {error} {description}")]
    IdpError {
        endpoint: String,
        status: u16,
        error: String,
        description: String,
    },
    #[error("state mismatch: {reason}")]
    StateMismatch { reason: String },
    #[error("ID token is malformed: {reason}")]
    Malformed { reason: String },
    #[error("algorithm {alg} is not accepted (allowed: {allowed:?})")]
    AlgorithmNotAllowed { alg: String, allowed: Vec<String> },
    #[error("no key {kid:?} in the IdP's JWKS (known: {known:?})")]
    KeyUnknown { kid: Option<String>, known: Vec<String> },
    #[error("signature does not verify with key {kid:?}")]
    SignatureInvalid { kid: Option<String>, reason: String },
    #[error("issuer: expected {expected}, got {actual}")]
    IssuerMismatch { expected: String, actual: String },
    #[error("audience: expected {expected}, got {actual}")]
    AudienceMismatch { expected: String, actual: String },
    #[error("nonce does not match this login")]
    NonceMismatch { expected: String, actual: Option<String> },
    #[error("IdP clock is {offset}s off ours (allowed {allowed}s), measured from {source_of_time}")]
    ClockSkew {
        offset: i64,
        allowed: i64,
        source_of_time: &'static str,
    },
    #[error("ID token expired at {exp} (now {now}, allowed skew {allowed}s)")]
    Expired {
        exp: i64,
        now: i64,
        allowed: i64,
        iat: Option<i64>,
    },
    #[error("claim {claim} is missing")]
    ClaimMissing { claim: String, present: Vec<String> },
    #[error("no account for subject {subject} and provisioning is off")]
    UnknownUser {
        subject: String,
        email: Option<String>,
        reason: String,
    },
}

impl Error {
    pub fn code(&self) -> FailureCode {
        match self {
            Error::Unreachable { .. } => FailureCode::SsoIdpUnreachable,
            Error::IdpError { .. } => FailureCode::SsoIdpError,
            Error::StateMismatch { .. } => FailureCode::SsoStateMismatch,
            Error::Malformed { .. } => FailureCode::SsoSignatureInvalid,
            Error::AlgorithmNotAllowed { .. } => FailureCode::SsoWeakAlgorithm,
            Error::KeyUnknown { .. } => FailureCode::SsoKeyUnknown,
            Error::SignatureInvalid { .. } => FailureCode::SsoSignatureInvalid,
            Error::IssuerMismatch { .. } => FailureCode::SsoIssuerMismatch,
            Error::AudienceMismatch { .. } => FailureCode::SsoAudienceMismatch,
            Error::NonceMismatch { .. } => FailureCode::SsoNonceMismatch,
            Error::ClockSkew { .. } => FailureCode::SsoClockSkew,
            Error::Expired { .. } => FailureCode::SsoAssertionExpired,
            Error::ClaimMissing { .. } => FailureCode::SsoAttributeMissing,
            Error::UnknownUser { .. } => FailureCode::SsoUnknownUser,
        }
    }

    /// The admin's view: expected vs actual, and the fix.
    pub fn detail(&self) -> Value {
        match self {
            Error::Unreachable { endpoint, cause } => json!({
                "endpoint": endpoint, "actual": cause,
                "fix": "check that the IdP is up and reachable from the gateway (DNS, firewall, TLS)",
            }),
            Error::IdpError {
                endpoint,
                status,
                error,
                description,
            } => json!({
                "endpoint": endpoint, "status": status, "idp_error": error, "idp_error_description": description,
                "fix": "read the IdP's error; typical causes are a wrong client secret, an unregistered redirect URI, or the user not assigned to the application",
            }),
            Error::StateMismatch { reason } => json!({
                "actual": reason,
                "fix": "usually harmless (back button, old tab, cookies blocked); if frequent, check that the gateway's cookies survive the round trip to the IdP",
            }),
            Error::Malformed { reason } => {
                json!({ "actual": reason, "fix": "the IdP returned something that is not a signed JWT" })
            }
            Error::AlgorithmNotAllowed { alg, allowed } => json!({
                "expected": allowed, "actual": alg,
                "fix": "configure the IdP to sign ID tokens with an allowed algorithm, or extend signing_algs (never none or HS*)",
            }),
            Error::KeyUnknown { kid, known } => json!({
                "expected": known, "actual": kid,
                "fix": "the IdP signed with a key its JWKS does not publish, even after a refresh: check the IdP's key rotation",
            }),
            Error::SignatureInvalid { kid, reason } => json!({
                "actual": reason, "kid": kid,
                "fix": "the token was altered or signed with another key than the one published under this kid",
            }),
            Error::IssuerMismatch { expected, actual } => json!({
                "expected": expected, "actual": actual,
                "fix": "set the connection's issuer to exactly the IdP's issuer identifier (scheme, host, path, trailing slash)",
            }),
            Error::AudienceMismatch { expected, actual } => json!({
                "expected": expected, "actual": actual,
                "fix": "the token was issued to another application: check client_id on both sides",
            }),
            Error::NonceMismatch { expected: _, actual } => json!({
                "expected": "the nonce sent with this login", "actual": actual.clone().unwrap_or_else(|| "(none)".into()),
                "fix": "the ID token belongs to another login (replayed or mixed-up response); the user should start again",
            }),
            Error::ClockSkew {
                offset,
                allowed,
                source_of_time,
            } => json!({
                "expected": format!("|offset| <= {allowed}s"), "actual": format!("{offset:+}s"),
                "offset_seconds": offset, "measured_from": source_of_time,
                "fix": if *offset > 0 { "the IdP's clock is ahead of the gateway's: fix NTP on the IdP (or the gateway)" } else { "the IdP's clock is behind the gateway's: fix NTP on the IdP (or the gateway)" },
            }),
            Error::Expired { exp, now, allowed, iat } => json!({
                "expected": format!("exp > now - {allowed}s"), "actual": format!("exp={exp}, now={now}"),
                "iat": iat, "expired_seconds_ago": now - exp,
                "fix": "the IdP's HTTP clock agrees with ours, so it issued an already-expired (or cached) token: check its ID token lifetime",
            }),
            Error::ClaimMissing { claim, present } => json!({
                "expected": claim, "actual": present,
                "fix": "release this claim to the gateway's client at the IdP (scope or claim mapping), or change the connection's claim mapping",
            }),
            Error::UnknownUser { subject, email, reason } => json!({
                "actual": { "subject": subject, "email": email }, "reason": reason,
                "fix": "turn on jit_provisioning for the organization, or create and link the account first",
            }),
        }
    }
}
