//! Why a SAML response was refused, in the IdP admin's terms: each variant
//! carries expected and actual values and maps to one failure code.

use serde_json::{Value, json};

use super::metadata::Cert;
use crate::clock::rfc3339;
use crate::diagnostics::FailureCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("metadata unavailable from {source_of}: {cause}")]
    MetadataUnavailable { source_of: String, cause: String },
    #[error("not a usable SAML response: {reason}")]
    Malformed { reason: String },
    #[error("the IdP reported {status}")]
    IdpStatus {
        status: String,
        sub_status: Option<String>,
        message: Option<String>,
    },
    #[error("no signature on the Response or the Assertion")]
    Unsigned { want_assertions_signed: bool },
    #[error("weak signature algorithm {algorithm}")]
    WeakAlgorithm { algorithm: String },
    #[error("signed with a certificate that is not in the IdP metadata")]
    CertNotInMetadata { presented: Box<Cert>, expected: Vec<Cert> },
    #[error("the signing certificate expired")]
    CertExpired { cert: Box<Cert>, now: i64 },
    #[error("signature does not verify: {reason}")]
    SignatureInvalid { reason: String },
    #[error("issuer: expected {expected}, got {actual}")]
    IssuerMismatch {
        expected: String,
        actual: String,
        element: &'static str,
    },
    #[error("destination: expected {expected}, got {actual}")]
    DestinationMismatch { expected: String, actual: String },
    #[error("recipient: expected {expected}, got {actual}")]
    RecipientMismatch { expected: String, actual: String },
    #[error("audience: expected {expected}, got {actual}")]
    AudienceMismatch { expected: String, actual: String },
    #[error("InResponseTo: expected {expected}, got {actual}")]
    InResponseToMismatch { expected: String, actual: String },
    #[error("unsolicited response (no InResponseTo)")]
    Unsolicited,
    #[error("IdP clock off by {offset}s")]
    ClockSkew {
        offset: i64,
        allowed: i64,
        measured_from: &'static str,
    },
    #[error("assertion expired")]
    Expired {
        not_on_or_after: i64,
        now: i64,
        allowed: i64,
        element: &'static str,
    },
    #[error("assertion {id} was already used")]
    Replay { id: String },
    #[error("attribute {attribute} missing")]
    AttributeMissing { attribute: String, present: Vec<String> },
}

impl Error {
    pub fn code(&self) -> FailureCode {
        match self {
            Error::MetadataUnavailable { .. } => FailureCode::SsoIdpUnreachable,
            Error::Malformed { .. } => FailureCode::SsoSignatureInvalid,
            Error::IdpStatus { .. } => FailureCode::SsoIdpError,
            Error::Unsigned { .. } => FailureCode::SsoUnsigned,
            Error::WeakAlgorithm { .. } => FailureCode::SsoWeakAlgorithm,
            Error::CertNotInMetadata { .. } => FailureCode::SsoCertNotInMetadata,
            Error::CertExpired { .. } => FailureCode::SsoCertExpired,
            Error::SignatureInvalid { .. } => FailureCode::SsoSignatureInvalid,
            Error::IssuerMismatch { .. } => FailureCode::SsoIssuerMismatch,
            Error::DestinationMismatch { .. } => FailureCode::SsoDestinationMismatch,
            Error::RecipientMismatch { .. } => FailureCode::SsoRecipientMismatch,
            Error::AudienceMismatch { .. } => FailureCode::SsoAudienceMismatch,
            Error::InResponseToMismatch { .. } => FailureCode::SsoInResponseToMismatch,
            Error::Unsolicited => FailureCode::SsoUnsolicited,
            Error::ClockSkew { .. } => FailureCode::SsoClockSkew,
            Error::Expired { .. } => FailureCode::SsoAssertionExpired,
            Error::Replay { .. } => FailureCode::SsoReplay,
            Error::AttributeMissing { .. } => FailureCode::SsoAttributeMissing,
        }
    }

    pub fn detail(&self) -> Value {
        match self {
            Error::MetadataUnavailable { source_of, cause } => json!({
                "endpoint": source_of, "actual": cause,
                "fix": "check that the metadata URL answers from the gateway, or point idp_metadata_file at a current copy",
            }),
            Error::Malformed { reason } => {
                json!({ "actual": reason, "fix": "the POSTed SAMLResponse is not a SAML 2.0 Response" })
            }
            Error::IdpStatus {
                status,
                sub_status,
                message,
            } => json!({
                "expected": "urn:oasis:names:tc:SAML:2.0:status:Success", "actual": status,
                "sub_status": sub_status, "idp_message": message,
                "fix": "the IdP refused the sign-in; its status and message say why (user not assigned, MFA failed, ...)",
            }),
            Error::Unsigned { want_assertions_signed } => json!({
                "expected": if *want_assertions_signed { "a signed Assertion" } else { "a signed Response or Assertion" },
                "actual": "no ds:Signature",
                "fix": "turn on response or assertion signing at the IdP for this SP",
            }),
            Error::WeakAlgorithm { algorithm } => json!({
                "expected": "RSA/ECDSA with SHA-256 or stronger", "actual": algorithm,
                "fix": "set the IdP's signing algorithm to SHA-256 (or allow_sha1 = true as a temporary exception)",
            }),
            Error::CertNotInMetadata { presented, expected } => json!({
                "actual": presented.describe(),
                "expected": expected.iter().map(Cert::describe).collect::<Vec<_>>(),
                "fix": "the IdP signs with a certificate its metadata (as the gateway has it) does not list — typical after an unannounced rotation: refresh or update the metadata",
            }),
            Error::CertExpired { cert, now } => json!({
                "actual": cert.describe(), "now": rfc3339(*now),
                "expected": format!("notAfter after {}", rfc3339(*now)),
                "fix": "the IdP still signs with an expired certificate: roll over to a current one and publish it in the metadata",
            }),
            Error::SignatureInvalid { reason } => json!({
                "actual": reason,
                "fix": "the response was altered after signing, wrapped (XSW), or signed with a key other than the certificate claims",
            }),
            Error::IssuerMismatch {
                expected,
                actual,
                element,
            } => json!({
                "expected": expected, "actual": actual, "element": element,
                "fix": "the IdP's entityID differs from the metadata's: use matching metadata",
            }),
            Error::DestinationMismatch { expected, actual } => json!({
                "expected": expected, "actual": actual,
                "fix": "the IdP posts to another ACS URL: update the SP's ACS URL at the IdP (or acs_url here)",
            }),
            Error::RecipientMismatch { expected, actual } => json!({
                "expected": expected, "actual": actual,
                "fix": "SubjectConfirmationData Recipient must be this SP's ACS URL: fix the IdP's ACS configuration",
            }),
            Error::AudienceMismatch { expected, actual } => json!({
                "expected": expected, "actual": actual,
                "fix": "the assertion is meant for another SP: set the SP entity ID at the IdP to the expected value",
            }),
            Error::InResponseToMismatch { expected, actual } => json!({
                "expected": expected, "actual": actual,
                "fix": "a stale or foreign response (old tab, back button, two sign-ins at once); the user should start again",
            }),
            Error::Unsolicited => json!({
                "expected": "a response to a sign-in started here", "actual": "no InResponseTo (IdP-initiated)",
                "fix": "start sign-in from the portal, or set allow_idp_initiated = true for this organization",
            }),
            Error::ClockSkew {
                offset,
                allowed,
                measured_from,
            } => json!({
                "expected": format!("|offset| <= {allowed}s"), "actual": format!("{offset:+}s"),
                "offset_seconds": offset, "measured_from": measured_from,
                "fix": if *offset > 0 { "the IdP's clock is ahead of the gateway's: fix NTP" } else { "the IdP's clock is behind the gateway's: fix NTP" },
            }),
            Error::Expired {
                not_on_or_after,
                now,
                allowed,
                element,
            } => json!({
                "expected": format!("{element} NotOnOrAfter after now - {allowed}s"),
                "actual": format!("NotOnOrAfter {} (now {})", rfc3339(*not_on_or_after), rfc3339(*now)),
                "expired_seconds_ago": now - not_on_or_after,
                "fix": "the response arrived after its validity ended (slow user or held response); if the IdP issues very short lifetimes, lengthen them",
            }),
            Error::Replay { id } => json!({
                "actual": id, "expected": "an assertion ID not seen before",
                "fix": "the same assertion was posted twice (back button, double submit, or a replay attack)",
            }),
            Error::AttributeMissing { attribute, present } => json!({
                "expected": attribute, "actual": present,
                "fix": "release this attribute to the gateway at the IdP, or change the connection's attribute mapping",
            }),
        }
    }
}
