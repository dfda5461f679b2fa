//! Delegated organization administration: an organization's access manager
//! (or a gateway admin) invites people, grants and revokes roles (scoped to
//! a TIN where the organization has several), disables, unlocks and resets
//! second factors — each recorded in the delegation history with actor,
//! subject, role, TIN, time and reason. The scope is decided once, by
//! `Managed::for_admin`; every operation here checks that its subject is a
//! member of that organization, and no operation can grant
//! `gatehouse_admin`.
//!
//! Also here: the shared-login check a login makes before its session is
//! created (accounts are individual).

use serde::Serialize;

use crate::accounts::{Account, EmailAddress, Status};
use crate::audit::{Event, RequestContext};
use crate::config::{ConcurrentSessions, Org};
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::provider::Provider;
use crate::session::Session;
use crate::store::org::{DelegationRow, Grant, HistoryFilter, PendingInvitation};

use super::admin::{ADMIN_ROLE, Admin, Scope};
use super::{Failure, log_store_error, unavailable};

/// The organization an admin acts on, and who they are.
#[derive(Debug, Clone)]
pub struct Managed {
    pub org: Org,
    pub actor: String,
    pub actor_id: String,
    /// An access manager whose own role is limited to one TIN manages roles
    /// of that TIN only, and no account-wide action.
    pub tin: Option<String>,
    /// The gateway's own admin (or the operator): may act on accounts that
    /// also belong to other organizations.
    pub gateway_admin: bool,
}

async fn fail(p: &Provider, ctx: &RequestContext, code: FailureCode, actor: Option<&str>, why: &str) -> Failure {
    let mut e = Event::failure(code).detail("reason", why);
    if let Some(a) = actor {
        e = e.username(a.to_string());
    }
    Failure::new(code, p.audit.record(e, ctx).await).detail(why.to_string())
}

impl Managed {
    /// An access manager manages their own organization (and no other,
    /// whatever they ask for); a gateway admin the one they name.
    pub async fn for_admin(
        p: &Provider,
        admin: &Admin,
        requested: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Self, Failure> {
        let org_id = match (&admin.scope, requested.filter(|r| !r.is_empty())) {
            (Scope::Org(mine), None) => mine.clone(),
            (Scope::Org(mine), Some(r)) if r == mine => mine.clone(),
            (Scope::Org(_), Some(_)) => {
                return Err(fail(
                    p,
                    ctx,
                    FailureCode::NotPermitted,
                    Some(admin.username()),
                    "an access manager manages only their own organization",
                )
                .await);
            }
            (Scope::All, Some(r)) => r.to_string(),
            (Scope::All, None) => match p.cfg.orgs.first() {
                Some(o) => o.id.clone(),
                None => {
                    return Err(fail(
                        p,
                        ctx,
                        FailureCode::InvalidRequest,
                        None,
                        "no organization is configured",
                    )
                    .await);
                }
            },
        };
        let Some(org) = p.cfg.org(&org_id).cloned() else {
            return Err(fail(
                p,
                ctx,
                FailureCode::InvalidRequest,
                Some(admin.username()),
                "unknown organization",
            )
            .await);
        };
        Ok(Self::of(org, &admin.viewer.account, admin.is_gateway_admin()))
    }

    /// `account` managing `org`: an access manager limited to a TIN (and
    /// holding no organization-wide access_manager role) keeps that limit.
    pub fn of(org: Org, account: &Account, gateway_admin: bool) -> Self {
        let tin = account
            .memberships
            .iter()
            .filter(|x| x.org_id == org.id && x.role == "access_manager")
            .map(|x| x.tin.clone())
            .min()
            .filter(|t| !t.is_empty());
        Self {
            org,
            actor: account.username.clone(),
            actor_id: account.id.as_str().to_string(),
            tin: if gateway_admin { None } else { tin },
            gateway_admin,
        }
    }

    /// For the command line: the operator acts on any organization.
    pub fn operator(org: Org, actor: &str) -> Self {
        Self {
            org,
            actor: actor.to_string(),
            actor_id: String::new(),
            tin: None,
            gateway_admin: true,
        }
    }
}

/// A member of the organization, as the people page shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub account_id: String,
    pub username: String,
    pub email: String,
    pub status: &'static str,
    pub last_login_at: Option<i64>,
    pub mfa: Vec<String>,
    pub grants: Vec<Grant>,
    pub locked_until: Option<i64>,
    pub shared_login_suspected: bool,
}

fn is_member(a: &Account, org: &str) -> bool {
    a.memberships.iter().any(|m| m.org_id == org)
}

/// Everyone holding a role in the organization.
pub async fn members(p: &Provider, m: &Managed) -> Result<Vec<Member>, crate::store::Error> {
    let sql = p.accounts.sql();
    let grants = sql.org_grants(&m.org.id).await?;
    let now = p.clock.now();
    // Flagged in the last 30 days, however busy the organization's log.
    let shared: std::collections::HashSet<String> = sql
        .accounts_with_event(&m.org.id, "shared_login_suspected", now - 30 * 86_400)
        .await?
        .into_iter()
        .collect();
    let mut ids: Vec<&str> = grants.iter().map(|g| g.account_id.as_str()).collect();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let Some(a) = p.accounts.by_id(id).await? else { continue };
        let failures = p.accounts.failure_record(&a.username).await?;
        let mfa = p
            .mfa
            .methods(id)
            .await
            .map_err(|e| crate::store::Error::Corrupt(e.to_string()))?
            .into_iter()
            .filter(|x| x.confirmed)
            .map(|x| x.kind)
            .collect();
        out.push(Member {
            account_id: id.to_string(),
            email: a.email.clone(),
            status: a.status.as_str(),
            last_login_at: a.last_login_at,
            mfa,
            grants: grants.iter().filter(|g| g.account_id == id).cloned().collect(),
            locked_until: crate::accounts::lockout::locked_until(&failures, now),
            shared_login_suspected: shared.contains(id),
            username: a.username,
        });
    }
    out.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(out)
}

/// The security event that goes with a delegation action.
fn event_kind(action: &str) -> &'static str {
    match action {
        "grant" => "role_granted",
        "revoke" => "role_revoked",
        "disable" => "account_disabled",
        "enable" => "account_enabled",
        "unlock" => "account_unlocked",
        "mfa_reset" => "mfa_reset",
        "invite" | "invite_resent" => "invitation_recorded",
        "invite_revoked" => "invitation_revoked",
        _ => "invitation_accepted",
    }
}

/// Writes a line of the delegation history and the matching security
/// event.
async fn record(
    p: &Provider,
    m: &Managed,
    action: &str,
    subject: (&str, Option<&str>),
    role: Option<&str>,
    tin: Option<&str>,
    reason: &str,
) -> Result<(), crate::store::Error> {
    let mut e = Event::new(event_kind(action))
        .username(subject.0.to_string())
        .org(Some(m.org.id.clone()))
        .detail("by", m.actor.clone())
        .detail("reason", reason.to_string());
    if let Some(id) = subject.1 {
        e = e.account(id);
    }
    if let Some(r) = role {
        e = e.detail("role", r.to_string());
    }
    if let Some(t) = tin.filter(|t| !t.is_empty()) {
        e = e.detail("tin", t.to_string());
    }
    p.audit.record(e, &RequestContext::default()).await;
    p.accounts
        .sql()
        .record_delegation(&DelegationRow {
            id: crypto::hex(&crypto::random_bytes::<12>()),
            at: p.clock.now(),
            org_id: m.org.id.clone(),
            action: action.into(),
            actor: m.actor.clone(),
            subject: subject.0.into(),
            subject_id: subject.1.map(String::from),
            role: role.map(String::from),
            tin: tin.filter(|t| !t.is_empty()).map(String::from),
            reason: reason.into(),
        })
        .await
}

/// A member of `m`'s organization by username, or `not_permitted` (a person
/// of another organization reads exactly like an unknown one).
async fn subject(p: &Provider, m: &Managed, username: &str, ctx: &RequestContext) -> Result<Account, Failure> {
    match p.accounts.find(username).await {
        // A gateway admin is managed by the operator, never by an
        // organization.
        Ok(Some(a)) if a.memberships.iter().any(|x| x.role == ADMIN_ROLE) && !m.gateway_admin => Err(fail(
            p,
            ctx,
            FailureCode::NotPermitted,
            Some(&m.actor),
            "a gateway admin is managed by the gateway's operator",
        )
        .await),
        Ok(Some(a)) if is_member(&a, &m.org.id) => Ok(a),
        Ok(_) => Err(fail(
            p,
            ctx,
            FailureCode::NotPermitted,
            Some(&m.actor),
            "no such member in this organization",
        )
        .await),
        Err(e) => Err(unavailable(p, ctx, e).await),
    }
}

/// A subject for an action on the whole account (disable, unlock, MFA
/// reset): only an organization-wide manager, and only for someone who
/// belongs to no other organization (else the gateway's admin decides).
async fn whole_account(p: &Provider, m: &Managed, username: &str, ctx: &RequestContext) -> Result<Account, Failure> {
    let a = subject(p, m, username, ctx).await?;
    let elsewhere = a.memberships.iter().any(|x| x.org_id != m.org.id);
    if !m.gateway_admin && (m.tin.is_some() || elsewhere) {
        return Err(fail(
            p,
            ctx,
            FailureCode::NotPermitted,
            Some(&m.actor),
            if elsewhere {
                "the account also belongs to another organization: ask the gateway's admin"
            } else {
                "a manager limited to one TIN manages roles of that TIN only"
            },
        )
        .await);
    }
    Ok(a)
}

fn need_reason(reason: &str) -> Result<&str, &'static str> {
    let r = reason.trim();
    if r.is_empty() {
        Err("give a reason: it goes into the delegation history")
    } else if r.chars().count() > 500 {
        Err("the reason is longer than 500 characters")
    } else {
        Ok(r)
    }
}

/// Checks a role and TIN against the organization and the manager's own
/// scope.
fn check_grant(m: &Managed, role: &str, tin: &str) -> Result<(), &'static str> {
    if role == ADMIN_ROLE {
        return Err("gatehouse_admin is granted by the gateway's operator only");
    }
    if !m.org.grantable_roles().iter().any(|r| r == role) {
        return Err("not a role of this organization");
    }
    if !tin.is_empty() && !m.org.tins.iter().any(|t| t == tin) {
        return Err("not a TIN of this organization");
    }
    if m.tin.as_deref().is_some_and(|mine| mine != tin) {
        return Err("a manager limited to one TIN grants and revokes roles of that TIN only");
    }
    Ok(())
}

/// After a change of roles: sessions carry the new roles at once (the
/// forward-auth headers), tokens at their next issue.
async fn roles_changed(p: &Provider, account_id: &str) {
    let (roles, tin_roles) = match p.accounts.by_id(account_id).await {
        Ok(Some(a)) => (a.roles(), a.tin_roles()),
        Ok(None) => return,
        Err(e) => return log_store_error(&e),
    };
    if let Err(e) = p.sessions.set_roles(account_id, &roles, &tin_roles).await {
        log_store_error(&e);
    }
}

/// A role check's refusal: `not_permitted` for gatehouse_admin (a
/// privilege question), `invalid_request` otherwise.
async fn refused(p: &Provider, m: &Managed, role: &str, why: &str, ctx: &RequestContext) -> Failure {
    let code = if role == ADMIN_ROLE {
        FailureCode::NotPermitted
    } else {
        FailureCode::InvalidRequest
    };
    fail(p, ctx, code, Some(&m.actor), why).await
}

pub async fn grant(
    p: &Provider,
    m: &Managed,
    username: &str,
    role: &str,
    tin: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    change_role(p, m, (username, role, tin), reason, true, ctx).await
}

pub async fn revoke(
    p: &Provider,
    m: &Managed,
    username: &str,
    role: &str,
    tin: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    change_role(p, m, (username, role, tin), reason, false, ctx).await
}

/// Grants or revokes `(username, role, tin)`; the member's sessions carry
/// the change at once, then the history records it.
async fn change_role(
    p: &Provider,
    m: &Managed,
    (username, role, tin): (&str, &str, &str),
    reason: &str,
    grant: bool,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let reason = match need_reason(reason) {
        Ok(r) => r,
        Err(why) => return Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&m.actor), why).await),
    };
    if let Err(why) = check_grant(m, role, tin) {
        return Err(refused(p, m, role, why, ctx).await);
    }
    let a = subject(p, m, username, ctx).await?;
    let sql = p.accounts.sql();
    let changed = if grant {
        sql.grant_role(&Grant {
            account_id: a.id.as_str().to_string(),
            org_id: m.org.id.clone(),
            role: role.into(),
            tin: tin.into(),
            granted_at: p.clock.now(),
            granted_by: m.actor.clone(),
            last_used_at: None,
        })
        .await
    } else {
        sql.revoke_role(a.id.as_str(), &m.org.id, role, tin).await
    };
    match changed {
        Ok(true) => roles_changed(p, a.id.as_str()).await,
        Ok(false) => {
            let why = if grant {
                "the member already holds this role"
            } else {
                "the member does not hold this role"
            };
            return Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&m.actor), why).await);
        }
        Err(e) => return Err(unavailable(p, ctx, e).await),
    }
    let action = if grant { "grant" } else { "revoke" };
    let subject = (a.username.as_str(), Some(a.id.as_str()));
    if let Err(e) = record(p, m, action, subject, Some(role), Some(tin), reason).await {
        return Err(unavailable(p, ctx, e).await);
    }
    Ok(())
}

/// Ends every session of an account and the refresh tokens they produced.
async fn end_sessions(p: &Provider, account_id: &str) -> Result<usize, crate::store::Error> {
    Ok(p.end_every_session(account_id).await?.sessions)
}

/// Disables (or with `enable`, re-enables) a member; disabling ends their
/// sessions.
pub async fn set_disabled(
    p: &Provider,
    m: &Managed,
    username: &str,
    disable: bool,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let reason = match need_reason(reason) {
        Ok(r) => r,
        Err(why) => return Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&m.actor), why).await),
    };
    let a = whole_account(p, m, username, ctx).await?;
    let status = if disable { Status::Disabled } else { Status::Active };
    if let Err(e) = p.accounts.set_status(&a.id, status).await {
        return Err(unavailable(p, ctx, e).await);
    }
    if disable && let Err(e) = end_sessions(p, a.id.as_str()).await {
        return Err(unavailable(p, ctx, e).await);
    }
    let action = if disable { "disable" } else { "enable" };
    if let Err(e) = record(p, m, action, (&a.username, Some(a.id.as_str())), None, None, reason).await {
        return Err(unavailable(p, ctx, e).await);
    }
    Ok(())
}

pub async fn unlock(
    p: &Provider,
    m: &Managed,
    username: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let reason = if reason.trim().is_empty() {
        "unlocked on request"
    } else {
        reason.trim()
    };
    let a = whole_account(p, m, username, ctx).await?;
    if let Err(e) = p.accounts.unlock(&a.username).await {
        return Err(unavailable(p, ctx, e).await);
    }
    if let Err(e) = record(p, m, "unlock", (&a.username, Some(a.id.as_str())), None, None, reason).await {
        return Err(unavailable(p, ctx, e).await);
    }
    Ok(())
}

/// Removes every second factor of a member; their sessions end, and the
/// next login enrolls again.
pub async fn reset_mfa(
    p: &Provider,
    m: &Managed,
    username: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let reason = match need_reason(reason) {
        Ok(r) => r,
        Err(why) => return Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&m.actor), why).await),
    };
    let a = whole_account(p, m, username, ctx).await?;
    if let Err(e) = p.accounts.sql().reset_mfa(a.id.as_str()).await {
        return Err(unavailable(p, ctx, e).await);
    }
    if let Err(e) = end_sessions(p, a.id.as_str()).await {
        return Err(unavailable(p, ctx, e).await);
    }
    if let Err(e) = record(
        p,
        m,
        "mfa_reset",
        (&a.username, Some(a.id.as_str())),
        None,
        None,
        reason,
    )
    .await
    {
        return Err(unavailable(p, ctx, e).await);
    }
    Ok(())
}

/// Invites `email` into the organization with `role` (and `tin`); the link
/// goes by email. Returns the address.
pub async fn invite(
    p: &Provider,
    m: &Managed,
    email: &str,
    role: &str,
    tin: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<String, Failure> {
    if let Err(why) = check_grant(m, role, tin) {
        return Err(refused(p, m, role, why, ctx).await);
    }
    let Ok(address) = EmailAddress::parse(email) else {
        return Err(fail(
            p,
            ctx,
            FailureCode::InvalidRequest,
            Some(&m.actor),
            "not an email address",
        )
        .await);
    };
    let invitation = crate::accounts::Invitation {
        email: address.as_str().to_string(),
        account_type: m.org.account_type,
        org: Some(m.org.id.clone()),
        roles: vec![role.to_string()],
        tin: (!tin.is_empty()).then(|| tin.to_string()),
        invited_by: m.actor.clone(),
        valid_for: std::time::Duration::from_secs(7 * 86_400),
    };
    send_invitation(p, m, &invitation, "invite", reason, ctx).await?;
    Ok(address.as_str().to_string())
}

async fn send_invitation(
    p: &Provider,
    m: &Managed,
    invitation: &crate::accounts::Invitation,
    action: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let token = match p.accounts.invite(invitation, &p.cfg.orgs).await {
        Ok(t) => t,
        Err(crate::accounts::CreateError::Store(e)) => return Err(unavailable(p, ctx, e).await),
        Err(e) => return Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&m.actor), &e.to_string()).await),
    };
    let link = format!(
        "{}/activate/invite?t={token}",
        p.cfg.server.public_url.as_str().trim_end_matches('/')
    );
    let body = format!(
        "{} invited you to sign in to {}'s portals.\n\nOpen this link to choose your username and password (valid 7 days, once):\n{link}\n",
        m.actor, m.org.name
    );
    if let Err(answer) = p
        .mfa
        .delivery()
        .email(&invitation.email, "Your invitation", &body)
        .await
    {
        let ev = Event::failure(FailureCode::MfaDeliveryFailed)
            .org(Some(m.org.id.clone()))
            .detail("purpose", "invitation")
            .detail("answer", answer);
        return Err(Failure::new(
            FailureCode::MfaDeliveryFailed,
            p.audit.record(ev, ctx).await,
        ));
    }
    let reason = if reason.trim().is_empty() {
        "invitation"
    } else {
        reason.trim()
    };
    let role = invitation.roles.first().map(String::as_str);
    if let Err(e) = record(
        p,
        m,
        action,
        (&invitation.email, None),
        role,
        invitation.tin.as_deref(),
        reason,
    )
    .await
    {
        return Err(unavailable(p, ctx, e).await);
    }
    p.audit
        .record(
            Event::new("invitation_sent")
                .org(Some(m.org.id.clone()))
                .detail("by", m.actor.clone())
                .detail("role", role.unwrap_or_default().to_string()),
            ctx,
        )
        .await;
    Ok(())
}

pub async fn pending_invitations(p: &Provider, m: &Managed) -> Result<Vec<PendingInvitation>, crate::store::Error> {
    p.accounts.sql().pending_invitations(&m.org.id, p.clock.now()).await
}

async fn pending(p: &Provider, m: &Managed, digest: &str, ctx: &RequestContext) -> Result<PendingInvitation, Failure> {
    match pending_invitations(p, m).await {
        Ok(list) => match list.into_iter().find(|i| i.digest == digest) {
            Some(i) => Ok(i),
            None => Err(fail(
                p,
                ctx,
                FailureCode::InvalidRequest,
                Some(&m.actor),
                "no pending invitation of this organization",
            )
            .await),
        },
        Err(e) => Err(unavailable(p, ctx, e).await),
    }
}

/// Revokes a pending invitation (its link stops working).
pub async fn revoke_invitation(
    p: &Provider,
    m: &Managed,
    digest: &str,
    reason: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let inv = pending(p, m, digest, ctx).await?;
    match p
        .accounts
        .sql()
        .revoke_invitation(digest, &m.org.id, p.clock.now())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                p,
                ctx,
                FailureCode::InvalidRequest,
                Some(&m.actor),
                "invitation already used or revoked",
            )
            .await);
        }
        Err(e) => return Err(unavailable(p, ctx, e).await),
    }
    let reason = if reason.trim().is_empty() {
        "revoked"
    } else {
        reason.trim()
    };
    let role = inv.roles.first().map(String::as_str);
    if let Err(e) = record(
        p,
        m,
        "invite_revoked",
        (&inv.email, None),
        role,
        inv.tin.as_deref(),
        reason,
    )
    .await
    {
        return Err(unavailable(p, ctx, e).await);
    }
    Ok(())
}

/// Sends a pending invitation again with a fresh link (the old one stops
/// working).
pub async fn resend_invitation(
    p: &Provider,
    m: &Managed,
    digest: &str,
    ctx: &RequestContext,
) -> Result<String, Failure> {
    let inv = pending(p, m, digest, ctx).await?;
    if let Err(e) = p
        .accounts
        .sql()
        .revoke_invitation(digest, &m.org.id, p.clock.now())
        .await
    {
        return Err(unavailable(p, ctx, e).await);
    }
    let invitation = crate::accounts::Invitation {
        email: inv.email.clone(),
        account_type: m.org.account_type,
        org: Some(m.org.id.clone()),
        roles: inv.roles.clone(),
        tin: inv.tin.clone(),
        invited_by: m.actor.clone(),
        valid_for: std::time::Duration::from_secs(7 * 86_400),
    };
    send_invitation(p, m, &invitation, "invite_resent", "sent again", ctx).await?;
    Ok(inv.email)
}

/// An accepted invitation (the account was created with its roles in the
/// invitation's TIN): the history says who was invited by whom.
pub async fn invitation_accepted(
    p: &Provider,
    org_id: &str,
    invited_by: &str,
    tin: Option<&str>,
    account: &Account,
) -> Result<(), crate::store::Error> {
    let Some(org) = p.cfg.org(org_id).cloned() else {
        return Ok(());
    };
    let m = Managed::operator(org, invited_by);
    for role in account.roles() {
        record(
            p,
            &m,
            "invitation_accepted",
            (&account.username, Some(account.id.as_str())),
            Some(&role),
            tin,
            "granted by invitation",
        )
        .await?;
    }
    Ok(())
}

pub async fn history(p: &Provider, m: &Managed, f: &HistoryFilter) -> Result<Vec<DelegationRow>, crate::store::Error> {
    p.accounts.sql().delegation_history(&m.org.id, f, 10_000).await
}

fn csv_field(v: &str) -> String {
    // A leading = + - @ would be a formula in a spreadsheet: quote and
    // neutralise it.
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) || v.starts_with('\'') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The history as CSV (RFC 4180), one line per entry, oldest first.
pub fn history_csv(rows: &[DelegationRow]) -> String {
    let mut out = String::from("time,organization,action,actor,subject,role,tin,reason\r\n");
    for r in rows {
        let fields = [
            crate::clock::rfc3339(r.at),
            r.org_id.clone(),
            r.action.clone(),
            r.actor.clone(),
            r.subject.clone(),
            r.role.clone().unwrap_or_default(),
            r.tin.clone().unwrap_or_default(),
            r.reason.clone(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// A member the access review flags.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    pub username: String,
    pub account_id: String,
    pub last_login_at: Option<i64>,
    /// No login for the period.
    pub inactive: bool,
    /// Roles not used (no portal needing them let the member in) for the
    /// period, granted before it began.
    pub unused: Vec<Grant>,
}

/// Members with no login for `days`, or holding roles unused for `days`.
pub async fn review(p: &Provider, m: &Managed, days: i64) -> Result<Vec<ReviewItem>, crate::store::Error> {
    let cutoff = p.clock.now() - days.max(1) * 86_400;
    let mut out = Vec::new();
    for member in members(p, m).await? {
        let inactive = member.last_login_at.is_none_or(|t| t < cutoff);
        // A role counts as used when a portal requiring it admits the
        // member; roles no portal requires (access_manager, for one) cannot
        // be judged that way and are left out.
        let unused: Vec<Grant> = member
            .grants
            .iter()
            .filter(|g| p.cfg.portals.iter().any(|x| x.roles.contains(&g.role)))
            .filter(|g| g.granted_at < cutoff && g.last_used_at.is_none_or(|t| t < cutoff))
            .cloned()
            .collect();
        if inactive || !unused.is_empty() {
            out.push(ReviewItem {
                username: member.username,
                account_id: member.account_id,
                last_login_at: member.last_login_at,
                inactive,
                unused,
            });
        }
    }
    Ok(out)
}

/// Accounts are individual: a login while the account has a live session
/// from another address and browser is reported as a likely shared login,
/// and, by the organization's policy, either ends the others or is refused.
pub async fn concurrent_login(
    p: &Provider,
    account: &Account,
    new: &Session,
    previous_sid: Option<&crate::session::SessionId>,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let live = match p.sessions.live_for_account(account.id.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            // Detection is a report, not a gate, unless the org refuses.
            log_store_error(&e);
            return Ok(());
        }
    };
    let previous = previous_sid.map(|s| s.handle());
    let others: Vec<_> = live
        .iter()
        .filter(|(h, _)| previous.as_ref() != Some(h))
        // Sessions from before addresses were recorded say nothing.
        .filter(|(_, s)| s.ip.is_some())
        .filter(|(_, s)| s.ip != new.ip || s.device != new.device)
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    let org = account.org().and_then(|o| p.cfg.org(o));
    let policy = org.map_or(ConcurrentSessions::Allow, |o| o.concurrent_sessions);
    let addresses: Vec<String> = others.iter().filter_map(|(_, s)| s.ip.clone()).collect();
    p.audit
        .record(
            Event::new("shared_login_suspected")
                .account(account.id.as_str())
                .username(account.username.clone())
                .org(account.org().map(String::from))
                .detail("other_sessions", others.len())
                .detail("other_addresses", addresses.join(", "))
                .detail("this_address", new.ip.clone().unwrap_or_default())
                .detail(
                    "policy",
                    match policy {
                        ConcurrentSessions::Allow => "allow",
                        ConcurrentSessions::EndOthers => "end_others",
                        ConcurrentSessions::Refuse => "refuse",
                    },
                ),
            ctx,
        )
        .await;
    metrics::counter!("gatehouse_shared_login_suspected_total").increment(1);
    // Under `refuse`, a login that proved a second factor is the account's
    // owner: it ends the other sessions rather than being locked out by a
    // device left signed in.
    let end_others = match policy {
        ConcurrentSessions::Allow => return Ok(()),
        ConcurrentSessions::EndOthers => true,
        ConcurrentSessions::Refuse => new.mfa && new.aal >= 2,
    };
    if end_others {
        for (h, _) in others {
            if let Err(e) = p.sessions.delete(h).await {
                log_store_error(&e);
            }
            if let Err(e) = p.revoke_session_families(&h.0).await {
                log_store_error(&e);
            }
        }
        return Ok(());
    }
    let e = Event::failure(FailureCode::ConcurrentSession)
        .account(account.id.as_str())
        .username(account.username.clone())
        .org(account.org().map(String::from))
        .detail("expected", "no live session from another address or browser")
        .detail(
            "actual",
            format!("{} other session(s) from {}", addresses.len(), addresses.join(", ")),
        );
    Err(Failure::new(
        FailureCode::ConcurrentSession,
        p.audit.record(e, ctx).await,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SHIPPED};

    fn managed(tin: Option<&str>) -> Managed {
        let cfg = Config::from_toml_str("t", SHIPPED, Vec::new()).unwrap();
        let mut org = cfg.orgs[0].clone();
        org.tins = vec!["12-3456789".into(), "98-7654321".into()];
        Managed {
            org,
            actor: "ann".into(),
            actor_id: String::new(),
            tin: tin.map(String::from),
            gateway_admin: false,
        }
    }

    #[test]
    fn grants_stay_inside_the_managers_scope() {
        let org_wide = managed(None);
        assert!(check_grant(&org_wide, "billing", "").is_ok());
        assert!(check_grant(&org_wide, "billing", "98-7654321").is_ok());
        assert!(check_grant(&org_wide, "gatehouse_admin", "").is_err());
        assert!(check_grant(&org_wide, "superuser", "").is_err());
        assert!(check_grant(&org_wide, "billing", "00-0000000").is_err());
        let one_tin = managed(Some("12-3456789"));
        assert!(check_grant(&one_tin, "billing", "12-3456789").is_ok());
        assert!(
            check_grant(&one_tin, "billing", "").is_err(),
            "no organization-wide grant"
        );
        assert!(check_grant(&one_tin, "billing", "98-7654321").is_err());
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes_fields() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("\t@SUM(A1)"), "\"'\t@SUM(A1)\"");
    }
}
