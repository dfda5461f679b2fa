//! We are the OpenID Connect provider for portals: discovery, JWKS,
//! authorization requests, the token endpoint (one file per grant type),
//! userinfo, introspection and revocation. Codes, access tokens and refresh
//! token families live in the ephemeral store under their digests.
//!
//! This module speaks OAuth's own error shapes (`TokenError`, `BearerError`);
//! it does not know about HTML pages, cookies or axum.

pub mod authorize;
pub mod clients;
pub mod codes;
pub mod discovery;
pub mod grant_types;
pub mod keys;
pub mod token;
pub mod tokens;

use std::sync::Arc;

use serde::Serialize;

use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::session::SessionStore;
use crate::store::{self, kv::Kv};

/// Everything the provider endpoints need, cheap to clone.
#[derive(Clone, Debug)]
pub struct Provider {
    pub cfg: Arc<Config>,
    pub keys: Arc<keys::KeySet>,
    pub kv: Kv,
    pub accounts: Accounts,
    pub sessions: SessionStore,
    pub mfa: crate::mfa::Mfa,
    /// None when `public_url` is not on a domain name (WebAuthn needs one).
    pub webauthn: Option<Arc<webauthn_rs::prelude::Webauthn>>,
    pub audit: Audit,
    pub clock: SharedClock,
}

/// An OAuth error from the token, revocation or introspection endpoints
/// (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct TokenError {
    pub error: &'static str,
    pub description: String,
}

impl TokenError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub fn unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "the session store is unavailable; try again shortly",
        )
    }
    /// HTTP status per RFC 6749: 401 for client authentication failures.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "temporarily_unavailable" => 503,
            "server_error" => 500,
            _ => 400,
        }
    }
}

impl From<store::Error> for TokenError {
    fn from(e: store::Error) -> Self {
        tracing::error!(error = %e, "store failure on a token endpoint");
        TokenError::unavailable()
    }
}

/// A bearer-token failure at userinfo (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no access token was presented")]
    Missing,
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    #[error("the session store is unavailable")]
    Unavailable,
}

impl From<store::Error> for BearerError {
    fn from(e: store::Error) -> Self {
        tracing::error!(error = %e, "store failure at userinfo");
        BearerError::Unavailable
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub id_token: String,
    pub scope: String,
}
