//! The account's own security page: which second factors it has, which one
//! is preferred, adding and removing them. Every change needs a recent
//! authentication (re-entering the password), and a new phone number or
//! email address is used only after a code sent to it came back. Changes
//! bump the account's MFA version, so remembered devices ask again.

use crate::accounts::{Account, EmailAddress, Password, PhoneNumber, Username};
use crate::audit::{Event, RequestContext};
use crate::diagnostics::FailureCode;
use crate::mfa::{self, Kind};
use crate::provider::Provider;
use crate::session::{Session, SessionHandle, SessionId};

use super::{Failure, unavailable};

/// How recent an authentication must be to change sign-in methods.
pub const REAUTH_WINDOW: i64 = 600;

pub struct Viewer {
    pub handle: SessionHandle,
    pub session: Session,
    pub account: Account,
}

async fn fail(p: &Provider, ctx: &RequestContext, code: FailureCode, account: Option<&Account>, why: &str) -> Failure {
    let mut e = Event::failure(code).detail("reason", why);
    if let Some(a) = account {
        e = e.account(a.id.as_str()).username(a.username.clone());
    }
    Failure::new(code, p.audit.record(e, ctx).await)
}

pub async fn viewer(p: &Provider, sid: Option<SessionId>, ctx: &RequestContext) -> Result<Viewer, Failure> {
    let Some(sid) = sid else {
        return Err(fail(p, ctx, FailureCode::SessionRequired, None, "no session cookie").await);
    };
    let (handle, session) = match p.sessions.get(&sid).await {
        Ok(Some(x)) => x,
        Ok(None) => return Err(fail(p, ctx, FailureCode::SessionRequired, None, "session expired or ended").await),
        Err(e) => return Err(fail(p, ctx, FailureCode::ServiceUnavailable, None, &e.to_string()).await),
    };
    match p.accounts.by_id(&session.account_id).await {
        Ok(Some(account)) => Ok(Viewer {
            handle,
            session,
            account,
        }),
        Ok(None) => Err(fail(p, ctx, FailureCode::SessionRequired, None, "account gone").await),
        Err(e) => Err(fail(p, ctx, FailureCode::ServiceUnavailable, None, &e.to_string()).await),
    }
}

pub fn fresh(p: &Provider, v: &Viewer) -> bool {
    p.clock.now() - v.session.auth_time <= REAUTH_WINDOW
}

/// Re-authenticates with the password (failures count toward lockout).
pub async fn reauthenticate(
    p: &Provider,
    v: &Viewer,
    password: &Password,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let Ok(username) = Username::parse(&v.account.username) else {
        return Err(fail(
            p,
            ctx,
            FailureCode::InvalidCredentials,
            Some(&v.account),
            "username unparseable",
        )
        .await);
    };
    match p.accounts.authenticate(&username, password).await {
        Ok(_) => match p.sessions.reauthenticated(&v.handle, p.clock.now()).await {
            Ok(true) => Ok(()),
            // Ended while the password was checked (an admin, another
            // device's "sign out everywhere"): it stays ended.
            Ok(false) => Err(fail(
                p,
                ctx,
                FailureCode::SessionRequired,
                Some(&v.account),
                "session ended during re-authentication",
            )
            .await),
            Err(e) => Err(fail(
                p,
                ctx,
                FailureCode::ServiceUnavailable,
                Some(&v.account),
                &e.to_string(),
            )
            .await),
        },
        Err(crate::accounts::AuthError::Locked { until, .. }) => Err(fail(
            p,
            ctx,
            FailureCode::AccountLocked,
            Some(&v.account),
            "locked at re-authentication",
        )
        .await
        .detail(format!("Locked until {}.", crate::clock::hh_mm_utc(until)))),
        Err(_) => Err(fail(
            p,
            ctx,
            FailureCode::InvalidCredentials,
            Some(&v.account),
            "wrong password at re-authentication",
        )
        .await),
    }
}

async fn require_fresh(p: &Provider, v: &Viewer, ctx: &RequestContext) -> Result<(), Failure> {
    if fresh(p, v) {
        Ok(())
    } else {
        Err(fail(
            p,
            ctx,
            FailureCode::ReauthenticationRequired,
            Some(&v.account),
            "authentication older than the window",
        )
        .await)
    }
}

async fn mfa_fail(p: &Provider, ctx: &RequestContext, v: &Viewer, e: &mfa::Error) -> Failure {
    let mut f = fail(p, ctx, e.code(), Some(&v.account), &e.to_string()).await;
    if let mfa::Error::RateLimited { retry_after, .. } = e {
        f = f.detail(format!("You can ask for a new code in {retry_after} seconds."));
    }
    f
}

async fn changed(p: &Provider, ctx: &RequestContext, v: &Viewer, kind: &'static str, detail: &str) {
    p.audit
        .record(
            Event::new(kind)
                .account(v.account.id.as_str())
                .username(v.account.username.clone())
                .detail("method", detail.to_string()),
            ctx,
        )
        .await;
}

pub async fn set_preferred(p: &Provider, v: &Viewer, method_id: &str, ctx: &RequestContext) -> Result<(), Failure> {
    require_fresh(p, v, ctx).await?;
    match p.mfa.set_preferred(v.account.id.as_str(), method_id).await {
        Ok(true) => {
            changed(p, ctx, v, "mfa_preferred", method_id).await;
            Ok(())
        }
        Ok(false) => Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&v.account), "no such method").await),
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

pub async fn remove(p: &Provider, v: &Viewer, method_id: &str, ctx: &RequestContext) -> Result<(), Failure> {
    require_fresh(p, v, ctx).await?;
    match p.mfa.remove(v.account.id.as_str(), method_id).await {
        Ok(true) => {
            changed(p, ctx, v, "mfa_removed", method_id).await;
            Ok(())
        }
        Ok(false) => Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&v.account), "no such method").await),
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

pub async fn totp_start(p: &Provider, v: &Viewer, ctx: &RequestContext) -> Result<mfa::totp::Enrollment, Failure> {
    require_fresh(p, v, ctx).await?;
    match p.mfa.begin_totp(v.account.id.as_str(), &v.account.username).await {
        Ok(e) => Ok(e),
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

pub async fn totp_confirm(
    p: &Provider,
    v: &Viewer,
    method_id: &str,
    code: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    require_fresh(p, v, ctx).await?;
    match p.mfa.confirm_totp(v.account.id.as_str(), method_id, code).await {
        Ok(()) => {
            changed(p, ctx, v, "mfa_enrolled", "totp").await;
            Ok(())
        }
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

/// Sends a code to a new phone number or email address; it becomes a method
/// only when the code comes back.
pub async fn oob_start(
    p: &Provider,
    v: &Viewer,
    kind: Kind,
    target: &str,
    ctx: &RequestContext,
) -> Result<(String, String), Failure> {
    require_fresh(p, v, ctx).await?;
    let parsed = match kind {
        Kind::Sms => PhoneNumber::parse(target).map(|x| x.as_str().to_string()),
        _ => EmailAddress::parse(target).map(|x| x.as_str().to_string()),
    };
    let target = match parsed {
        Ok(t) => t,
        Err(why) => {
            return Err(fail(p, ctx, FailureCode::InvalidRequest, Some(&v.account), why)
                .await
                .detail(why));
        }
    };
    match p
        .mfa
        .begin_oob(v.account.id.as_str(), kind, &target, ctx.ip.as_deref())
        .await
    {
        Ok(x) => Ok(x),
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

pub async fn oob_confirm(
    p: &Provider,
    v: &Viewer,
    method_id: &str,
    code: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    require_fresh(p, v, ctx).await?;
    match p.mfa.verify_code(v.account.id.as_str(), method_id, code, true).await {
        Ok(kind) => {
            changed(p, ctx, v, "mfa_enrolled", kind.as_str()).await;
            Ok(())
        }
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

pub async fn backup_codes(p: &Provider, v: &Viewer, ctx: &RequestContext) -> Result<Vec<String>, Failure> {
    require_fresh(p, v, ctx).await?;
    match p.mfa.new_backup_codes(v.account.id.as_str()).await {
        Ok(c) => {
            changed(p, ctx, v, "mfa_backup_codes_renewed", "backup_code").await;
            Ok(c)
        }
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

/// Passkey registration options for the signed-in account.
pub async fn passkey_start(
    p: &Provider,
    v: &Viewer,
    ctx: &RequestContext,
) -> Result<webauthn_rs::prelude::CreationChallengeResponse, Failure> {
    require_fresh(p, v, ctx).await?;
    let Some(wa) = p.webauthn.as_deref() else {
        return Err(fail(
            p,
            ctx,
            FailureCode::ServiceUnavailable,
            Some(&v.account),
            "WebAuthn needs public_url on a domain name",
        )
        .await);
    };
    match p
        .mfa
        .begin_webauthn_registration(wa, v.account.id.as_str(), &v.account.username)
        .await
    {
        Ok(c) => Ok(c),
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

pub async fn passkey_finish(
    p: &Provider,
    v: &Viewer,
    credential: &str,
    nickname: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    require_fresh(p, v, ctx).await?;
    let Some(wa) = p.webauthn.as_deref() else {
        return Err(fail(
            p,
            ctx,
            FailureCode::ServiceUnavailable,
            Some(&v.account),
            "WebAuthn is not available",
        )
        .await);
    };
    let parsed: Result<webauthn_rs::prelude::RegisterPublicKeyCredential, _> = serde_json::from_str(credential);
    let result = match parsed {
        Ok(reg) => {
            p.mfa
                .finish_webauthn_registration(wa, v.account.id.as_str(), &reg, nickname)
                .await
        }
        Err(_) => Err(mfa::Error::CodeInvalid {
            attempts_left: mfa::MAX_FAILURES,
            detail: "the browser sent no usable credential",
        }),
    };
    match result {
        Ok(()) => {
            changed(p, ctx, v, "mfa_enrolled", "webauthn").await;
            Ok(())
        }
        Err(e) => Err(mfa_fail(p, ctx, v, &e).await),
    }
}

/// One person of an access manager's organization, as the people page shows.
#[derive(Debug, Clone)]
pub struct Person {
    pub username: String,
    pub status: &'static str,
    /// `HH:MM UTC` while the username is locked.
    pub locked_until: Option<String>,
}

/// The organization `v` manages (role `access_manager`), or `not_permitted`.
async fn managed_org(p: &Provider, v: &Viewer, ctx: &RequestContext) -> Result<String, Failure> {
    match v.account.memberships.iter().find(|m| m.role == "access_manager") {
        Some(m) => Ok(m.org_id.clone()),
        None => Err(fail(
            p,
            ctx,
            FailureCode::NotPermitted,
            Some(&v.account),
            "not an access manager",
        )
        .await),
    }
}

/// The people of the viewer's organization, locked ones first.
pub async fn people(p: &Provider, v: &Viewer, ctx: &RequestContext) -> Result<(String, Vec<Person>), Failure> {
    let org = managed_org(p, v, ctx).await?;
    let all = match p.accounts.list().await {
        Ok(a) => a,
        Err(e) => return Err(unavailable(p, ctx, e).await),
    };
    let now = p.clock.now();
    let mut out = Vec::new();
    for a in all.into_iter().filter(|a| a.org() == Some(org.as_str())) {
        let rec = match p.accounts.failure_record(&a.username).await {
            Ok(r) => r,
            Err(e) => return Err(unavailable(p, ctx, e).await),
        };
        out.push(Person {
            locked_until: crate::accounts::lockout::locked_until(&rec, now).map(crate::clock::hh_mm_utc),
            status: a.status.as_str(),
            username: a.username,
        });
    }
    out.sort_by(|a, b| (a.locked_until.is_none(), &a.username).cmp(&(b.locked_until.is_none(), &b.username)));
    Ok((org, out))
}

/// The organization a viewer manages, as `org_admin` acts on it.
async fn managed(p: &Provider, v: &Viewer, ctx: &RequestContext) -> Result<super::org_admin::Managed, Failure> {
    let org_id = managed_org(p, v, ctx).await?;
    match p.cfg.org(&org_id) {
        Some(org) => Ok(super::org_admin::Managed::of(org.clone(), &v.account, false)),
        None => Err(fail(
            p,
            ctx,
            FailureCode::NotPermitted,
            Some(&v.account),
            "organization no longer configured",
        )
        .await),
    }
}

/// An access manager unlocks a person of their own organization.
pub async fn unlock_person(p: &Provider, v: &Viewer, username: &str, ctx: &RequestContext) -> Result<(), Failure> {
    let m = managed(p, v, ctx).await?;
    super::org_admin::unlock(p, &m, username, "unlocked from the people page", ctx).await
}

/// Roles an access manager may grant with an invitation.
pub const INVITABLE_ROLES: &[&str] = crate::config::ORG_ROLES;

/// An access manager invites someone into their organization by email.
pub async fn invite_person(
    p: &Provider,
    v: &Viewer,
    email: &str,
    role: &str,
    ctx: &RequestContext,
) -> Result<String, Failure> {
    let m = managed(p, v, ctx).await?;
    super::org_admin::invite(p, &m, email, role, "", "invited from the people page", ctx).await
}
