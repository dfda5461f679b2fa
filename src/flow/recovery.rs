//! Forgotten passwords: "Forgot password?" asks for a username or email,
//! sends a six-digit code to the contact on file, and the code plus a new
//! password (checked against the policy) resets it. Then every session of
//! the account ends, its refresh tokens die, and any lockout is cleared.
//!
//! The request answers the same whether or not an account matches: a reset
//! record is created either way (one for nobody can never be completed),
//! throttles count the typed name rather than the account, and the message
//! is sent in the background so the response time does not depend on it.
//! Reset records live in the ephemeral store under the digest of their
//! random id, bound to the browser that asked, and keep only the code's MAC.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::accounts::{Account, EmailAddress, Password, PasswordRejected, Status};
use crate::audit::{Event, RequestContext};
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::provider::Provider;
use crate::store::{self, keys};

use super::login::binding_of;
use super::{Failure, unavailable};

/// How long a reset code is good for.
pub const CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Wrong codes before a reset is void.
pub const MAX_TRIES: i64 = 5;
/// Requests per hour for one typed name, and from one network address.
pub const PER_NAME_HOUR: i64 = 3;
pub const PER_IP_HOUR: i64 = 20;

#[derive(Debug, Serialize, Deserialize)]
struct Reset {
    account_id: Option<String>,
    code_mac: String,
    expires_at: i64,
    binding: String,
    /// The login transaction to go back to afterwards.
    tx: Option<String>,
}

#[derive(Debug)]
pub enum Requested {
    /// A reset is under way: show the code form for this id.
    Started(String),
    /// Show the request form again with this message.
    Retry(String),
    Page(Failure),
}

#[derive(Debug)]
pub enum Reseted {
    /// The password is set; sign in again (back to this login, if any).
    Done {
        tx: Option<String>,
        sessions_ended: usize,
    },
    /// Show the code form again: a wrong code or policy problems.
    Retry {
        problems: Vec<String>,
        failure: Option<Failure>,
    },
    Page(Failure),
}

fn code_mac(p: &Provider, reset_digest: &str, code: &str) -> String {
    p.mfa.mac().sign("recovery", &format!("{reset_digest}:{code}"))
}

/// Starts a reset for whatever `who` names.
pub async fn request(p: &Provider, who: &str, browser: &str, tx: Option<String>, ctx: &RequestContext) -> Requested {
    let who = who.trim();
    if who.is_empty() || who.len() > 254 {
        return Requested::Retry("Enter your username or the email address on your account.".into());
    }
    if let Some(f) = throttled(p, "reset", who, ctx).await {
        return Requested::Page(f);
    }
    let account = match reset_target(p, who).await {
        Ok(Target::One(a)) => Some(a),
        Ok(Target::None) => None,
        Ok(Target::Several(accounts)) => {
            // One address, several accounts: which to reset is the user's
            // choice, so the address gets its usernames instead of a code.
            send_usernames(p, who, &accounts, ctx.clone());
            None
        }
        Err(e) => return Requested::Page(unavailable(p, ctx, e).await),
    };
    let id = crypto::random_token();
    let digest = crypto::token_digest(&id);
    let code = crypto::six_digit_code();
    let reset = Reset {
        account_id: account.as_ref().map(|a| a.id.as_str().to_string()),
        // For nobody, the MAC of a code never sent: no code can match it.
        code_mac: code_mac(p, &digest, if account.is_some() { &code } else { "-" }),
        expires_at: p.clock.now() + CODE_LIFETIME.as_secs() as i64,
        binding: binding_of(browser),
        tx,
    };
    let json = match serde_json::to_string(&reset) {
        Ok(j) => j,
        Err(e) => return Requested::Page(unavailable(p, ctx, store::Error::Corrupt(e.to_string())).await),
    };
    if let Err(e) = p.kv.set_ex(&keys::recovery(&digest), &json, CODE_LIFETIME * 2).await {
        return Requested::Page(unavailable(p, ctx, e).await);
    }
    let mut ev = Event::new("password_reset_requested").detail("matched_account", account.is_some());
    match &account {
        Some(a) => {
            ev = ev.account(a.id.as_str()).username(a.username.clone());
            send_in_background(p, a, code, ctx.clone());
        }
        None => ev = ev.detail("typed", who.chars().take(64).collect::<String>()),
    }
    p.audit.record(ev, ctx).await;
    Requested::Started(id)
}

enum Target {
    None,
    One(Box<Account>),
    Several(Vec<Account>),
}

/// The active account a typed username or email names.
async fn reset_target(p: &Provider, who: &str) -> Result<Target, store::Error> {
    if let Some(a) = p.accounts.find(who).await? {
        return Ok(if a.status == Status::Active {
            Target::One(Box::new(a))
        } else {
            Target::None
        });
    }
    let Ok(email) = EmailAddress::parse(who) else {
        return Ok(Target::None);
    };
    let mut active: Vec<Account> = p
        .accounts
        .by_email(&email)
        .await?
        .into_iter()
        .filter(|a| a.status == Status::Active)
        .collect();
    Ok(match active.len() {
        0 => Target::None,
        1 => Target::One(Box::new(active.remove(0))),
        _ => Target::Several(active),
    })
}

/// `recovery_rate_limited` past `PER_NAME_HOUR` requests for what was
/// typed (whether or not it names an account) or `PER_IP_HOUR` from the
/// address.
async fn throttled(p: &Provider, scope: &str, typed: &str, ctx: &RequestContext) -> Option<Failure> {
    let hour = Duration::from_secs(3600);
    let name_key = keys::recovery_requests(&crypto::token_digest(&format!("{scope}:{}", typed.to_lowercase())));
    let throttles = [(name_key, PER_NAME_HOUR, "requests per hour for this name")]
        .into_iter()
        .chain(ctx.ip.as_deref().map(|ip| {
            (
                keys::recovery_ip(ip),
                PER_IP_HOUR,
                "requests per hour from this network address",
            )
        }));
    for (key, limit, what) in throttles {
        let n = match p.kv.incr_window(&key, hour).await {
            Ok(n) => n,
            Err(e) => return Some(unavailable(p, ctx, e).await),
        };
        if n > limit {
            let left = p.kv.ttl(&key).await.ok().flatten().unwrap_or(3600).max(1);
            let ev = Event::failure(FailureCode::RecoveryRateLimited)
                .detail("scope", scope.to_string())
                .detail("limit", what)
                .detail("retry_after_seconds", left);
            let until = crate::clock::hh_mm_utc(p.clock.now() + left);
            return Some(
                Failure::new(FailureCode::RecoveryRateLimited, p.audit.record(ev, ctx).await)
                    .detail(format!("You can ask again after {until}.")),
            );
        }
    }
    None
}

/// "Forgot username?": the usernames of the active accounts using this
/// address are sent to it. The answer is the same whatever matched.
pub async fn remind_usernames(p: &Provider, typed: &str, ctx: &RequestContext) -> Result<(), Failure> {
    let typed = typed.trim();
    let Ok(email) = EmailAddress::parse(typed) else {
        let ev = Event::failure(FailureCode::InvalidRequest).detail("reason", "not an email address");
        return Err(Failure::new(FailureCode::InvalidRequest, p.audit.record(ev, ctx).await)
            .detail("Enter the email address on your account."));
    };
    if let Some(f) = throttled(p, "username", email.as_str(), ctx).await {
        return Err(f);
    }
    let accounts: Vec<Account> = match p.accounts.by_email(&email).await {
        Ok(all) => all.into_iter().filter(|a| a.status == Status::Active).collect(),
        Err(e) => return Err(unavailable(p, ctx, e).await),
    };
    p.audit
        .record(
            Event::new("username_reminder_requested").detail("matched_accounts", accounts.len()),
            ctx,
        )
        .await;
    if !accounts.is_empty() {
        send_usernames(p, email.as_str(), &accounts, ctx.clone());
    }
    Ok(())
}

fn send_usernames(p: &Provider, to: &str, accounts: &[Account], ctx: RequestContext) {
    let delivery = p.mfa.delivery().clone();
    let audit = p.audit.clone();
    let to = to.to_string();
    let names: Vec<String> = accounts.iter().map(|a| format!("  {}", a.username)).collect();
    let ids: Vec<String> = accounts.iter().map(|a| a.id.as_str().to_string()).collect();
    tokio::spawn(async move {
        let body = format!(
            "The accounts using this email address:\n\n{}\n\nSign in with one of them, or use \"Forgot password?\" with it to choose a new password. If you did not ask, ignore this message.\n",
            names.join("\n")
        );
        let ev = match delivery.email(&to, "Your username", &body).await {
            Ok(()) => Event::new("username_reminder_sent").detail("accounts", ids),
            Err(answer) => Event::failure(FailureCode::MfaDeliveryFailed)
                .detail("purpose", "username reminder")
                .detail("answer", answer),
        };
        audit.record(ev, &ctx).await;
    });
}

/// Sends the code by email (or SMS when only that is configured), off the
/// request path; a failure is recorded for the admin.
fn send_in_background(p: &Provider, account: &Account, code: String, ctx: RequestContext) {
    let delivery = p.mfa.delivery().clone();
    let audit = p.audit.clone();
    let minutes = CODE_LIFETIME.as_secs() / 60;
    let email = account.email.clone();
    let phone = account.phone.clone();
    let account_id = account.id.as_str().to_string();
    tokio::spawn(async move {
        let result = if delivery.has_email() {
            delivery
                .email(
                    &email,
                    "Reset your password",
                    &format!(
                        "Your password reset code is {code}\n\nIt expires in {minutes} minutes and works once. If you did not ask to reset your password, ignore this message: your password has not changed.\n"
                    ),
                )
                .await
                .map(|()| "email")
        } else if let (true, Some(phone)) = (delivery.has_sms(), phone) {
            delivery
                .sms(
                    &phone,
                    &format!("{code} is your password reset code. It expires in {minutes} minutes. Never share it."),
                )
                .await
                .map(|()| "sms")
        } else {
            Err("no email or SMS delivery is configured".to_string())
        };
        let ev = match result {
            Ok(channel) => Event::new("password_reset_code_sent").detail("channel", channel),
            Err(answer) => Event::failure(FailureCode::MfaDeliveryFailed)
                .detail("purpose", "password reset")
                .detail("answer", answer),
        };
        audit.record(ev.account(account_id), &ctx).await;
    });
}

/// The `recovery_expired` page, recorded with the reason.
pub async fn expired_page(p: &Provider, why: &str, ctx: &RequestContext) -> Failure {
    let ev = Event::failure(FailureCode::RecoveryExpired).detail("reason", why);
    Failure::new(FailureCode::RecoveryExpired, p.audit.record(ev, ctx).await).link("Ask for a new code", "/recover")
}

/// Whether reset `id` is alive for this browser (for showing the form).
pub async fn alive(p: &Provider, id: &str, browser: Option<&str>) -> bool {
    load(p, id, browser).await.ok().flatten().is_some()
}

async fn load(p: &Provider, id: &str, browser: Option<&str>) -> Result<Option<Reset>, store::Error> {
    if id.len() != 43 {
        return Ok(None);
    }
    let Some(json) = p.kv.get(&keys::recovery(&crypto::token_digest(id))).await? else {
        return Ok(None);
    };
    let Ok(reset) = serde_json::from_str::<Reset>(&json) else {
        return Ok(None);
    };
    let same_browser =
        browser.is_some_and(|b| crypto::constant_time_eq(binding_of(b).as_bytes(), reset.binding.as_bytes()));
    Ok((same_browser && p.clock.now() < reset.expires_at).then_some(reset))
}

/// Checks the code and sets the new password.
pub async fn reset(
    p: &Provider,
    id: &str,
    browser: &str,
    code: &str,
    new: &Password,
    confirm: &Password,
    ctx: &RequestContext,
) -> Reseted {
    let expired = |why: &'static str| async move { Reseted::Page(expired_page(p, why, ctx).await) };
    let reset = match load(p, id, Some(browser)).await {
        Ok(Some(r)) => r,
        Ok(None) => return expired("reset unknown, used, past its lifetime or started in another browser").await,
        Err(e) => return Reseted::Page(unavailable(p, ctx, e).await),
    };
    let digest = crypto::token_digest(id);
    let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
    if !crypto::constant_time_eq(code_mac(p, &digest, &digits).as_bytes(), reset.code_mac.as_bytes()) {
        let tries = match p
            .kv
            .incr_window(&keys::recovery_tries(&digest), CODE_LIFETIME * 2)
            .await
        {
            Ok(n) => n,
            Err(e) => return Reseted::Page(unavailable(p, ctx, e).await),
        };
        let mut ev = Event::failure(FailureCode::RecoveryCodeInvalid)
            .detail("tries", tries)
            .detail("matched_account", reset.account_id.is_some());
        if let Some(a) = &reset.account_id {
            ev = ev.account(a.clone());
        }
        if tries >= MAX_TRIES {
            // The last allowed try voids the reset.
            let _ = p.kv.del(&[keys::recovery(&digest)]).await;
            return Reseted::Page(
                Failure::new(
                    FailureCode::RecoveryExpired,
                    p.audit.record(ev.detail("voided", true), ctx).await,
                )
                .detail("Too many wrong codes: this reset is void.")
                .link("Ask for a new code", "/recover"),
            );
        }
        let f = Failure::new(FailureCode::RecoveryCodeInvalid, p.audit.record(ev, ctx).await)
            .detail(format!("{} tries left.", MAX_TRIES - tries));
        return Reseted::Retry {
            problems: Vec::new(),
            failure: Some(f),
        };
    }
    // The code matched, so an account stands behind it.
    let Some(account_id) = reset.account_id.clone() else {
        return expired("reset for no account").await;
    };
    let account = match p.accounts.by_id(&account_id).await {
        Ok(Some(a)) if a.status == Status::Active => a,
        Ok(_) => return expired("account gone or disabled since the request").await,
        Err(e) => return Reseted::Page(unavailable(p, ctx, e).await),
    };
    // Single use: take the record before changing anything, so two parallel
    // submissions cannot both succeed; put it back if the password is refused.
    let key = keys::recovery(&digest);
    let json = match p.kv.get_del(&key).await {
        Ok(Some(j)) => j,
        Ok(None) => return expired("reset already used").await,
        Err(e) => return Reseted::Page(unavailable(p, ctx, e).await),
    };
    match p.accounts.change_password(&account, new, confirm).await {
        Ok(()) => {}
        Err(rejected) => {
            let left = (reset.expires_at - p.clock.now()).max(1) as u64;
            if let Err(e) =
                p.kv.set_ex(&key, &json, Duration::from_secs(left) + CODE_LIFETIME)
                    .await
            {
                return Reseted::Page(unavailable(p, ctx, e).await);
            }
            return match rejected {
                PasswordRejected::Policy(problems) => Reseted::Retry {
                    problems,
                    failure: None,
                },
                PasswordRejected::Store(e) => Reseted::Page(unavailable(p, ctx, e).await),
            };
        }
    }
    // Every session ends and its refresh tokens die: whoever knew the old
    // password is out.
    let ended = match p.end_every_session(account.id.as_str()).await {
        Ok(ended) => ended,
        Err(e) => return Reseted::Page(unavailable(p, ctx, e).await),
    };
    p.audit
        .record(
            Event::new("password_reset")
                .account(account.id.as_str())
                .username(account.username.clone())
                .detail("sessions_ended", ended.sessions)
                .detail("token_families_revoked", ended.families)
                .detail("token_families_unrevoked", ended.unrevoked),
            ctx,
        )
        .await;
    Reseted::Done {
        tx: reset.tx,
        sessions_ended: ended.sessions,
    }
}
