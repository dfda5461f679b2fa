//! Maps every outcome type to a response: failure pages (with
//! `data-error-code`/`data-reference`), OAuth token errors (RFC 6749 §5.2),
//! bearer errors (RFC 6750 §3), and JSON errors `{error, message, reference}`.
//! `IntoResponse` here has no side effects; events are recorded by `flow`
//! before a failure reaches this module.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::diagnostics::FailureCode;
use crate::flow::Failure;
use crate::provider::{BearerError, TokenError};

use super::pages;

#[derive(Debug)]
pub enum HttpError {
    Page(Failure),
    Token(TokenError),
    Bearer(BearerError),
    Json {
        code: FailureCode,
        message: String,
        reference: Option<String>,
    },
}

impl From<Failure> for HttpError {
    fn from(f: Failure) -> Self {
        Self::Page(f)
    }
}
impl From<TokenError> for HttpError {
    fn from(e: TokenError) -> Self {
        Self::Token(e)
    }
}
impl From<BearerError> for HttpError {
    fn from(e: BearerError) -> Self {
        Self::Bearer(e)
    }
}

pub fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            HttpError::Page(f) => pages::failure_page(&f),
            HttpError::Token(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                let mut r = (
                    status,
                    Json(json!({ "error": e.error, "error_description": e.description })),
                )
                    .into_response();
                if status == StatusCode::UNAUTHORIZED {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"gatehouse\""),
                    );
                }
                no_store(r)
            }
            HttpError::Bearer(e) => {
                let (status, challenge) = match e {
                    BearerError::Missing => (StatusCode::UNAUTHORIZED, "Bearer realm=\"gatehouse\""),
                    BearerError::InvalidToken => (
                        StatusCode::UNAUTHORIZED,
                        "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\"",
                    ),
                    BearerError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Bearer realm=\"gatehouse\""),
                };
                let mut r = (
                    status,
                    Json(json!({ "error": match e {
                    BearerError::Missing => "invalid_request",
                    BearerError::InvalidToken => "invalid_token",
                    BearerError::Unavailable => "temporarily_unavailable",
                }, "error_description": e.to_string() })),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                no_store(r)
            }
            HttpError::Json {
                code,
                message,
                reference,
            } => {
                let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
                (
                    status,
                    Json(json!({ "error": code.as_str(), "message": message, "reference": reference })),
                )
                    .into_response()
            }
        }
    }
}
