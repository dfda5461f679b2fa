//! One layer around every request: a request id (kept from `X-Request-Id`
//! when sane, else generated) on the tracing span and the response, the
//! latency histogram, and the security headers every response carries.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::crypto;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(String::from)
        .unwrap_or_else(|| crypto::hex(&crypto::random_bytes::<8>()));
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);

    let mut res = next.run(req).instrument(span.clone()).await;

    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    metrics::histogram!("gatehouse_http_request_duration_seconds", "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string()).record(elapsed);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms = elapsed * 1000.0, "request failed");
        } else {
            tracing::debug!(status, elapsed_ms = elapsed * 1000.0, "request");
        }
    });

    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Authentication responses must never be cached; the few cacheable ones
    // (discovery, JWKS, the stylesheet) set their own Cache-Control.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    res
}
