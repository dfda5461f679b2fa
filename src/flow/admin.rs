//! Who may use the administration console, and what they may see there:
//! `gatehouse_admin` sees every organization; an organization's
//! `access_manager` sees only their own. Both need a session that proved a
//! second factor (the console is a portal with `mfa = required`, so
//! signing in to it enforces that). Every lookup is scoped here, once, so a
//! page cannot forget to.

use serde::Serialize;

use crate::audit::{Event, RequestContext};
use crate::clock::rfc3339;
use crate::diagnostics::FailureCode;
use crate::diagnostics::explain::{self, Explanation};
use crate::provider::Provider;
use crate::session::SessionId;
use crate::store::sql::AuditRecord;

use super::Failure;
use super::account::{self, Viewer};

pub const ADMIN_ROLE: &str = "gatehouse_admin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Org(String),
}

pub struct Admin {
    pub viewer: Viewer,
    pub scope: Scope,
}

impl Admin {
    pub fn username(&self) -> &str {
        &self.viewer.account.username
    }
    pub fn is_gateway_admin(&self) -> bool {
        self.scope == Scope::All
    }
    /// Whether events and health of `org` (None: not tied to any org) are
    /// visible.
    pub fn sees(&self, org: Option<&str>) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Org(mine) => org == Some(mine.as_str()),
        }
    }
    /// The org filter to apply to queries (None: all).
    pub fn org_filter(&self) -> Option<&str> {
        match &self.scope {
            Scope::All => None,
            Scope::Org(o) => Some(o),
        }
    }
}

pub enum Refusal {
    /// Not signed in, or signed in without a second factor: sign in to the
    /// console (which asks for one).
    SignIn,
    Denied(Failure),
}

pub async fn admin(p: &Provider, sid: Option<SessionId>, ctx: &RequestContext) -> Result<Admin, Refusal> {
    let Some(sid) = sid else {
        return Err(Refusal::SignIn);
    };
    let viewer = match account::viewer(p, Some(sid), ctx).await {
        Ok(v) => v,
        Err(f) if f.code == FailureCode::SessionRequired => return Err(Refusal::SignIn),
        Err(f) => return Err(Refusal::Denied(f)),
    };
    if !viewer.session.mfa || viewer.session.aal < 2 {
        return Err(Refusal::SignIn);
    }
    let m = &viewer.account.memberships;
    let scope = if m.iter().any(|m| m.role == ADMIN_ROLE) {
        Scope::All
    } else if let Some(org) = m
        .iter()
        .find(|m| m.role == "access_manager" && !m.org_id.is_empty())
        .map(|m| m.org_id.clone())
    {
        Scope::Org(org)
    } else {
        let e = Event::failure(FailureCode::NotPermitted)
            .account(viewer.account.id.as_str())
            .username(viewer.account.username.clone())
            .detail(
                "reason",
                "administration console without gatehouse_admin or access_manager",
            );
        let reference = p.audit.record(e, ctx).await;
        return Err(Refusal::Denied(Failure::new(FailureCode::NotPermitted, reference)));
    };
    Ok(Admin { viewer, scope })
}

/// One stored event, explained for the admin.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub reference: String,
    pub at: String,
    pub kind: String,
    pub org: Option<String>,
    pub portal: Option<String>,
    pub username: Option<String>,
    pub account_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// What the user was shown.
    pub user_saw: Option<String>,
    pub explanation: Explanation,
}

pub fn view(r: &AuditRecord) -> EventView {
    let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
    EventView {
        reference: r.reference.clone(),
        at: rfc3339(r.at),
        kind: r.kind.clone(),
        org: r.org_id.clone(),
        portal: r.client_id.clone(),
        username: r.username.clone(),
        account_id: r.account_id.clone(),
        ip: r.ip.clone(),
        user_agent: r.user_agent.clone(),
        request_id: r.request_id.clone(),
        user_saw: r
            .code
            .as_deref()
            .and_then(FailureCode::parse)
            .map(|c| format!("{} {}", c.title(), c.next_step())),
        explanation: explain::explain(&r.kind, r.code.as_deref(), &detail),
    }
}

/// The events behind a reference code the admin may see. An event of
/// another organization is reported exactly like an unknown reference.
pub async fn lookup(p: &Provider, admin: &Admin, reference: &str) -> Result<Vec<EventView>, crate::store::Error> {
    let Some(r) = crate::crypto::normalize_reference(reference) else {
        return Ok(Vec::new());
    };
    let records = p.audit.by_reference(&r).await?;
    let mut out = Vec::new();
    for e in &records {
        if admin.sees(e.org_id.as_deref()) || sees_member(p, admin, e).await? {
            out.push(view(e));
        }
    }
    Ok(out)
}

/// A local sign-in failure carries no org id (the org is not known before
/// the account is); an access manager still sees it when it names an
/// account of their organization.
async fn sees_member(p: &Provider, admin: &Admin, e: &AuditRecord) -> Result<bool, crate::store::Error> {
    let (Scope::Org(mine), None, Some(account_id)) = (&admin.scope, &e.org_id, &e.account_id) else {
        return Ok(false);
    };
    Ok(p.accounts
        .by_id(account_id)
        .await?
        .is_some_and(|a| a.org() == Some(mine.as_str())))
}

/// Recent failure events the admin may see, newest first.
pub async fn recent_failures(p: &Provider, admin: &Admin, limit: i64) -> Result<Vec<EventView>, crate::store::Error> {
    let records = p.audit.recent(admin.org_filter(), limit * 4).await?;
    Ok(records
        .iter()
        .filter(|e| e.code.is_some() && admin.sees(e.org_id.as_deref()))
        .take(limit as usize)
        .map(view)
        .collect())
}
