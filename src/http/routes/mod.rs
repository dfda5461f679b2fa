//! Handlers, grouped by audience.

pub mod account;
pub mod admin;
pub mod activate;
pub mod login;
pub mod mfa;
pub mod oauth;
pub mod ops;
pub mod recover;
pub mod sso;
pub mod verify;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::audit::{Event, RequestContext};
use crate::diagnostics::FailureCode;
use crate::flow::Failure;
use crate::session::SessionId;

use super::extract::cookie;
use super::pages;

pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.https {
        "__Host-gatehouse_session"
    } else {
        "gatehouse_session"
    }
}

pub fn session_from(state: &AppState, headers: &HeaderMap) -> Option<SessionId> {
    cookie(headers, session_cookie_name(state)).and_then(|v| SessionId::parse(&v))
}

pub fn set_session_cookie(state: &AppState, id: &SessionId) -> String {
    format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        session_cookie_name(state),
        id.expose(),
        state.provider.cfg.session.absolute_timeout.as_secs(),
        if state.https { "; Secure" } else { "" }
    )
}

pub fn clear_session_cookie(state: &AppState) -> String {
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        session_cookie_name(state),
        if state.https { "; Secure" } else { "" }
    )
}

pub fn with_cookies(mut r: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect target").into_response(),
    }
}

/// The end of a login step: the portal redirect with the new session
/// cookie, or the failure page.
pub fn login_outcome(state: &AppState, outcome: crate::flow::login::PasswordOutcome) -> Response {
    use crate::flow::login::PasswordOutcome;
    match outcome {
        PasswordOutcome::Completed(done) => {
            with_cookies(see_other(&done.redirect), [set_session_cookie(state, &done.session_id)])
        }
        PasswordOutcome::Retry(_, f) | PasswordOutcome::Page(f) => pages::failure_page(&f),
        PasswordOutcome::Continue(path) => see_other(&path),
    }
}

/// Records a failure the HTTP layer itself detected (bad form, CSRF) and
/// renders its page.
pub async fn edge_failure(state: &AppState, code: FailureCode, reason: &str, ctx: &RequestContext) -> Response {
    let reference = state
        .provider
        .audit
        .record(Event::failure(code).detail("reason", reason), ctx)
        .await;
    pages::failure_page(&Failure::new(code, reference))
}
