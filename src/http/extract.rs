//! Extractors whose rejections use our error format, and small header
//! helpers (cookies, bearer tokens, Basic credentials).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};

use crate::audit::RequestContext;

use super::middleware::RequestId;

/// An `application/x-www-form-urlencoded` body as ordered pairs (repeats
/// kept, so endpoints can refuse them).
#[derive(Debug)]
pub struct FormPairs(pub Vec<(String, String)>);

/// Why a body could not be read as a form.
#[derive(Debug)]
pub struct FormError(pub String);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = FormError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(FormError(format!(
                "expected Content-Type application/x-www-form-urlencoded, got `{ct}`"
            )));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| FormError(format!("could not read the body: {e}")))?;
        if body.len() > 64 * 1024 {
            return Err(FormError("the form is larger than 64 KiB".into()));
        }
        Ok(FormPairs(
            url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl axum::response::IntoResponse for FormError {
    fn into_response(self) -> axum::response::Response {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": "invalid_request", "message": self.0 })),
        )
            .into_response()
    }
}

impl FormPairs {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The caller's address, user agent and request id, for audit events.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
        let remembered_device =
            cookie(&parts.headers, "__Host-gatehouse_device").or_else(|| cookie(&parts.headers, "gatehouse_device"));
        Ok(Ctx(RequestContext {
            ip,
            user_agent,
            request_id,
            remembered_device,
        }))
    }
}

/// The first value of `name` in a query string, or "".
pub fn query_param(query: Option<&str>, name: &str) -> String {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

pub fn basic(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "))
        .map(String::from)
}
