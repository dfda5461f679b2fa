//! Orchestration of multi-step user journeys — the one place that calls
//! several domains (accounts, sessions, provider, audit) in sequence. Knows
//! nothing of axum: it takes parsed inputs and returns outcomes that the
//! HTTP layer renders.

pub mod account;
pub mod admin;
pub mod activation;
pub mod explain;
pub mod federation;
pub mod health;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod org_admin;
pub mod preflight;
pub mod recovery;
pub mod saml;

use crate::audit::{Event, RequestContext};
use crate::diagnostics::FailureCode;
use crate::provider::Provider;
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

/// The SSO session for an account that has just authenticated.
pub(crate) fn session_for(
    account: &crate::accounts::Account,
    org: Option<String>,
    amr: Vec<String>,
    (aal, mfa): (u8, bool),
    upstream_roles: Vec<String>,
    now: i64,
) -> crate::session::Session {
    let acr = crate::session::acr_for(aal).to_string();
    let mut roles = account.roles();
    roles.extend(upstream_roles.iter().cloned());
    roles.sort();
    roles.dedup();
    crate::session::Session {
        account_id: account.id.as_str().to_string(),
        username: account.username.clone(),
        email: account.email.clone(),
        account_type: account.account_type.as_str().to_string(),
        org,
        roles,
        amr,
        aal,
        mfa,
        upstream_roles,
        acr,
        auth_time: now,
        created_at: now,
        tin_roles: account.tin_roles(),
        ip: None,
        device: None,
    }
}

/// The login transaction vanished while the user was at their IdP.
pub(crate) async fn tx_expired_at_idp(
    p: &crate::provider::Provider,
    org: &str,
    ctx: &crate::audit::RequestContext,
) -> Failure {
    let reference = p
        .audit
        .record(
            crate::audit::Event::failure(FailureCode::LoginExpired)
                .org(Some(org.to_string()))
                .detail("reason", "login transaction expired during the IdP round trip"),
            ctx,
        )
        .await;
    Failure::new(FailureCode::LoginExpired, reference)
}

pub(crate) fn log_store_error(e: &store::Error) {
    tracing::error!(error = %e, "store unavailable");
}

/// `service_unavailable` for a store error: logged, recorded, shown.
pub(crate) async fn unavailable(p: &Provider, ctx: &RequestContext, e: store::Error) -> Failure {
    log_store_error(&e);
    let ev = Event::failure(FailureCode::ServiceUnavailable).detail("cause", e.to_string());
    Failure::new(FailureCode::ServiceUnavailable, p.audit.record(ev, ctx).await)
}
