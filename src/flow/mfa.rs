//! The second-factor step of a login, between a successful first factor
//! (password or an IdP) and the session.
//!
//! Whether it is asked: the portal's `mfa = "required"`, or the account's
//! organization policy (`always`; `trust_idp` unless the IdP asserted MFA;
//! `risk_based` on a device not remembered; `portal`: the portal decides),
//! or — on an `optional` portal — because the account enrolled a factor. A
//! remembered device (signed cookie, revoked whenever the account's methods
//! change) skips it except where the IdP's own MFA is the reason to trust.
//! An account that must use MFA but has none enrolls TOTP on the spot.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::accounts::Account;
use crate::audit::{Event, RequestContext};
use crate::config::{OrgMfa, PortalMfa};
use crate::diagnostics::FailureCode;
use crate::mfa::{self, Kind};
use crate::provider::Provider;
use crate::session::SessionId;

use super::login::{Completed, LoginTx, PasswordOutcome, complete, save_tx};
use super::{Failure, log_store_error, session_for};

/// amr values that mean the upstream IdP did MFA (RFC 8176).
const MFA_AMR: &[&str] = &["mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris"];

/// A first factor that succeeded, waiting for the second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub account_id: String,
    pub org: Option<String>,
    pub amr: Vec<String>,
    pub acr: String,
    pub upstream_roles: Vec<String>,
    /// What the login_success event should say about the first factor.
    pub detail: Map<String, Value>,
    /// The TOTP method being enrolled, if any.
    #[serde(default)]
    pub enrolling: Option<String>,
    /// Set once the second factor is proven (enrollment shows backup codes
    /// before the login completes).
    #[serde(default)]
    pub second_factor: Option<String>,
    /// The assurance level the second factor must reach here.
    #[serde(default)]
    pub required_aal: u8,
    /// Enrollment is offered only to an account that must use MFA and has
    /// no method reaching `required_aal`: otherwise someone holding just the
    /// password could enroll their own authenticator and walk in.
    #[serde(default)]
    pub may_enroll: bool,
    /// The assurance already established without a gateway factor: the
    /// IdP's MFA under `trust_idp`, or a remembered device.
    #[serde(default)]
    pub established_aal: u8,
    /// The account has methods, but none strong enough here: proving one
    /// of them unlocks enrolling a stronger one (never skips it).
    #[serde(default)]
    pub enroll_after: bool,
    /// The password was right but too old: it must be changed first.
    #[serde(default)]
    pub must_change_password: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Need {
    None,
    Verify,
    Enroll,
}

async fn need(p: &Provider, tx: &LoginTx, pending: &mut Pending, ctx: &RequestContext) -> Result<Need, mfa::Error> {
    let portal = p.cfg.portal(&tx.request.client_id);
    let portal_requires = portal.is_some_and(|pt| pt.mfa == PortalMfa::Required);
    let idp_did_mfa = pending.amr.iter().any(|a| MFA_AMR.contains(&a.as_str()));
    let policy = pending.org.as_deref().and_then(|o| p.cfg.org(o)).map(|o| o.mfa);
    let enrolled = p.mfa.enrolled(&pending.account_id).await?;
    let version = p.mfa.version(&pending.account_id).await?;
    let remembered_aal = ctx
        .remembered_device
        .as_deref()
        .and_then(|t| p.mfa.remembers(t, &pending.account_id, version))
        .unwrap_or(0);
    let remembered = remembered_aal > 0;

    if idp_did_mfa && policy == Some(OrgMfa::TrustIdp) {
        pending.established_aal = 2;
        return Ok(Need::None);
    }
    let org_requires = match policy {
        Some(OrgMfa::Always) | Some(OrgMfa::TrustIdp) => true,
        Some(OrgMfa::RiskBased) => !remembered,
        Some(OrgMfa::Portal) | None => false,
    };
    let required = portal_requires || org_requires;
    // An organization's rule means AAL2; a portal says what it needs.
    pending.required_aal = match (org_requires, portal_requires) {
        (true, _) => 2,
        (false, true) => portal.map(|pt| pt.mfa_aal).unwrap_or(2),
        (false, false) => 1,
    };
    if remembered_aal >= pending.required_aal.max(1) && enrolled.any_at(pending.required_aal) {
        pending.established_aal = remembered_aal;
        return Ok(Need::None);
    }
    Ok(
        match (required, enrolled.any(), enrolled.any_at(pending.required_aal)) {
            (_, _, true) => Need::Verify,
            // Has only weaker methods: prove one, then enroll a stronger.
            (true, true, false) => {
                pending.enroll_after = true;
                Need::Verify
            }
            (true, false, false) => Need::Enroll,
            (false, true, false) => Need::Verify,
            (false, false, false) => Need::None,
        },
    )
}

async fn unavailable(p: &Provider, ctx: &RequestContext, cause: String) -> Failure {
    tracing::error!(cause = %cause, "MFA step failed on the store");
    let reference = p
        .audit
        .record(
            Event::failure(FailureCode::ServiceUnavailable).detail("cause", cause),
            ctx,
        )
        .await;
    Failure::new(FailureCode::ServiceUnavailable, reference)
}

/// After the first factor: ask for the second, enroll one, or finish.
pub async fn after_primary(
    p: &Provider,
    mut tx: LoginTx,
    account: &Account,
    mut pending: Pending,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let need = match need(p, &tx, &mut pending, ctx).await {
        Ok(n) => n,
        Err(e) => return PasswordOutcome::Page(unavailable(p, ctx, e.to_string()).await),
    };
    if need == Need::None {
        return match finish(p, &tx, account, pending, previous, ctx).await {
            Ok(done) => PasswordOutcome::Completed(done),
            Err(f) => PasswordOutcome::Page(f),
        };
    }
    pending.may_enroll = need == Need::Enroll;
    tx.pending = Some(pending);
    if let Err(e) = save_tx(p, &tx).await {
        log_store_error(&e);
        return PasswordOutcome::Page(unavailable(p, ctx, e.to_string()).await);
    }
    let path = if need == Need::Enroll { "/mfa/enroll" } else { "/mfa" };
    PasswordOutcome::Continue(format!("{path}?tx={}", tx.id))
}

/// Completes the login: session, code, success event.
pub async fn finish(
    p: &Provider,
    tx: &LoginTx,
    account: &Account,
    pending: Pending,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> Result<Completed, Failure> {
    let mut amr = pending.amr.clone();
    // The gateway's own assurance: what its second factor reached, or what
    // was established without one (trusted IdP MFA, remembered device). An
    // upstream amr alone proves nothing here.
    let mut aal = pending.established_aal.max(1);
    if let Some(kind) = pending.second_factor.as_deref().and_then(Kind::parse) {
        for a in [kind.amr(), "mfa"] {
            if !amr.iter().any(|x| x == a) {
                amr.push(a.to_string());
            }
        }
        aal = aal.max(kind.aal());
    }
    let mfa = pending.second_factor.is_some() || pending.established_aal > 0;
    let mut session = session_for(
        account,
        pending.org.clone(),
        amr.clone(),
        (aal, mfa),
        pending.upstream_roles.clone(),
        p.clock.now(),
    );
    session.ip = ctx.ip.clone();
    session.device = crate::session::device_of(ctx.user_agent.as_deref());
    super::org_admin::concurrent_login(p, account, &session, previous.as_ref(), ctx).await?;
    match complete(p, tx, session, previous).await {
        Ok(done) => {
            let mut event = Event::new("login_success")
                .account(account.id.as_str())
                .username(account.username.clone())
                .client(tx.request.client_id.clone())
                .org(pending.org.clone())
                .detail("amr", amr.join(" "));
            for (k, v) in pending.detail {
                event = event.detail(&k, v);
            }
            p.audit.record(event, ctx).await;
            metrics::counter!("gatehouse_logins_total", "outcome" => "success").increment(1);
            Ok(done)
        }
        Err(e) => {
            log_store_error(&e);
            Err(unavailable(p, ctx, e.to_string()).await)
        }
    }
}

/// The pending first factor of this transaction, and its account.
pub async fn pending_of(p: &Provider, tx: &LoginTx, ctx: &RequestContext) -> Result<(Pending, Account), Failure> {
    let expired = |why: &'static str| async move {
        let reference = p
            .audit
            .record(Event::failure(FailureCode::LoginExpired).detail("reason", why), ctx)
            .await;
        Failure::new(FailureCode::LoginExpired, reference)
    };
    let Some(pending) = tx.pending.clone() else {
        return Err(expired("second-factor step without a first factor").await);
    };
    if pending.must_change_password {
        return Err(expired("second-factor step before the expired password was changed").await);
    }
    match p.accounts.by_id(&pending.account_id).await {
        Ok(Some(a)) => Ok((pending, a)),
        Ok(None) => Err(expired("account vanished during the login").await),
        Err(e) => Err(unavailable(p, ctx, e.to_string()).await),
    }
}

async fn mfa_failure(
    p: &Provider,
    ctx: &RequestContext,
    account: &Account,
    tx: &LoginTx,
    e: &mfa::Error,
    method: &str,
) -> Failure {
    let code = e.code();
    let mut event = Event::failure(code)
        .account(account.id.as_str())
        .username(account.username.clone())
        .client(tx.request.client_id.clone())
        .detail("method", method)
        .detail("error", e.to_string());
    if let mfa::Error::CodeInvalid { attempts_left, detail } = e {
        event = event.detail("attempts_left", *attempts_left).detail("why", *detail);
    }
    metrics::counter!("gatehouse_mfa_failures_total", "method" => method.to_string(), "code" => code.as_str())
        .increment(1);
    let mut f = Failure::new(code, p.audit.record(event, ctx).await);
    match e {
        mfa::Error::Replayed => f = f.detail("That code was already used. Wait for the next one in your app."),
        mfa::Error::CodeInvalid { detail, .. } if detail.contains("clock") => {
            f = f.detail("That code belongs to another time: check the clock on your phone.")
        }
        mfa::Error::Locked { .. } => {
            f = f.detail("Too many wrong codes: ask your access manager to reset your sign-in methods.")
        }
        _ => {}
    }
    f
}

/// Outcome of a code submitted at the MFA step.
#[derive(Debug)]
pub enum Verified {
    Done(Completed, Option<String>),
    /// On to another step (enrolling a stronger method).
    Continue(String),
    Retry(Box<LoginTx>, Failure),
    Page(Failure),
}

/// Checks a TOTP or backup code; on success completes the login and, when
/// asked, returns a remember-device token.
/// A code as submitted on the MFA page.
#[derive(Debug)]
pub struct Submission<'a> {
    pub method: &'a str,
    pub method_id: Option<&'a str>,
    pub code: &'a str,
    pub remember: bool,
}

pub async fn verify(
    p: &Provider,
    tx: LoginTx,
    s: Submission<'_>,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> Verified {
    let Submission {
        method,
        method_id,
        code,
        remember,
    } = s;
    let (mut pending, account) = match pending_of(p, &tx, ctx).await {
        Ok(x) => x,
        Err(f) => return Verified::Page(f),
    };
    // For a phone or email method the kind is the stored one, never what
    // the form claims: an email code must not pass as an SMS code.
    let mut kind = Kind::parse(method).unwrap_or(Kind::Totp);
    if matches!(kind, Kind::Sms | Kind::Email) {
        kind = match method_id {
            Some(id) => match p.mfa.method(account.id.as_str(), id).await {
                Ok(Some(m)) if m.confirmed => Kind::parse(&m.kind).unwrap_or(Kind::Email),
                Ok(_) => Kind::Email,
                Err(e) => return Verified::Page(unavailable(p, ctx, e.to_string()).await),
            },
            None => Kind::Email,
        };
    }
    if kind.aal() < pending.required_aal && !pending.enroll_after {
        let e = mfa::Error::CodeInvalid {
            attempts_left: mfa::MAX_FAILURES,
            detail: "this method does not reach the assurance this portal requires",
        };
        let f = mfa_failure(p, ctx, &account, &tx, &e, kind.as_str()).await.detail(
            "Codes by email are not accepted here: use your authenticator app, a text message or a backup code.",
        );
        return Verified::Retry(Box::new(tx), f);
    }
    let result = match kind {
        Kind::Totp => p.mfa.verify_totp(account.id.as_str(), code).await,
        Kind::BackupCode => p.mfa.use_backup_code(account.id.as_str(), code).await.map(|_| ()),
        Kind::Sms | Kind::Email => match method_id {
            Some(id) => p
                .mfa
                .verify_code(account.id.as_str(), id, code, false)
                .await
                .map(|_| ()),
            None => Err(mfa::Error::NotEnrolled),
        },
        // Passkeys answer through their own ceremony (webauthn_auth_finish).
        Kind::WebAuthn => Err(mfa::Error::NotEnrolled),
    };
    if let Err(e) = result {
        let f = mfa_failure(p, ctx, &account, &tx, &e, kind.as_str()).await;
        return match e {
            mfa::Error::Locked { .. } | mfa::Error::Store(_) => Verified::Page(f),
            _ => Verified::Retry(Box::new(tx), f),
        };
    }
    if kind.aal() < pending.required_aal {
        // Proven possession of a weaker method: now enroll a stronger one.
        pending.enroll_after = false;
        pending.may_enroll = true;
        let mut tx = tx;
        tx.pending = Some(pending);
        if let Err(e) = save_tx(p, &tx).await {
            return Verified::Page(unavailable(p, ctx, e.to_string()).await);
        }
        return Verified::Continue(format!("/mfa/enroll?tx={}", tx.id));
    }
    pending.second_factor = Some(kind.as_str().to_string());
    let token = remember_token(p, account.id.as_str(), remember, kind.aal()).await;
    match finish(p, &tx, &account, pending, previous, ctx).await {
        Ok(done) => Verified::Done(done, token),
        Err(f) => Verified::Page(f),
    }
}

/// Starts (or restarts) TOTP enrollment for the pending account.
pub async fn begin_enroll(
    p: &Provider,
    mut tx: LoginTx,
    ctx: &RequestContext,
) -> Result<(LoginTx, mfa::totp::Enrollment), Failure> {
    let (mut pending, account) = enrollable(p, &tx, ctx).await?;
    let enrollment = p
        .mfa
        .begin_totp(account.id.as_str(), &account.username)
        .await
        .map_err(|e| e.to_string());
    let enrollment = match enrollment {
        Ok(e) => e,
        Err(cause) => return Err(unavailable(p, ctx, cause).await),
    };
    pending.enrolling = Some(enrollment.method_id.clone());
    tx.pending = Some(pending);
    if let Err(e) = save_tx(p, &tx).await {
        return Err(unavailable(p, ctx, e.to_string()).await);
    }
    Ok((tx, enrollment))
}

/// Confirms the enrollment with the first code; returns fresh backup codes
/// to show once.
pub async fn confirm_enroll(
    p: &Provider,
    mut tx: LoginTx,
    code: &str,
    ctx: &RequestContext,
) -> Result<(LoginTx, Vec<String>), Verified> {
    let (mut pending, account) = match enrollable(p, &tx, ctx).await {
        Ok(x) => x,
        Err(f) => return Err(Verified::Page(f)),
    };
    let Some(method_id) = pending.enrolling.clone() else {
        let f = Failure::new(
            FailureCode::LoginExpired,
            p.audit
                .record(
                    Event::failure(FailureCode::LoginExpired).detail("reason", "no enrollment in progress"),
                    ctx,
                )
                .await,
        );
        return Err(Verified::Page(f));
    };
    if let Err(e) = p.mfa.confirm_totp(account.id.as_str(), &method_id, code).await {
        let f = mfa_failure(p, ctx, &account, &tx, &e, "totp").await;
        return Err(Verified::Retry(Box::new(tx), f));
    }
    let codes = match p.mfa.new_backup_codes(account.id.as_str()).await {
        Ok(c) => c,
        Err(e) => return Err(Verified::Page(unavailable(p, ctx, e.to_string()).await)),
    };
    p.audit
        .record(
            Event::new("mfa_enrolled")
                .account(account.id.as_str())
                .detail("method", "totp")
                .detail("backup_codes", codes.len()),
            ctx,
        )
        .await;
    pending.enrolling = None;
    pending.second_factor = Some(Kind::Totp.as_str().to_string());
    pending.may_enroll = false;
    tx.pending = Some(pending);
    if let Err(e) = save_tx(p, &tx).await {
        return Err(Verified::Page(unavailable(p, ctx, e.to_string()).await));
    }
    Ok((tx, codes))
}

/// After the backup codes were shown: finish the login.
pub async fn after_enroll(
    p: &Provider,
    tx: LoginTx,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let (pending, account) = match pending_of(p, &tx, ctx).await {
        Ok(x) => x,
        Err(f) => return PasswordOutcome::Page(f),
    };
    if pending.second_factor.is_none() {
        return PasswordOutcome::Continue(format!("/mfa?tx={}", tx.id));
    }
    match finish(p, &tx, &account, pending, previous, ctx).await {
        Ok(done) => PasswordOutcome::Completed(done),
        Err(f) => PasswordOutcome::Page(f),
    }
}

/// The pending first factor, when this transaction may enroll a method.
async fn enrollable(p: &Provider, tx: &LoginTx, ctx: &RequestContext) -> Result<(Pending, Account), Failure> {
    let (pending, account) = pending_of(p, tx, ctx).await?;
    if pending.may_enroll && pending.second_factor.is_none() {
        return Ok((pending, account));
    }
    let e = mfa::Error::NotEnrolled;
    Err(mfa_failure(p, ctx, &account, tx, &e, "enroll")
        .await
        .detail("This account already has a sign-in method: use it, or ask your access manager to reset your methods."))
}

/// Sends a code by an enrolled SMS or email method reaching the required
/// assurance.
pub async fn send(p: &Provider, tx: &LoginTx, method_id: &str, ctx: &RequestContext) -> Result<String, Failure> {
    let (pending, account) = pending_of(p, tx, ctx).await?;
    let kind = match p.mfa.method(account.id.as_str(), method_id).await {
        Ok(Some(m)) if m.confirmed => Kind::parse(&m.kind),
        Ok(_) => None,
        Err(e) => return Err(unavailable(p, ctx, e.to_string()).await),
    };
    if kind.is_none_or(|k| k.aal() < pending.required_aal && !pending.enroll_after) {
        let e = mfa::Error::NotEnrolled;
        return Err(mfa_failure(p, ctx, &account, tx, &e, "oob")
            .await
            .detail("That method cannot be used here."));
    }
    match p.mfa.send_code(account.id.as_str(), method_id, ctx.ip.as_deref()).await {
        Ok(masked) => {
            p.audit
                .record(
                    Event::new("mfa_code_sent")
                        .account(account.id.as_str())
                        .detail("to", masked.clone()),
                    ctx,
                )
                .await;
            Ok(masked)
        }
        Err(e) => Err(send_failure(p, ctx, &account, tx, &e).await),
    }
}

async fn send_failure(p: &Provider, ctx: &RequestContext, account: &Account, tx: &LoginTx, e: &mfa::Error) -> Failure {
    let mut f = mfa_failure(p, ctx, account, tx, e, "oob").await;
    match e {
        mfa::Error::RateLimited { retry_after, .. } => {
            f = f.detail(format!(
                "You can ask for a new code in {retry_after} seconds, or choose another method."
            ))
        }
        mfa::Error::DeliveryFailed { .. } => {
            f = f.detail("The message could not be sent. Choose another method, or try again in a few minutes.")
        }
        _ => {}
    }
    f
}

/// Starts enrolling SMS or email as the second factor, to the phone or
/// address on file; the code sent now confirms it.
pub async fn begin_enroll_oob(
    p: &Provider,
    mut tx: LoginTx,
    kind: Kind,
    ctx: &RequestContext,
) -> Result<(LoginTx, String), Failure> {
    let (mut pending, account) = enrollable(p, &tx, ctx).await?;
    let target = match kind {
        Kind::Sms => account.phone.clone(),
        _ => Some(account.email.clone()),
    };
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        let e = mfa::Error::NotEnrolled;
        return Err(mfa_failure(p, ctx, &account, &tx, &e, kind.as_str())
            .await
            .detail("There is no phone number on file for you: choose another method or ask your access manager."));
    };
    match p
        .mfa
        .begin_oob(account.id.as_str(), kind, &target, ctx.ip.as_deref())
        .await
    {
        Ok((method_id, masked)) => {
            pending.enrolling = Some(method_id);
            tx.pending = Some(pending);
            if let Err(e) = save_tx(p, &tx).await {
                return Err(unavailable(p, ctx, e.to_string()).await);
            }
            Ok((tx, masked))
        }
        Err(e) => Err(send_failure(p, ctx, &account, &tx, &e).await),
    }
}

/// Confirms an SMS or email enrollment with the code it delivered.
pub async fn confirm_enroll_oob(
    p: &Provider,
    mut tx: LoginTx,
    code: &str,
    ctx: &RequestContext,
) -> Result<(LoginTx, Vec<String>), Verified> {
    let (mut pending, account) = match enrollable(p, &tx, ctx).await {
        Ok(x) => x,
        Err(f) => return Err(Verified::Page(f)),
    };
    let Some(method_id) = pending.enrolling.clone() else {
        return Err(Verified::Page(
            unavailable(p, ctx, "no enrollment in progress".into()).await,
        ));
    };
    let kind = match p.mfa.verify_code(account.id.as_str(), &method_id, code, true).await {
        Ok(k) => k,
        Err(e) => {
            let f = mfa_failure(p, ctx, &account, &tx, &e, "oob").await;
            return Err(Verified::Retry(Box::new(tx), f));
        }
    };
    let codes = match p.mfa.new_backup_codes(account.id.as_str()).await {
        Ok(c) => c,
        Err(e) => return Err(Verified::Page(unavailable(p, ctx, e.to_string()).await)),
    };
    p.audit
        .record(
            Event::new("mfa_enrolled")
                .account(account.id.as_str())
                .detail("method", kind.as_str())
                .detail("restricted_authenticator", kind.restricted())
                .detail("aal", kind.aal()),
            ctx,
        )
        .await;
    pending.enrolling = None;
    pending.may_enroll = false;
    pending.second_factor = Some(kind.as_str().to_string());
    tx.pending = Some(pending);
    if let Err(e) = save_tx(p, &tx).await {
        return Err(Verified::Page(unavailable(p, ctx, e.to_string()).await));
    }
    Ok((tx, codes))
}

/// WebAuthn registration options for the pending account.
pub async fn webauthn_register_start(
    p: &Provider,
    tx: &LoginTx,
    ctx: &RequestContext,
) -> Result<webauthn_rs::prelude::CreationChallengeResponse, Failure> {
    let (_, account) = enrollable(p, tx, ctx).await?;
    let Some(wa) = p.webauthn.as_deref() else {
        return Err(unavailable(p, ctx, "WebAuthn needs public_url on a domain name".into()).await);
    };
    match p
        .mfa
        .begin_webauthn_registration(wa, account.id.as_str(), &account.username)
        .await
    {
        Ok(c) => Ok(c),
        Err(e) => Err(unavailable(p, ctx, e.to_string()).await),
    }
}

/// Completes a passkey registration; returns fresh backup codes.
pub async fn webauthn_register_finish(
    p: &Provider,
    mut tx: LoginTx,
    credential: &str,
    nickname: &str,
    ctx: &RequestContext,
) -> Result<(LoginTx, Vec<String>), Verified> {
    let (mut pending, account) = match enrollable(p, &tx, ctx).await {
        Ok(x) => x,
        Err(f) => return Err(Verified::Page(f)),
    };
    let Some(wa) = p.webauthn.as_deref() else {
        return Err(Verified::Page(
            unavailable(p, ctx, "WebAuthn is not available".into()).await,
        ));
    };
    let parsed: Result<webauthn_rs::prelude::RegisterPublicKeyCredential, _> = serde_json::from_str(credential);
    let result = match parsed {
        Ok(reg) => {
            p.mfa
                .finish_webauthn_registration(wa, account.id.as_str(), &reg, nickname)
                .await
        }
        Err(_) => Err(mfa::Error::CodeInvalid {
            attempts_left: mfa::MAX_FAILURES,
            detail: "the browser sent no usable credential",
        }),
    };
    if let Err(e) = result {
        let f = mfa_failure(p, ctx, &account, &tx, &e, "webauthn").await;
        return Err(Verified::Retry(Box::new(tx), f));
    }
    let codes = match p.mfa.new_backup_codes(account.id.as_str()).await {
        Ok(c) => c,
        Err(e) => return Err(Verified::Page(unavailable(p, ctx, e.to_string()).await)),
    };
    p.audit
        .record(
            Event::new("mfa_enrolled")
                .account(account.id.as_str())
                .detail("method", "webauthn"),
            ctx,
        )
        .await;
    pending.enrolling = None;
    pending.may_enroll = false;
    pending.second_factor = Some(Kind::WebAuthn.as_str().to_string());
    tx.pending = Some(pending);
    if let Err(e) = save_tx(p, &tx).await {
        return Err(Verified::Page(unavailable(p, ctx, e.to_string()).await));
    }
    Ok((tx, codes))
}

/// WebAuthn authentication options (the account's credentials).
pub async fn webauthn_auth_start(
    p: &Provider,
    tx: &LoginTx,
    ctx: &RequestContext,
) -> Result<webauthn_rs::prelude::RequestChallengeResponse, Failure> {
    let (_, account) = pending_of(p, tx, ctx).await?;
    let Some(wa) = p.webauthn.as_deref() else {
        return Err(unavailable(p, ctx, "WebAuthn needs public_url on a domain name".into()).await);
    };
    match p.mfa.begin_webauthn_authentication(wa, account.id.as_str()).await {
        Ok(c) => Ok(c),
        Err(e) => Err(mfa_failure(p, ctx, &account, tx, &e, "webauthn").await),
    }
}

/// Verifies the browser's assertion and completes the login.
pub async fn webauthn_auth_finish(
    p: &Provider,
    tx: LoginTx,
    credential: &str,
    remember: bool,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> Verified {
    let (mut pending, account) = match pending_of(p, &tx, ctx).await {
        Ok(x) => x,
        Err(f) => return Verified::Page(f),
    };
    let Some(wa) = p.webauthn.as_deref() else {
        return Verified::Page(unavailable(p, ctx, "WebAuthn is not available".into()).await);
    };
    let parsed: Result<webauthn_rs::prelude::PublicKeyCredential, _> = serde_json::from_str(credential);
    let result = match parsed {
        Ok(c) => p.mfa.finish_webauthn_authentication(wa, account.id.as_str(), &c).await,
        Err(_) => Err(mfa::Error::CodeInvalid {
            attempts_left: mfa::MAX_FAILURES,
            detail: "the browser sent no usable credential",
        }),
    };
    if let Err(e) = result {
        let f = mfa_failure(p, ctx, &account, &tx, &e, "webauthn").await;
        return Verified::Retry(Box::new(tx), f);
    }
    pending.second_factor = Some(Kind::WebAuthn.as_str().to_string());
    let token = remember_token(p, account.id.as_str(), remember, Kind::WebAuthn.aal()).await;
    match finish(p, &tx, &account, pending, previous, ctx).await {
        Ok(done) => Verified::Done(done, token),
        Err(f) => Verified::Page(f),
    }
}

async fn remember_token(p: &Provider, account_id: &str, remember: bool, aal: u8) -> Option<String> {
    if !remember || p.cfg.mfa.remember_device_days == 0 {
        return None;
    }
    let v = p.mfa.version(account_id).await.ok()?;
    Some(p.mfa.remember_token(
        account_id,
        v,
        p.clock.now() + p.cfg.mfa.remember_device_days as i64 * 86_400,
        aal,
    ))
}
