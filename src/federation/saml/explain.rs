//! The offline explainer: runs a captured SAML Response through the same
//! `judge` as the live ACS and reports every check in order — the ones that
//! passed, the one that failed (expected vs actual, the fix) and the ones
//! not reached. Pure: no replay-cache entry, no store, no clock of its own.

use base64::Engine;

use super::error::Error;
use super::metadata::{parse_untrusted, xpath};
use super::validate::{Expect, Verified, judge};
use crate::diagnostics::checks::{self, Check, Result as R};

/// The checks `judge` makes, in the order it makes them.
pub const CHECKS: &[&str] = &[
    "IdP status",
    "structure (one Response, one Assertion, no wrapping)",
    "signature present",
    "signature algorithm",
    "signing certificate in metadata",
    "signature verifies",
    "signing certificate validity",
    "issuer",
    "destination",
    "subject confirmation",
    "InResponseTo",
    "validity period (clock)",
    "recipient",
    "audience",
    "subject (NameID)",
    "required attributes",
    "replay",
];

/// The check an error belongs to.
pub fn check_of(e: &Error) -> &'static str {
    match e {
        Error::IdpStatus { .. } => CHECKS[0],
        Error::MetadataUnavailable { .. } => "metadata",
        Error::Malformed { reason } if reason.contains("IssueInstant") || reason.contains("NotOnOrAfter") => CHECKS[11],
        Error::Malformed { reason } if reason.contains("SubjectConfirmationData") => CHECKS[9],
        Error::Malformed { reason } if reason.contains("NameID") => CHECKS[14],
        Error::Malformed { .. } => CHECKS[1],
        Error::SignatureInvalid { reason }
            if reason.starts_with("signature wrapping") || reason.contains("comment") =>
        {
            CHECKS[1]
        }
        Error::Unsigned { .. } => CHECKS[2],
        Error::WeakAlgorithm { .. } => CHECKS[3],
        Error::CertNotInMetadata { .. } => CHECKS[4],
        Error::SignatureInvalid { .. } => CHECKS[5],
        Error::CertExpired { .. } => CHECKS[6],
        Error::IssuerMismatch { .. } => CHECKS[7],
        Error::DestinationMismatch { .. } => CHECKS[8],
        Error::InResponseToMismatch { .. } | Error::Unsolicited => CHECKS[10],
        Error::ClockSkew { .. } | Error::Expired { .. } => CHECKS[11],
        Error::RecipientMismatch { .. } => CHECKS[12],
        Error::AudienceMismatch { .. } => CHECKS[13],
        Error::AttributeMissing { .. } => CHECKS[15],
        Error::Replay { .. } => CHECKS[16],
    }
}

/// Accepts the Response as XML, as the base64 a browser posts, or as that
/// base64 URL-encoded (as copied from a SAML tracer).
pub fn decode_input(input: &str) -> Result<String, String> {
    let t = input.trim();
    if t.starts_with('<') {
        return Ok(t.to_string());
    }
    let t = t.strip_prefix("SAMLResponse=").unwrap_or(t);
    let unescaped: String = if t.contains('%') {
        url::form_urlencoded::parse(format!("x={t}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    } else {
        t.to_string()
    };
    let compact: String = unescaped.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("neither XML nor base64: {e}"))?;
    let xml = String::from_utf8(bytes).map_err(|_| "the base64 does not decode to UTF-8 XML".to_string())?;
    if !xml.trim_start().starts_with('<') {
        return Err("the base64 does not decode to XML".into());
    }
    Ok(xml)
}

/// The InResponseTo the response carries (for skipping the check offline).
pub fn in_response_to(xml: &str) -> Option<String> {
    let doc = parse_untrusted(xml).ok()?;
    let mut ctx = xpath(&doc).ok()?;
    for path in [
        "//saml:SubjectConfirmationData/@InResponseTo",
        "/samlp:Response/@InResponseTo",
    ] {
        if let Some(n) = ctx.findnodes(path, None).ok()?.into_iter().next() {
            return Some(n.get_content());
        }
    }
    None
}

pub struct Explained {
    pub result: Result<Verified, Error>,
    pub checks: Vec<Check>,
}

/// Judges `xml` and lays the outcome out as checks. With no pending
/// request id (`e.request_id` None) an InResponseTo in the response is
/// taken as given and the check is `skipped`; replay is always `skipped`
/// (it needs the live cache).
pub fn explain(xml: &str, e: &Expect<'_>) -> Explained {
    let carried = in_response_to(xml);
    let offline_irt = e.request_id.is_none() && carried.is_some();
    let result = if offline_irt {
        judge(
            xml,
            &Expect {
                request_id: carried.as_deref(),
                ..*e
            },
        )
    } else {
        judge(xml, e)
    };
    let failure = result
        .as_ref()
        .err()
        .map(|err| checks::failed(check_of(err), &err.detail(), err.to_string()));
    let mut checks = checks::ordered(CHECKS, failure, |name| match name {
        "replay" => Check::new(name, R::Skipped).actual("needs the live replay cache; not checked offline"),
        "InResponseTo" if offline_irt => Check::new(name, R::Skipped).actual(format!(
            "{} (no --request-id given)",
            carried.clone().unwrap_or_default()
        )),
        _ => Check::pass(name),
    });
    if let Ok(v) = &result {
        for w in &v.warnings {
            checks.push(Check::new("warning", R::Warn).actual(w.clone()));
        }
    }
    Explained { result, checks }
}
