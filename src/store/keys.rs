//! Every key in the ephemeral store, named in one file. Keys that stand for
//! a bearer secret (session id, code, token) carry only its SHA-256 digest.
//! The configured prefix is added by `kv::Kv`, not here.

pub fn session(digest: &str) -> String {
    format!("session:{digest}")
}
/// The per-account session set of releases before the SQL index. Still
/// read (never written) so "end every session" reaches sessions created
/// before an upgrade; it expires with them, within the absolute lifetime.
pub fn legacy_account_sessions(account_id: &str) -> String {
    format!("account-sessions:{account_id}")
}
pub fn session_families(session_digest: &str) -> String {
    format!("session-families:{session_digest}")
}
pub fn login_tx(id: &str) -> String {
    format!("login-tx:{id}")
}
pub fn code(digest: &str) -> String {
    format!("code:{digest}")
}
pub fn code_used(digest: &str) -> String {
    format!("code-used:{digest}")
}
pub fn access_token(digest: &str) -> String {
    format!("access:{digest}")
}
pub fn refresh_token(digest: &str) -> String {
    format!("refresh:{digest}")
}
pub fn refresh_used(digest: &str) -> String {
    format!("refresh-used:{digest}")
}
pub fn family(id: &str) -> String {
    format!("family:{id}")
}
pub fn family_access(id: &str) -> String {
    format!("family-access:{id}")
}
pub fn fed_state(state: &str) -> String {
    format!("fed-state:{state}")
}
pub fn fed_state_used(state: &str) -> String {
    format!("fed-state-used:{state}")
}
pub fn saml_assertion(issuer_digest: &str, id: &str) -> String {
    format!("saml-assertion:{issuer_digest}:{id}")
}
pub fn saml_result(token: &str) -> String {
    format!("saml-result:{token}")
}
pub fn otp_challenge(account_id: &str, method_id: &str) -> String {
    format!("otp:{account_id}:{method_id}")
}
pub fn otp_cooldown(account_id: &str, method_id: &str) -> String {
    format!("otp-cooldown:{account_id}:{method_id}")
}
pub fn otp_hourly(account_id: &str) -> String {
    format!("otp-hour:{account_id}")
}
pub fn otp_ip_hourly(ip: &str) -> String {
    format!("otp-ip:{ip}")
}
/// Wrong tries against one issued code (`issued` tells codes apart).
pub fn otp_tries(account_id: &str, method_id: &str, issued: i64) -> String {
    format!("otp-tries:{account_id}:{method_id}:{issued}")
}

pub fn recovery(id_digest: &str) -> String {
    format!("recover:{id_digest}")
}

pub fn recovery_tries(id_digest: &str) -> String {
    format!("recover-tries:{id_digest}")
}

pub fn recovery_requests(who_digest: &str) -> String {
    format!("recover-requests:{who_digest}")
}

pub fn recovery_ip(ip: &str) -> String {
    format!("recover-ip:{ip}")
}

pub fn login_ip_failures(ip: &str) -> String {
    format!("login-ip-failures:{ip}")
}

pub fn activation(id_digest: &str) -> String {
    format!("activate:{id_digest}")
}

pub fn activation_failures(kind: &str, key_digest: &str) -> String {
    format!("activate-failures:{kind}:{key_digest}")
}

pub fn activation_ip(ip: &str) -> String {
    format!("activate-ip:{ip}")
}

pub fn activation_tries(id_digest: &str) -> String {
    format!("activate-tries:{id_digest}")
}

/// Authorizations by one browser for one portal in the loop window.
pub fn authorize_count(browser_digest: &str, client_id: &str) -> String {
    format!("loop:{browser_digest}:{client_id}")
}
