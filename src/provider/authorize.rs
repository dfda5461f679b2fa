//! The authorization request (`/oauth2/authorize`), parsed and validated.
//!
//! Order matters: until the client and its exact `redirect_uri` are known,
//! every problem is shown on the gateway's own error page — never redirected
//! to an unverified address. After that, problems go back to the portal as
//! OAuth errors (with `state` and `iss`).

use std::collections::HashMap;

use url::Url;

use crate::config::{Config, Portal};
use crate::diagnostics::FailureCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Prompt {
    Default,
    None,
    Login,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scope: Vec<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// Organization to sign in with (deep link to its IdP).
    #[serde(default)]
    pub org: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Shown on the gateway: the redirect target is not trusted.
    Page { code: FailureCode, detail: String },
    /// Sent back to the portal's registered redirect_uri.
    Redirect(ErrorRedirect),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorRedirect {
    pub fn location(&self, issuer: &str) -> String {
        let mut pairs = vec![
            ("error", self.error.to_string()),
            ("error_description", self.description.clone()),
        ];
        if let Some(s) = &self.state {
            pairs.push(("state", s.clone()));
        }
        pairs.push(("iss", issuer.to_string()));
        append_query(&self.redirect_uri, &pairs)
    }
}

/// Appends query parameters to a registered redirect URI, keeping any query
/// it already has.
pub fn append_query(base: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return base.to_string();
    }
    match Url::parse(base) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => base.to_string(),
    }
}

fn is_pkce_challenge(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates the query of an authorization request against the configured
/// portals.
pub fn validate(cfg: &Config, params: &[(String, String)]) -> Result<AuthorizeRequest, Rejection> {
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut duplicated = Vec::new();
    for (k, v) in params {
        if map.insert(k.as_str(), v.as_str()).is_some() {
            duplicated.push(k.as_str());
        }
    }
    let page = |code, detail: String| Err(Rejection::Page { code, detail });

    if duplicated.contains(&"client_id") || duplicated.contains(&"redirect_uri") {
        return page(
            FailureCode::InvalidRequest,
            "client_id or redirect_uri given more than once".into(),
        );
    }
    let Some(client_id) = map.get("client_id").filter(|s| !s.is_empty()) else {
        return page(FailureCode::UnknownClient, "the request has no client_id".into());
    };
    let Some(portal) = cfg.portal(client_id) else {
        return page(
            FailureCode::UnknownClient,
            format!("no portal is registered with client_id `{client_id}`"),
        );
    };
    let Some(redirect_uri) = map.get("redirect_uri").filter(|s| !s.is_empty()) else {
        return page(
            FailureCode::RedirectUriMismatch,
            "the request has no redirect_uri".into(),
        );
    };
    if !portal.redirect_uris.iter().any(|r| r == redirect_uri) {
        return page(
            FailureCode::RedirectUriMismatch,
            format!(
                "redirect_uri `{redirect_uri}` is not registered for `{}`; registered: {}",
                portal.client_id,
                portal.redirect_uris.join(", ")
            ),
        );
    }

    let state = map.get("state").map(|s| s.to_string());
    let redirect = |error: &'static str, description: String| {
        Err(Rejection::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.to_string(),
            error,
            description,
            state: state.clone(),
        }))
    };
    if let Some(d) = duplicated.first() {
        return redirect("invalid_request", format!("parameter `{d}` given more than once"));
    }
    if map.contains_key("request") {
        return redirect("request_not_supported", "request objects are not supported".into());
    }
    if map.contains_key("request_uri") {
        return redirect("request_uri_not_supported", "request_uri is not supported".into());
    }
    match map.get("response_type") {
        Some(&"code") => {}
        Some(other) => {
            return redirect(
                "unsupported_response_type",
                format!("response_type `{other}`: only `code` is supported"),
            );
        }
        None => return redirect("invalid_request", "response_type is required".into()),
    }
    if let Some(mode) = map.get("response_mode")
        && *mode != "query"
    {
        return redirect(
            "invalid_request",
            format!("response_mode `{mode}`: only `query` is supported"),
        );
    }
    let scope: Vec<String> = map
        .get("scope")
        .map(|s| s.split(' ').filter(|x| !x.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    if !scope.iter().any(|s| s == "openid") {
        return redirect("invalid_scope", "scope must include `openid`".into());
    }
    let Some(challenge) = map.get("code_challenge") else {
        return redirect("invalid_request", "PKCE is required: code_challenge is missing".into());
    };
    match map.get("code_challenge_method") {
        Some(&"S256") => {}
        Some(m) => {
            return redirect(
                "invalid_request",
                format!("code_challenge_method `{m}`: only S256 is accepted"),
            );
        }
        None => {
            return redirect("invalid_request", "code_challenge_method=S256 is required".into());
        }
    }
    if !is_pkce_challenge(challenge) {
        return redirect(
            "invalid_request",
            "code_challenge must be 43 base64url characters (SHA-256)".into(),
        );
    }
    let prompt = match map.get("prompt").copied() {
        None | Some("") => Prompt::Default,
        Some(p) => {
            let values: Vec<&str> = p.split(' ').filter(|x| !x.is_empty()).collect();
            if values.contains(&"none") && values.len() > 1 {
                return redirect(
                    "invalid_request",
                    "prompt=none cannot be combined with other values".into(),
                );
            }
            if let Some(bad) = values
                .iter()
                .find(|v| !["none", "login", "consent", "select_account"].contains(v))
            {
                return redirect("invalid_request", format!("prompt value `{bad}` is not supported"));
            }
            if values.contains(&"none") {
                Prompt::None
            } else if values.contains(&"login") || values.contains(&"select_account") {
                Prompt::Login
            } else {
                Prompt::Default
            }
        }
    };
    let max_age = match map.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return redirect(
                    "invalid_request",
                    format!("max_age `{v}` is not a non-negative integer"),
                );
            }
        },
    };
    let nonce = map.get("nonce").map(|s| s.to_string());
    if nonce.as_ref().is_some_and(|n| n.len() > 512) || state.as_ref().is_some_and(|s| s.len() > 2048) {
        return redirect("invalid_request", "state or nonce is too long".into());
    }
    let org = map.get("org").filter(|o| !o.is_empty()).map(|o| o.to_string());
    if let Some(o) = &org
        && cfg.org(o).is_none()
    {
        return redirect("invalid_request", format!("unknown organization `{o}`"));
    }
    Ok(AuthorizeRequest {
        org,
        client_id: portal.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        state,
        nonce,
        code_challenge: challenge.to_string(),
        scope,
        prompt,
        max_age,
        login_hint: map.get("login_hint").map(|s| s.to_string()),
    })
}

/// Whether an existing SSO session may answer this request without asking
/// the user again.
pub fn session_satisfies(req: &AuthorizeRequest, portal: &Portal, session: &crate::session::Session, now: i64) -> bool {
    if req.prompt == Prompt::Login {
        return false;
    }
    if let Some(max_age) = req.max_age
        && now - session.auth_time > max_age
    {
        return false;
    }
    // A portal that requires MFA is answered only by a session whose own
    // assurance reaches the portal's level (not by an upstream amr claim).
    if portal.mfa == crate::config::PortalMfa::Required && !(session.mfa && session.aal >= portal.mfa_aal) {
        return false;
    }
    // Roles come from the session, which a grant or revocation updates.
    if !portal.roles.is_empty() && !session.roles.iter().any(|r| portal.roles.contains(r)) {
        return false;
    }
    portal.account_types.iter().any(|t| t.as_str() == session.account_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SHIPPED;

    fn cfg() -> Config {
        Config::from_toml_str("t", SHIPPED, Vec::new()).unwrap()
    }

    fn params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut base = vec![
            ("client_id", "provider-portal"),
            ("redirect_uri", "http://127.0.0.1:9000/callback"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
            ("state", "s1"),
        ];
        for (k, v) in extra {
            base.retain(|(bk, _)| bk != k);
            if !v.is_empty() {
                base.push((k, v));
            }
        }
        base.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn valid_request_parses() {
        let r = validate(&cfg(), &params(&[])).unwrap();
        assert_eq!(r.client_id, "provider-portal");
        assert_eq!(r.prompt, Prompt::Default);
    }

    #[test]
    fn untrusted_redirects_are_never_followed() {
        for p in [
            params(&[("client_id", "nobody")]),
            params(&[("redirect_uri", "http://127.0.0.1:9000/callback/../evil")]),
            params(&[("redirect_uri", "http://127.0.0.1:9000/callback?x=1")]),
            params(&[("redirect_uri", "")]),
        ] {
            assert!(matches!(validate(&cfg(), &p), Err(Rejection::Page { .. })), "{p:?}");
        }
    }

    #[test]
    fn pkce_is_required_and_must_be_s256() {
        for (p, err) in [
            (params(&[("code_challenge", "")]), "invalid_request"),
            (params(&[("code_challenge_method", "plain")]), "invalid_request"),
            (params(&[("code_challenge", "short")]), "invalid_request"),
            (params(&[("response_type", "token")]), "unsupported_response_type"),
            (params(&[("scope", "profile")]), "invalid_scope"),
            (params(&[("prompt", "none login")]), "invalid_request"),
        ] {
            match validate(&cfg(), &p) {
                Err(Rejection::Redirect(r)) => {
                    assert_eq!(r.error, err);
                    assert_eq!(r.state.as_deref(), Some("s1"));
                }
                other => panic!("{p:?} gave {other:?}"),
            }
        }
    }
}
