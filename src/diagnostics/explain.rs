//! What an admin reads about a failure: the login step it happened at,
//! what it means, and the fix — in the admin's terms, per failure code. The
//! event's own detail (expected vs actual, the fix specific to that case)
//! takes precedence; this table is the fallback and the headline.

use serde::Serialize;
use serde_json::Value;

use super::FailureCode;

/// Which step of the login a failure belongs to.
pub fn step(code: FailureCode) -> &'static str {
    use FailureCode::*;
    match code {
        UnknownClient | RedirectUriMismatch | InvalidRequest | LoginExpired | SsoRedirectLoop => {
            "authorization request (portal → gateway)"
        }
        InvalidCredentials | AccountLocked | AccountDisabled | TooManyAttempts | PasswordExpired | WrongPortal
        | AccountNotActivated => "local sign-in (username and password)",
        RoleRequired | ConcurrentSession => "admission to the portal (roles, sessions)",
        MfaCodeInvalid | MfaCodeExpired | MfaRateLimited | MfaDeliveryFailed => "second factor",
        SsoCertExpired | SsoCertNotInMetadata | SsoSignatureInvalid | SsoUnsigned | SsoWeakAlgorithm
        | SsoKeyUnknown => "federation: signature and keys of the IdP's answer",
        SsoAudienceMismatch | SsoDestinationMismatch | SsoIssuerMismatch | SsoRecipientMismatch => {
            "federation: who the IdP's answer is from and for"
        }
        SsoClockSkew | SsoAssertionExpired => "federation: validity period of the IdP's answer",
        SsoInResponseToMismatch | SsoUnsolicited | SsoReplay | SsoStateMismatch | SsoNonceMismatch => {
            "federation: matching the IdP's answer to the sign-in this browser started"
        }
        SsoAttributeMissing | SsoUnknownUser => "federation: mapping the IdP's user to an account",
        SsoIdpUnreachable | SsoIdpError => "federation: talking to the IdP",
        ActivationMismatch | ActivationCodeInvalid | ActivationExpired | ActivationRateLimited | AlreadyActivated => {
            "account activation"
        }
        RecoveryCodeInvalid | RecoveryExpired | RecoveryRateLimited => "password recovery",
        NotPermitted | NotFound | SessionRequired | ReauthenticationRequired => "account pages",
        CsrfInvalid => "form submission",
        PostLogoutRedirectUriMismatch => "sign-out",
        ServiceUnavailable => "gateway storage (Redis or SQL)",
    }
}

/// The generic fix for a code, for the admin.
pub fn fix(code: FailureCode) -> &'static str {
    use FailureCode::*;
    match code {
        InvalidCredentials => {
            "Usually the user mistyped: the detail says whether the username exists. Repeated failures across many usernames from one address suggest guessing."
        }
        AccountLocked => {
            "Unlock from the people page or `gatehouse account unlock`, after making sure the user (not someone else) made the attempts."
        }
        AccountDisabled => "Re-enable the account only if the reason for disabling it is resolved.",
        TooManyAttempts => {
            "One network address sent many wrong passwords; it is refused for the window. If it is a shared office gateway, consider raising lockout.per_ip_failures."
        }
        PasswordExpired => "Nothing to fix: the user is asked to choose a new password and the login continues.",
        WrongPortal => {
            "The account type is not accepted by this portal: send the user to the portal for their type, or correct the account type."
        }
        AccountNotActivated => "Send a fresh invitation or ask the user to finish activation.",
        RoleRequired => {
            "The portal requires one of its roles and the account holds none: grant one from the organization's people page if the person should have access."
        }
        ConcurrentSession => {
            "The organization refuses concurrent sessions and the account is signed in elsewhere; if it is really one person, end the other session (disable + enable, or wait for it to expire). Shared logins are not allowed."
        }
        MfaCodeInvalid | MfaCodeExpired => {
            "Check the device clock for TOTP (the detail carries the drift hint); otherwise the user should request a new code."
        }
        MfaRateLimited => {
            "Wait for the cool-down; repeated bursts for one account may mean someone is trying to flood it."
        }
        MfaDeliveryFailed => {
            "Check the SMS/email provider status and credentials; the detail carries the provider's answer."
        }
        SsoCertExpired => {
            "The IdP signs with an expired certificate: the IdP admin must roll over to a new one and publish it in metadata."
        }
        SsoCertNotInMetadata => {
            "The IdP signs with a certificate its metadata does not list (typical after an unannounced rotation): refresh the metadata or ask the IdP for the current one."
        }
        SsoSignatureInvalid => {
            "The answer was altered after signing, wrapped, or signed with another key. If every user fails, compare the IdP's signing certificate with the metadata; if one request fails, it may be an attack."
        }
        SsoUnsigned => "Turn on response or assertion signing at the IdP for this service provider.",
        SsoWeakAlgorithm => "Set the IdP's signing algorithm to RSA-SHA256 or stronger.",
        SsoAudienceMismatch => "Set the service provider entity ID (audience) at the IdP to the expected value shown.",
        SsoDestinationMismatch | SsoRecipientMismatch => "Set the ACS URL at the IdP to the expected value shown.",
        SsoIssuerMismatch => {
            "The IdP's entity ID / issuer differs from the configured one: update the connection or the metadata."
        }
        SsoClockSkew => "Fix the clock (NTP) on the side that is off; the detail says which and by how much.",
        SsoAssertionExpired => {
            "The answer arrived after it expired (slow user, held response). If it happens for everyone, the IdP's lifetimes are too short or its clock is behind."
        }
        SsoInResponseToMismatch | SsoStateMismatch | SsoNonceMismatch => {
            "A stale or foreign answer (old tab, back button, two sign-ins at once, or blocked cookies). The user should start again; if everyone fails, check cookie settings and the public URL."
        }
        SsoUnsolicited => "Start sign-in from the portal, or allow IdP-initiated sign-in for this organization.",
        SsoReplay => "The same answer was posted twice (back button, double submit, or a replay attack).",
        SsoAttributeMissing => {
            "Release the attribute to the gateway at the IdP, or change the connection's attribute mapping."
        }
        SsoUnknownUser => "Link the user's account, or turn on just-in-time provisioning for this organization.",
        SsoIdpUnreachable => {
            "Check that the IdP's endpoints answer from the gateway (DNS, firewall, TLS); run `gatehouse diagnose connection ORG`."
        }
        SsoIdpError => {
            "The IdP refused the sign-in: its status and message in the detail say why (user not assigned, MFA failed, ...)."
        }
        SsoKeyUnknown => "The IdP signs with a key its JWKS does not publish yet: check the IdP's key rotation.",
        SsoRedirectLoop => {
            "The detail names the side that bounced. A portal that re-requests authorization right after a code usually cannot keep its own session cookie (SameSite, domain, http vs https)."
        }
        ActivationMismatch | ActivationCodeInvalid | ActivationExpired | ActivationRateLimited => {
            "Check the imported record (member id, date of birth, NPI, TIN) against what the user has."
        }
        AlreadyActivated => "An account exists for this record: help the user recover it instead.",
        NotPermitted => "The account lacks the role for this action.",
        NotFound => {
            "Asked for an organization or reference outside the admin's scope, or one that does not exist (the two read alike on purpose)."
        }
        RecoveryCodeInvalid | RecoveryExpired | RecoveryRateLimited => {
            "The user should request a new code; repeated bursts may be someone targeting the account."
        }
        LoginExpired => "The login page sat too long; the user should start again from the portal.",
        CsrfInvalid => "The browser did not send the form cookie back (blocked cookies, or a cross-site post).",
        UnknownClient | RedirectUriMismatch => {
            "Register the portal or its exact redirect URI in the gateway's configuration."
        }
        PostLogoutRedirectUriMismatch => "Register the portal's post-logout redirect URI.",
        SessionRequired | ReauthenticationRequired => "Nothing to fix: the user must sign in (again).",
        InvalidRequest => "A malformed request; the detail names the parameter.",
        ServiceUnavailable => "Check Redis and the SQL store (`/readyz`).",
    }
}

/// One row of an explanation: a named fact, optionally expected vs actual.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

/// The admin-facing account of one stored event.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub code: Option<String>,
    pub what: String,
    pub step: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub fix: String,
    /// The other facts the event recorded, flattened for display.
    pub facts: Vec<Fact>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// Explains an event from its kind, failure code and stored detail.
pub fn explain(kind: &str, code: Option<&str>, detail: &Value) -> Explanation {
    let parsed = code.and_then(FailureCode::parse);
    let field = |k: &str| detail.get(k).filter(|v| !v.is_null()).map(text);
    let what = match (parsed, field("error").or_else(|| field("reason"))) {
        (Some(c), Some(why)) => format!("{} ({why})", c.as_str()),
        (Some(c), None) => c.as_str().to_string(),
        (None, _) => kind.replace('_', " "),
    };
    let facts = match detail {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "expected" | "actual" | "fix"))
            .map(|(k, v)| Fact {
                name: k.clone(),
                value: text(v),
            })
            .collect(),
        _ => Vec::new(),
    };
    Explanation {
        code: parsed.map(|c| c.as_str().to_string()),
        what,
        step: parsed.map(step).unwrap_or("—").to_string(),
        expected: field("expected"),
        actual: field("actual"),
        fix: field("fix")
            .or_else(|| parsed.map(|c| fix(c).to_string()))
            .unwrap_or_default(),
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_detail_wins_over_the_generic_fix() {
        let e = explain(
            "login_failure",
            Some("sso_audience_mismatch"),
            &json!({"expected": "https://sp", "actual": "https://other", "fix": "set it", "error": "audience"}),
        );
        assert_eq!(e.expected.as_deref(), Some("https://sp"));
        assert_eq!(e.actual.as_deref(), Some("https://other"));
        assert_eq!(e.fix, "set it");
        assert!(e.step.contains("from and for"));
        assert_eq!(
            e.facts,
            vec![Fact {
                name: "error".into(),
                value: "audience".into()
            }]
        );
        let generic = explain("login_failure", Some("account_locked"), &json!({}));
        assert_eq!(generic.fix, fix(FailureCode::AccountLocked));
    }
}
