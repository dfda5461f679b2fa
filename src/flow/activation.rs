//! Account activation against imported identity records.
//!
//! A member proves who they are with member id + date of birth; a provider
//! with NPI + TIN and then a code sent to the contact on file. Only then do
//! they choose a username and password. An activation lives in the
//! ephemeral store under the digest of a random id, bound to the browser,
//! for `LIFETIME`, and is consumed when the account is created; the record
//! itself links to one account only (conditional UPDATE).
//!
//! Guessing is bounded per identifier (`MAX_FAILURES` wrong proofs an hour
//! for one member id / NPI, whether or not it exists) and per address.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::accounts::records::{RecordKind, normalize_member_id, normalize_tin};
use crate::accounts::{CreateError, NewAccount, Password, Status};
use crate::audit::{Event, RequestContext};
use crate::config::AccountType;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::provider::Provider;
use crate::store::sql::IdentityRecordRow;
use crate::store::{self, keys};

use super::login::binding_of;
use super::{Failure, unavailable};

pub const LIFETIME: Duration = Duration::from_secs(30 * 60);
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
pub const MAX_FAILURES: i64 = 5;
pub const PER_IP_HOUR: i64 = 30;
pub const CODE_TRIES: i64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
enum Stage {
    /// A provider must enter the code sent to the contact on file.
    Code { code_mac: String, expires_at: i64 },
    /// Identity proven: choose a username and password.
    Credentials,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Activation {
    record_id: String,
    /// Set when the activation came from an invitation link (its digest)
    /// rather than from an identity record.
    #[serde(default)]
    invitation: Option<String>,
    kind: String,
    key: String,
    binding: String,
    stage: Stage,
    expires_at: i64,
}

/// Where the browser goes next.
#[derive(Debug)]
pub enum Next {
    /// Enter the code sent to this (masked) contact.
    Code {
        id: String,
        sent_to: String,
    },
    /// Choose a username and password.
    Credentials {
        id: String,
    },
    Page(Failure),
}

/// What the credentials form needs to know.
#[derive(Debug)]
pub struct View {
    pub name: String,
    pub needs_email: bool,
    pub code_stage: bool,
}

/// What the person chose on the last form.
#[derive(Debug)]
pub struct Choice {
    pub username: String,
    /// Used only when the record has no email on file.
    pub email: String,
    pub password: Password,
    pub confirm: Password,
}

#[derive(Debug)]
pub enum Finished {
    Done { username: String },
    Retry(Vec<String>),
    Page(Failure),
}

async fn record_failure(p: &Provider, code: FailureCode, ev: Event, ctx: &RequestContext) -> Failure {
    let mut ev = ev;
    ev.code = Some(code);
    Failure::new(code, p.audit.record(ev, ctx).await)
}

async fn rate_limited(p: &Provider, key: &str, what: &str, ctx: &RequestContext) -> Failure {
    let left = p.kv.ttl(key).await.ok().flatten().unwrap_or(3600).max(1);
    let until = crate::clock::hh_mm_utc(p.clock.now() + left);
    record_failure(
        p,
        FailureCode::ActivationRateLimited,
        Event::failure(FailureCode::ActivationRateLimited)
            .detail("limit", what.to_string())
            .detail("retry_after_seconds", left),
        ctx,
    )
    .await
    .detail(format!("Try again after {until}."))
}

/// Step one: the identity data a person typed.
pub async fn start(
    p: &Provider,
    kind: RecordKind,
    key: &str,
    proof: &str,
    browser: &str,
    ctx: &RequestContext,
) -> Next {
    let (key, proof) = match kind {
        RecordKind::Member => (normalize_member_id(key), proof.trim().to_string()),
        RecordKind::Provider => (key.trim().to_string(), normalize_tin(proof).unwrap_or_default()),
    };
    let hour = Duration::from_secs(3600);
    if let Some(ip) = ctx.ip.as_deref() {
        let k = keys::activation_ip(ip);
        match p.kv.incr_window(&k, hour).await {
            Ok(n) if n > PER_IP_HOUR => {
                return Next::Page(rate_limited(p, &k, "activation attempts per hour from this address", ctx).await);
            }
            Ok(_) => {}
            Err(e) => return Next::Page(unavailable(p, ctx, e).await),
        }
    }
    let fail_key = keys::activation_failures(kind.as_str(), &crypto::token_digest(&key));
    match p.kv.get(&fail_key).await {
        Ok(Some(n)) if n.parse::<i64>().unwrap_or(0) >= MAX_FAILURES => {
            return Next::Page(rate_limited(p, &fail_key, "wrong details per hour for this identifier", ctx).await);
        }
        Ok(_) => {}
        Err(e) => return Next::Page(unavailable(p, ctx, e).await),
    }
    let record = match p.accounts.sql().identity_record(kind.as_str(), &key).await {
        Ok(r) => r,
        Err(e) => return Next::Page(unavailable(p, ctx, e).await),
    };
    let matches = record
        .as_ref()
        .is_some_and(|r| !proof.is_empty() && crypto::constant_time_eq(r.proof.as_bytes(), proof.as_bytes()));
    let known = record.is_some();
    let Some(record) = record.filter(|_| matches) else {
        let failures = p.kv.incr_window(&fail_key, hour).await.unwrap_or(0);
        let ev = Event::failure(FailureCode::ActivationMismatch)
            .detail("kind", kind.as_str())
            .detail("identifier_known", known)
            .detail("failures", failures)
            .detail("max_failures", MAX_FAILURES);
        return Next::Page(record_failure(p, FailureCode::ActivationMismatch, ev, ctx).await);
    };
    if record.account_id.is_some() {
        let ev = Event::failure(FailureCode::AlreadyActivated)
            .detail("kind", kind.as_str())
            .account(record.account_id.clone().unwrap_or_default());
        return Next::Page(
            record_failure(p, FailureCode::AlreadyActivated, ev, ctx)
                .await
                .link("Reset your password", "/recover"),
        );
    }
    let id = crypto::random_token();
    let digest = crypto::token_digest(&id);
    let mut activation = Activation {
        record_id: record.id.clone(),
        invitation: None,
        kind: kind.as_str().into(),
        key: key.clone(),
        binding: binding_of(browser),
        stage: Stage::Credentials,
        expires_at: p.clock.now() + LIFETIME.as_secs() as i64,
    };
    let mut sent_to = None;
    if kind == RecordKind::Provider {
        let code = crypto::six_digit_code();
        activation.stage = Stage::Code {
            code_mac: p.mfa.mac().sign("activation", &format!("{digest}:{code}")),
            expires_at: p.clock.now() + CODE_LIFETIME.as_secs() as i64,
        };
        match send_code(p, &record, &code).await {
            Ok(masked) => sent_to = Some(masked),
            Err(answer) => {
                let ev = Event::failure(FailureCode::MfaDeliveryFailed)
                    .detail("purpose", "activation")
                    .detail("answer", answer);
                return Next::Page(record_failure(p, FailureCode::MfaDeliveryFailed, ev, ctx).await);
            }
        }
    }
    if let Err(e) = save(p, &digest, &activation).await {
        return Next::Page(unavailable(p, ctx, e).await);
    }
    p.audit
        .record(
            Event::new("activation_identity_verified")
                .detail("kind", kind.as_str())
                .detail("code_sent", sent_to.is_some()),
            ctx,
        )
        .await;
    match sent_to {
        Some(sent_to) => Next::Code { id, sent_to },
        None => Next::Credentials { id },
    }
}

async fn send_code(p: &Provider, record: &IdentityRecordRow, code: &str) -> Result<String, String> {
    let delivery = p.mfa.delivery();
    let minutes = CODE_LIFETIME.as_secs() / 60;
    if let (true, Some(email)) = (delivery.has_email(), record.email.as_deref()) {
        delivery
            .email(
                email,
                "Your activation code",
                &format!("Your account activation code is {code}\n\nIt expires in {minutes} minutes. If you did not start activating an account, tell our support desk.\n"),
            )
            .await?;
        return Ok(crate::mfa::mask(email));
    }
    if let (true, Some(phone)) = (delivery.has_sms(), record.phone.as_deref()) {
        delivery
            .sms(
                phone,
                &format!("{code} is your activation code. It expires in {minutes} minutes."),
            )
            .await?;
        return Ok(crate::mfa::mask(phone));
    }
    Err("no email or SMS delivery is configured for the contact on file".into())
}

async fn save(p: &Provider, digest: &str, a: &Activation) -> Result<(), store::Error> {
    let json = serde_json::to_string(a).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    let left = (a.expires_at - p.clock.now()).max(1) as u64;
    p.kv.set_ex(&keys::activation(digest), &json, Duration::from_secs(left))
        .await
}

async fn load(p: &Provider, id: &str, browser: Option<&str>) -> Result<Option<Activation>, store::Error> {
    if id.len() != 43 {
        return Ok(None);
    }
    let Some(json) = p.kv.get(&keys::activation(&crypto::token_digest(id))).await? else {
        return Ok(None);
    };
    let Ok(a) = serde_json::from_str::<Activation>(&json) else {
        return Ok(None);
    };
    let same_browser =
        browser.is_some_and(|b| crypto::constant_time_eq(binding_of(b).as_bytes(), a.binding.as_bytes()));
    Ok((same_browser && p.clock.now() < a.expires_at).then_some(a))
}

pub async fn expired(p: &Provider, why: &str, ctx: &RequestContext) -> Failure {
    let ev = Event::failure(FailureCode::ActivationExpired).detail("reason", why.to_string());
    record_failure(p, FailureCode::ActivationExpired, ev, ctx)
        .await
        .link("Start again", "/activate")
}

/// What the page for activation `id` should show, if it is alive here.
pub async fn view(p: &Provider, id: &str, browser: Option<&str>) -> Option<View> {
    let a = load(p, id, browser).await.ok().flatten()?;
    if let Some(digest) = &a.invitation {
        let inv = p.accounts.sql().invitation(digest).await.ok().flatten()?;
        return Some(View {
            name: inv.email,
            needs_email: false,
            code_stage: false,
        });
    }
    let record = p.accounts.sql().identity_record(&a.kind, &a.key).await.ok().flatten()?;
    Some(View {
        name: record.name,
        needs_email: record.email.is_none(),
        code_stage: matches!(a.stage, Stage::Code { .. }),
    })
}

/// Step two for providers: the code sent to the contact on file.
pub async fn verify_code(p: &Provider, id: &str, browser: &str, code: &str, ctx: &RequestContext) -> Next {
    let digest = crypto::token_digest(id);
    let mut a = match load(p, id, Some(browser)).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Next::Page(expired(p, "activation unknown, past its lifetime or from another browser", ctx).await);
        }
        Err(e) => return Next::Page(unavailable(p, ctx, e).await),
    };
    let Stage::Code { code_mac, expires_at } = a.stage.clone() else {
        return Next::Credentials { id: id.to_string() };
    };
    if p.clock.now() >= expires_at {
        let _ = p.kv.del(&[keys::activation(&digest)]).await;
        return Next::Page(expired(p, "activation code past its lifetime", ctx).await);
    }
    let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
    let expected = p.mfa.mac().sign("activation", &format!("{digest}:{digits}"));
    if !crypto::constant_time_eq(expected.as_bytes(), code_mac.as_bytes()) {
        let tries = match p.kv.incr_window(&keys::activation_tries(&digest), LIFETIME).await {
            Ok(n) => n,
            Err(e) => return Next::Page(unavailable(p, ctx, e).await),
        };
        if tries >= CODE_TRIES {
            let _ = p.kv.del(&[keys::activation(&digest)]).await;
            return Next::Page(
                expired(p, "too many wrong activation codes", ctx)
                    .await
                    .detail("Too many wrong codes: start again."),
            );
        }
        let ev = Event::failure(FailureCode::ActivationCodeInvalid).detail("tries", tries);
        return Next::Page(
            record_failure(p, FailureCode::ActivationCodeInvalid, ev, ctx)
                .await
                .detail(format!("{} tries left.", CODE_TRIES - tries))
                .link("Enter the code again", format!("/activate/verify?a={id}")),
        );
    }
    a.stage = Stage::Credentials;
    if let Err(e) = save(p, &digest, &a).await {
        return Next::Page(unavailable(p, ctx, e).await);
    }
    Next::Credentials { id: id.to_string() }
}

/// Where an activation's account comes from, and what it starts with.
enum Source {
    Record(String),
    Invitation { digest: String, invited_by: String },
}

struct Base {
    email: Option<String>,
    phone: Option<String>,
    account_type: AccountType,
    org: Option<String>,
    roles: Vec<String>,
    /// The TIN an invitation limited its roles to.
    tin: Option<String>,
}

/// The record or invitation behind an activation; `Ok(Err(why))` when it
/// has already made its account.
async fn source_of(p: &Provider, a: &Activation) -> Result<Result<(Source, Base), &'static str>, store::Error> {
    if let Some(digest) = &a.invitation {
        let Some(inv) = p.accounts.sql().invitation(digest).await? else {
            return Ok(Err("invitation gone"));
        };
        if inv.used_at.is_some() || inv.revoked_at.is_some() {
            return Ok(Err("invitation already used or revoked"));
        }
        let account_type = match inv.account_type.as_str() {
            "member" => AccountType::Member,
            "employer" => AccountType::Employer,
            _ => AccountType::Provider,
        };
        return Ok(Ok((
            Source::Invitation {
                digest: digest.clone(),
                invited_by: inv.invited_by,
            },
            Base {
                email: Some(inv.email),
                phone: None,
                account_type,
                org: inv.org_id,
                roles: inv.roles,
                tin: inv.tin,
            },
        )));
    }
    let Some(record) = p.accounts.sql().identity_record(&a.kind, &a.key).await? else {
        return Ok(Err("identity record gone"));
    };
    if record.account_id.is_some() {
        return Ok(Err("identity record already activated"));
    }
    let provider = a.kind == RecordKind::Provider.as_str();
    // A provider's organization is the one declaring their TIN.
    let org = provider
        .then(|| {
            p.cfg.orgs.iter().find(|o| {
                o.tins
                    .iter()
                    .any(|t| normalize_tin(t).as_deref() == Some(&record.proof))
            })
        })
        .flatten()
        .map(|o| o.id.clone());
    Ok(Ok((
        Source::Record(record.id),
        Base {
            email: record.email,
            phone: record.phone,
            account_type: if provider {
                AccountType::Provider
            } else {
                AccountType::Member
            },
            org,
            roles: Vec::new(),
            tin: None,
        },
    )))
}

/// An invitation link was opened: if it is good, go on to choosing a
/// username and password in this browser.
pub async fn accept_invitation(p: &Provider, token: &str, browser: &str, ctx: &RequestContext) -> Next {
    let digest = crypto::token_digest(token);
    let inv = match p.accounts.sql().invitation(&digest).await {
        Ok(i) => i,
        Err(e) => return Next::Page(unavailable(p, ctx, e).await),
    };
    let Some(inv) = inv.filter(|_| token.len() == 43) else {
        return Next::Page(expired(p, "invitation link unknown (mistyped or truncated?)", ctx).await);
    };
    if inv.revoked_at.is_some() {
        return Next::Page(expired(p, "invitation revoked by the organization", ctx).await);
    }
    if inv.used_at.is_some() {
        let ev = Event::failure(FailureCode::AlreadyActivated).detail("reason", "invitation already used");
        return Next::Page(
            record_failure(p, FailureCode::AlreadyActivated, ev, ctx)
                .await
                .link("Reset your password", "/recover"),
        );
    }
    if p.clock.now() >= inv.expires_at {
        return Next::Page(
            expired(
                p,
                &format!("invitation expired at {}", crate::clock::rfc3339(inv.expires_at)),
                ctx,
            )
            .await
            .detail("Ask whoever invited you to send a new invitation."),
        );
    }
    let id = crypto::random_token();
    let a = Activation {
        record_id: String::new(),
        invitation: Some(digest),
        kind: inv.account_type.clone(),
        key: String::new(),
        binding: binding_of(browser),
        stage: Stage::Credentials,
        expires_at: p.clock.now() + LIFETIME.as_secs() as i64,
    };
    if let Err(e) = save(p, &crypto::token_digest(&id), &a).await {
        return Next::Page(unavailable(p, ctx, e).await);
    }
    p.audit
        .record(
            Event::new("invitation_opened").detail("invited_by", inv.invited_by),
            ctx,
        )
        .await;
    Next::Credentials { id }
}

/// Last step: the account is created with the chosen username and password.
pub async fn finish(p: &Provider, id: &str, browser: &str, choice: &Choice, ctx: &RequestContext) -> Finished {
    let Choice {
        username,
        email,
        password,
        confirm,
    } = choice;
    let digest = crypto::token_digest(id);
    let a = match load(p, id, Some(browser)).await {
        Ok(Some(a)) if a.stage == Stage::Credentials => a,
        Ok(Some(_)) => return Finished::Page(expired(p, "the activation code was not entered yet", ctx).await),
        Ok(None) => {
            return Finished::Page(
                expired(
                    p,
                    "activation unknown, used, past its lifetime or from another browser",
                    ctx,
                )
                .await,
            );
        }
        Err(e) => return Finished::Page(unavailable(p, ctx, e).await),
    };
    if password.expose() != confirm.expose() {
        return Finished::Retry(vec!["The two passwords differ.".into()]);
    }
    let (source, base) = match source_of(p, &a).await {
        Ok(Ok(x)) => x,
        Ok(Err(why)) => {
            let ev = Event::failure(FailureCode::AlreadyActivated)
                .detail("kind", a.kind.clone())
                .detail("reason", why);
            return Finished::Page(record_failure(p, FailureCode::AlreadyActivated, ev, ctx).await);
        }
        Err(e) => return Finished::Page(unavailable(p, ctx, e).await),
    };
    let tin = base.tin.clone();
    let new = NewAccount {
        username: username.trim().to_string(),
        email: base.email.unwrap_or_else(|| email.trim().to_string()),
        phone: base.phone,
        account_type: base.account_type,
        org: base.org,
        roles: base.roles,
        password: Password::new(password.expose()),
    };
    // Single use: the activation is taken before the account exists.
    match p.kv.get_del(&keys::activation(&digest)).await {
        Ok(Some(_)) => {}
        Ok(None) => return Finished::Page(expired(p, "activation already used", ctx).await),
        Err(e) => return Finished::Page(unavailable(p, ctx, e).await),
    }
    let actor = match &source {
        Source::Record(_) => "activation".to_string(),
        Source::Invitation { invited_by, .. } => format!("invitation by {invited_by}"),
    };
    // The invitation's TIN goes in with the roles, in the same transaction.
    let account = match p.accounts.create_in_tin(new, tin.as_deref(), &p.cfg.orgs, &actor).await {
        Ok(acc) => acc,
        Err(e) => {
            if let Err(e) = save(p, &digest, &a).await {
                return Finished::Page(unavailable(p, ctx, e).await);
            }
            return match e {
                CreateError::Invalid(m) => Finished::Retry(vec![m]),
                CreateError::UsernameTaken(u) => {
                    Finished::Retry(vec![format!("The username `{u}` is taken: choose another.")])
                }
                CreateError::Hash(e) => Finished::Page(unavailable(p, ctx, store::Error::Corrupt(e.to_string())).await),
                CreateError::Store(e) => Finished::Page(unavailable(p, ctx, e).await),
            };
        }
    };
    let linked = match &source {
        Source::Record(id) => {
            p.accounts
                .sql()
                .activate_identity_record(id, account.id.as_str(), p.clock.now())
                .await
        }
        Source::Invitation { digest, .. } => {
            p.accounts
                .sql()
                .use_invitation(digest, account.id.as_str(), p.clock.now())
                .await
        }
    };
    match linked {
        Ok(true) => {
            if let (Source::Invitation { invited_by, .. }, Some(org)) = (&source, account.org())
                // Its roles already carry the invitation's TIN: the history is told.
                && let Err(e) =
                    super::org_admin::invitation_accepted(p, org, invited_by, tin.as_deref(), &account).await
            {
                return Finished::Page(unavailable(p, ctx, e).await);
            }
        }
        Ok(false) => {
            // Another activation of the same person won the race.
            let _ = p.accounts.set_status(&account.id, Status::Disabled).await;
            let ev = Event::failure(FailureCode::AlreadyActivated).account(account.id.as_str());
            return Finished::Page(record_failure(p, FailureCode::AlreadyActivated, ev, ctx).await);
        }
        Err(e) => return Finished::Page(unavailable(p, ctx, e).await),
    }
    p.audit
        .record(
            Event::new("account_activated")
                .account(account.id.as_str())
                .username(account.username.clone())
                .detail("kind", a.kind),
            ctx,
        )
        .await;
    Finished::Done {
        username: account.username,
    }
}
