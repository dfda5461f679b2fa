//! Failure codes: the stable names of everything that can go wrong in a
//! login, what the user is told to do next, and the HTTP status a page
//! carries. One table, matched exhaustively, so a new failure cannot
//! silently become a 500. `docs/error-codes.md` lists the same codes and a
//! test keeps the two in step.

pub mod certs;
pub mod checks;
pub mod explain;
pub mod incidents;

use serde::Serialize;

macro_rules! failure_codes {
    ($( $variant:ident => $code:literal, $status:literal, $title:literal, $next:literal; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum FailureCode { $( $variant, )* }

        impl FailureCode {
            pub const ALL: &'static [FailureCode] = &[ $( FailureCode::$variant, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( FailureCode::$variant => $code, )* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $code => Some(FailureCode::$variant), )* _ => None }
            }

            /// HTTP status of the failure page or JSON error.
            pub fn status(self) -> u16 {
                match self { $( FailureCode::$variant => $status, )* }
            }

            /// Short headline for the user.
            pub fn title(self) -> &'static str {
                match self { $( FailureCode::$variant => $title, )* }
            }

            /// What the user should do next.
            pub fn next_step(self) -> &'static str {
                match self { $( FailureCode::$variant => $next, )* }
            }
        }
    };
}

failure_codes! {
    InvalidCredentials => "invalid_credentials", 401, "The username or password is not right.",
        "Check both and try again, or use “Forgot password?” if you no longer know it.";
    AccountLocked => "account_locked", 423, "This account is locked for now.",
        "Wait until the time shown, or ask your access manager to unlock it.";
    AccountDisabled => "account_disabled", 403, "This account is disabled.",
        "Ask your organization's access manager or our support desk to re-enable it.";
    TooManyAttempts => "too_many_attempts", 429, "Too many sign-in attempts from your network.",
        "Wait until the time shown, then try again; your account itself is not locked.";
    PasswordExpired => "password_expired", 403, "Your password has expired.",
        "Choose a new password to continue.";
    WrongPortal => "wrong_portal", 403, "This account belongs to a different portal.",
        "Use the portal for your account type (link below).";
    RoleRequired => "role_required", 403, "Your account does not have access to this portal.",
        "Ask your organization's access manager for access.";
    ConcurrentSession => "concurrent_session", 409, "This account is already signed in somewhere else.",
        "Sign out there first. Accounts are personal: ask your access manager for your own.";
    AccountNotActivated => "account_not_activated", 403, "This account is not activated yet.",
        "Finish activation from the link you were sent, then sign in.";
    MfaCodeInvalid => "mfa_code_invalid", 401, "That code is not right.",
        "Check the code and try again, or choose another method.";
    MfaCodeExpired => "mfa_code_expired", 401, "That code has expired.",
        "Request a new code, or choose another method.";
    MfaRateLimited => "mfa_rate_limited", 429, "Too many codes requested.",
        "Wait until the time shown, or choose another method.";
    MfaDeliveryFailed => "mfa_delivery_failed", 502, "We could not send your code.",
        "Choose another method, or try again in a few minutes.";
    SsoCertExpired => "sso_cert_expired", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoCertNotInMetadata => "sso_cert_not_in_metadata", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoSignatureInvalid => "sso_signature_invalid", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoUnsigned => "sso_unsigned", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoWeakAlgorithm => "sso_weak_algorithm", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoAudienceMismatch => "sso_audience_mismatch", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoDestinationMismatch => "sso_destination_mismatch", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoIssuerMismatch => "sso_issuer_mismatch", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoRecipientMismatch => "sso_recipient_mismatch", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoClockSkew => "sso_clock_skew", 502, "Your organization's sign-in server clock is off.",
        "Tell your IT team and quote the reference below.";
    SsoAssertionExpired => "sso_assertion_expired", 400, "The sign-in answer from your organization expired.",
        "Start again; if it keeps happening, tell your IT team.";
    SsoInResponseToMismatch => "sso_in_response_to_mismatch", 400, "This sign-in does not match the one you started.",
        "Start again from your portal.";
    SsoUnsolicited => "sso_unsolicited", 400, "This sign-in was not started here.",
        "Start again from your portal.";
    SsoReplay => "sso_replay", 400, "This sign-in answer was already used.",
        "Start again from your portal.";
    SsoStateMismatch => "sso_state_mismatch", 400, "This sign-in could not be matched to your browser.",
        "Start again from your portal.";
    SsoNonceMismatch => "sso_nonce_mismatch", 400, "This sign-in could not be matched to your browser.",
        "Start again from your portal.";
    SsoAttributeMissing => "sso_attribute_missing", 403, "Your organization has not granted you access.",
        "Tell your IT team and quote the reference below.";
    SsoUnknownUser => "sso_unknown_user", 403, "Your organization has not granted you access.",
        "Tell your IT team and quote the reference below.";
    SsoIdpUnreachable => "sso_idp_unreachable", 502, "Your organization's sign-in service is not answering.",
        "Try again later; if it persists, tell your IT team.";
    SsoIdpError => "sso_idp_error", 502, "Your organization's sign-in service reported an error.",
        "Try again later; if it persists, tell your IT team.";
    SsoKeyUnknown => "sso_key_unknown", 502, "Your organization's sign-in is misconfigured.",
        "Tell your IT team and quote the reference below.";
    SsoRedirectLoop => "sso_redirect_loop", 508, "Sign-in was going round in circles, so we stopped it.",
        "Quote the reference below to support; then start again.";
    ActivationMismatch => "activation_mismatch", 400, "These details do not match our records.",
        "Check them against your member ID card (or your NPI and TIN) and try again.";
    ActivationCodeInvalid => "activation_code_invalid", 401, "That activation code is not right.",
        "Check the code in the message we sent and try again, or start activation again.";
    ActivationExpired => "activation_expired", 400, "This activation has expired.",
        "Start activation again.";
    ActivationRateLimited => "activation_rate_limited", 429, "Too many activation attempts.",
        "Wait until the time shown, or call our support desk.";
    AlreadyActivated => "already_activated", 409, "An account already exists for these details.",
        "Sign in with it, or use “Forgot password?” if you no longer know the password.";
    NotPermitted => "not_permitted", 403, "You are not allowed to do that.",
        "Ask your organization's access manager.";
    NotFound => "not_found", 404, "There is nothing by that name that you can see.",
        "Check the name or reference; another organization's are not shown.";
    RecoveryCodeInvalid => "recovery_code_invalid", 401, "That recovery code is not right.",
        "Check the code in the message we sent and try again, or ask for a new one.";
    RecoveryExpired => "recovery_expired", 400, "This password reset has expired.",
        "Ask for a new code from “Forgot password?”.";
    RecoveryRateLimited => "recovery_rate_limited", 429, "Too many password resets requested.",
        "Wait until the time shown, or ask your access manager for help.";
    LoginExpired => "login_expired", 400, "This sign-in page has expired.",
        "Go back to your portal and start again.";
    CsrfInvalid => "csrf_invalid", 403, "This form could not be verified.",
        "Reload the page and submit again; make sure cookies are enabled.";
    UnknownClient => "unknown_client", 400, "The portal that sent you here is not registered.",
        "Go back to your portal; if this persists, tell its support team.";
    RedirectUriMismatch => "redirect_uri_mismatch", 400, "The portal that sent you here is misconfigured.",
        "Go back to your portal; if this persists, tell its support team.";
    PostLogoutRedirectUriMismatch => "post_logout_redirect_uri_mismatch", 400, "You are signed out, but we could not send you back.",
        "Close this window or go back to your portal.";
    SessionRequired => "session_required", 401, "You are not signed in.",
        "Sign in through your portal, then open this page again.";
    ReauthenticationRequired => "reauthentication_required", 403, "Please confirm it's you.",
        "Enter your password again to change your sign-in methods.";
    InvalidRequest => "invalid_request", 400, "The request was not understood.",
        "Go back and try again.";
    ServiceUnavailable => "service_unavailable", 503, "Sign-in is temporarily unavailable.",
        "Please try again in a few minutes.";
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_documented() {
        let doc = include_str!("../../docs/error-codes.md");
        for code in FailureCode::ALL {
            assert_eq!(FailureCode::parse(code.as_str()), Some(*code));
            assert!(
                doc.contains(&format!("`{}`", code.as_str())),
                "docs/error-codes.md does not list `{}`",
                code.as_str()
            );
            assert!((400..600).contains(&code.status()));
        }
        // And the doc lists nothing the enum does not know.
        for line in doc.lines().filter(|l| l.starts_with("| `")) {
            let code = line.trim_start_matches("| `").split('`').next().unwrap_or("");
            assert!(FailureCode::parse(code).is_some(), "docs list unknown code `{code}`");
        }
    }
}
