//! Orchestration of multi-step user journeys — the one place that calls
//! several domains (accounts, sessions, provider, audit) in sequence. Knows
//! nothing of axum: it takes parsed inputs and returns outcomes that the
//! HTTP layer renders.

pub mod federation;
pub mod login;
pub mod logout;
pub mod saml;

use crate::diagnostics::FailureCode;
use crate::store;

/// A failure the user sees on a page: its stable code, the reference under
/// which the audit event was stored, and optional specifics for the user
/// (never the admin-only details).
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: FailureCode,
    pub reference: String,
    pub user_detail: Option<String>,
    pub link: Option<(String, String)>,
}

impl Failure {
    pub fn new(code: FailureCode, reference: String) -> Self {
        Self {
            code,
            reference,
            user_detail: None,
            link: None,
        }
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.user_detail = Some(d.into());
        self
    }
    pub fn link(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.link = Some((label.into(), url.into()));
        self
    }
}

pub(crate) fn log_store_error(e: &store::Error) {
    tracing::error!(error = %e, "store unavailable");
}
