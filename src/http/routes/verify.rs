//! `/auth/verify`: forward authentication for nginx `auth_request` and
//! Traefik ForwardAuth. 200 with identity headers for a live session, 401
//! otherwise, 503 when the session store is down (so the proxy does not
//! mistake an outage for a logout).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

use super::session_from;

pub async fn verify(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(id) = session_from(&state, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match state.provider.sessions.get(&id).await {
        Ok(Some((_, s))) => {
            let mut r = StatusCode::OK.into_response();
            let h = r.headers_mut();
            let mut put = |name: &'static str, value: &str| {
                if let Ok(v) = HeaderValue::from_str(value) {
                    h.insert(HeaderName::from_static(name), v);
                }
            };
            put("x-gatehouse-user", &s.username);
            put("x-gatehouse-account-id", &s.account_id);
            put("x-gatehouse-email", &s.email);
            put("x-gatehouse-account-type", &s.account_type);
            put("x-gatehouse-org", s.org.as_deref().unwrap_or(""));
            put("x-gatehouse-roles", &s.roles.join(","));
            put("x-gatehouse-tin-roles", &s.tin_roles.join(","));
            r
        }
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "session store unavailable at /auth/verify");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
