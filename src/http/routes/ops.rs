//! Liveness, readiness, metrics and static assets.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when both stores answer: the session store (Redis) and the SQL
/// store. A load balancer takes the instance out while either is down.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let kv = state.provider.kv.ping().await;
    let sql = state.sql.ping().await;
    let show = |r: &Result<(), crate::store::Error>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let status = if kv.is_ok() && sql.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "unavailable" },
            "session_store": { "backend": state.provider.kv.backend_name(), "status": show(&kv) },
            "store": show(&sql),
            "maintenance": state.health.maintenance(),
        })),
    )
        .into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut r = state.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

pub async fn stylesheet() -> Response {
    let mut r = include_str!("../../../static/gatehouse.css").into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "message": "no such path" })),
    )
        .into_response()
}

pub async fn webauthn_js() -> Response {
    let mut r = include_str!("../../../static/webauthn.js").into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}
