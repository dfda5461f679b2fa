//! CSRF protection for every form POST: a random per-browser cookie plus a
//! form token that is the HMAC of that cookie under the gateway's secret.
//! A cross-site page can neither read the cookie nor compute the token.
//! The same cookie binds login transactions to the browser.

use axum::http::HeaderMap;

use crate::app::AppState;
use crate::crypto;

use super::extract::cookie;

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.https {
        "__Host-gatehouse_csrf"
    } else {
        "gatehouse_csrf"
    }
}

/// The browser's CSRF cookie value, and a `Set-Cookie` value when a new
/// one had to be created.
pub fn ensure(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, cookie_name(state)).filter(|v| v.len() == 43) {
        Some(v) => (v, None),
        None => {
            let v = crypto::random_token();
            let set = format!(
                "{}={v}; Path=/; HttpOnly; SameSite=Lax{}",
                cookie_name(state),
                if state.https { "; Secure" } else { "" }
            );
            (v, Some(set))
        }
    }
}

pub fn token(state: &AppState, browser: &str) -> String {
    state.mac.sign("csrf", browser)
}

/// The browser's cookie when the form token matches it.
pub fn check(state: &AppState, headers: &HeaderMap, form_token: Option<&str>) -> Result<String, &'static str> {
    let browser = cookie(headers, cookie_name(state)).ok_or("the browser sent no CSRF cookie")?;
    let t = form_token
        .filter(|t| !t.is_empty())
        .ok_or("the form carried no CSRF token")?;
    if state.mac.verify("csrf", &browser, t) {
        Ok(browser)
    } else {
        Err("the form's CSRF token does not match this browser")
    }
}
