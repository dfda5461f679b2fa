//! The login journey: authorization request → login transaction → identify →
//! password → session → authorization code back to the portal.
//!
//! The login transaction lives in the ephemeral store under a random id that
//! travels in the page URL, and is bound to the browser by the digest of its
//! CSRF cookie, so a transaction id leaked or planted in another browser is
//! useless there.

use serde::{Deserialize, Serialize};

use crate::accounts::{Account, AuthError, Password, Username};
use crate::audit::{Event, RequestContext};
use crate::clock;
use crate::config::Portal;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::federation::Federation;
use crate::provider::Provider;
use crate::provider::authorize::{self, AuthorizeRequest, ErrorRedirect, Prompt, Rejection};
use crate::provider::codes::{self, CodeGrant};
use crate::session::{Session, SessionId};
use crate::store::{self, keys};

use super::{Failure, federation, log_store_error};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginTx {
    pub id: String,
    pub request: AuthorizeRequest,
    /// Digest of the CSRF cookie of the browser that started the login.
    pub binding: String,
    pub username: Option<String>,
    pub created_at: i64,
    /// The first factor, once it succeeded and a second one is due.
    #[serde(default)]
    pub pending: Option<super::mfa::Pending>,
}

/// What the browser should be shown after `/oauth2/authorize`.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Back to the portal: a code, or an OAuth error.
    ToPortal(String),
    /// Ask the user to log in.
    Login {
        tx_id: String,
    },
    /// Straight to the organization's IdP (deep link or login_hint).
    ToIdp(String),
    Page(Failure),
}

/// The result of a successful login step that ends the journey.
#[derive(Debug)]
pub struct Completed {
    pub session_id: SessionId,
    pub redirect: String,
}

#[derive(Debug)]
pub enum PasswordOutcome {
    Completed(Completed),
    /// Wrong password: show the form again with this failure.
    Retry(Box<LoginTx>, Failure),
    Page(Failure),
    /// On to another step of the login (the second factor) at this path.
    Continue(String),
}

pub(crate) fn binding_of(browser: &str) -> String {
    crypto::token_digest(browser)
}

async fn fail(p: &Provider, ctx: &RequestContext, code: FailureCode, event: Event) -> Failure {
    let mut e = event;
    e.code = Some(code);
    metrics::counter!("gatehouse_logins_total", "outcome" => code.as_str()).increment(1);
    Failure::new(code, p.audit.record(e, ctx).await)
}

async fn unavailable(p: &Provider, ctx: &RequestContext, e: store::Error) -> Failure {
    log_store_error(&e);
    fail(
        p,
        ctx,
        FailureCode::ServiceUnavailable,
        Event::failure(FailureCode::ServiceUnavailable).detail("cause", e.to_string()),
    )
    .await
}

/// The browser behind an authorization request: its CSRF cookie value and
/// whether it sent that cookie (false: the cookie was made just now).
pub struct Browser<'a> {
    pub cookie: &'a str,
    pub returning: bool,
}

impl Browser<'_> {
    /// What the loop breaker counts on: the cookie (a fresh one too: the
    /// browser sends it back next time), and for a request that came
    /// without one, the address and user agent as well — a client that
    /// keeps no cookies is still counted.
    /// Each with how many times the threshold applies: an address is
    /// shared by everyone behind one office network, so it gets more room.
    fn loop_ids(&self, ctx: &RequestContext) -> Vec<(String, u32)> {
        let mut ids = vec![(binding_of(self.cookie), 1)];
        if !self.returning {
            ids.push((
                crypto::token_digest(&format!(
                    "addr|{}|{}",
                    ctx.ip.as_deref().unwrap_or(""),
                    ctx.user_agent.as_deref().unwrap_or("")
                )),
                ADDRESS_LOOP_FACTOR,
            ));
        }
        ids
    }
}

/// How much more room the address-and-agent key of the loop breaker gets
/// than a browser's own cookie.
const ADDRESS_LOOP_FACTOR: u32 = 5;

/// Which side of a redirect loop answered automatically.
#[derive(Clone, Copy)]
enum Bounce {
    /// The gateway had a session and issued a code at once: the portal is
    /// the one coming straight back.
    Portal,
    /// The gateway sent the browser to the IdP: the browser keeps coming
    /// back to the portal without an answer reaching the gateway.
    Idp,
}

/// Counts an authorization the gateway is about to answer without the user
/// (a code from the SSO session, or a redirect to the IdP) for this browser
/// and portal. Past the threshold within the window the loop is stopped
/// with a page that says which side bounced. A login page breaks a loop by
/// itself (a person has to act), so those are not counted.
async fn loop_breaker(
    p: &Provider,
    client_id: &str,
    loop_ids: &[(String, u32)],
    bounce: Bounce,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let d = &p.cfg.diagnostics;
    let mut count = 0;
    let mut over = false;
    for (id, factor) in loop_ids {
        match p
            .kv
            .incr_window(&keys::authorize_count(id, client_id), d.loop_window)
            .await
        {
            Ok(n) => {
                over |= n > i64::from(d.loop_threshold.saturating_mul(*factor));
                count = count.max(n);
            }
            // The breaker is a diagnostic aid: a store hiccup must not block logins.
            Err(e) => {
                log_store_error(&e);
                return Ok(());
            }
        }
    }
    if !over {
        return Ok(());
    }
    let (side, why) = match bounce {
        Bounce::Portal => (
            "portal",
            "the portal received an authorization code and asked for authorization again right away: it is not keeping its own session (typically a session cookie it cannot set — SameSite=None without Secure, a cookie domain that does not match, or http vs https — or a code exchange that fails on its side)",
        ),
        Bounce::Idp => (
            "idp",
            "the browser was sent to the organization's IdP and came back to the portal without an answer reaching the gateway (the IdP bounced it, or posts its answer elsewhere): check the IdP's ACS / redirect URI for the gateway",
        ),
    };
    let window = d.loop_window.as_secs();
    let event = Event::failure(FailureCode::SsoRedirectLoop)
        .client(client_id.to_string())
        .detail("side", side)
        .detail("authorizations", count)
        .detail("window_seconds", window)
        .detail(
            "expected",
            format!(
                "at most {} automatic authorizations per {window}s for one browser and portal",
                d.loop_threshold
            ),
        )
        .detail(
            "actual",
            format!("{count} within {window}s, each answered at once by the {side}"),
        )
        .detail("fix", why);
    Err(fail(p, ctx, FailureCode::SsoRedirectLoop, event).await)
}

/// Handles an authorization request. `session` is the browser's SSO cookie
/// (if any) and `browser` its CSRF cookie.
pub async fn authorize(
    p: &Provider,
    fed: &Federation,
    params: &[(String, String)],
    session: Option<SessionId>,
    browser: &Browser<'_>,
    ctx: &RequestContext,
) -> AuthorizeOutcome {
    let loop_ids = browser.loop_ids(ctx);
    let browser = browser.cookie;
    let req = match authorize::validate(&p.cfg, params) {
        Ok(r) => r,
        Err(Rejection::Page { code, detail }) => {
            let client = params
                .iter()
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let f = fail(
                p,
                ctx,
                code,
                Event::failure(code).client(client).detail("reason", detail),
            )
            .await;
            return AuthorizeOutcome::Page(f);
        }
        Err(Rejection::Redirect(r)) => {
            tracing::info!(
                client = params
                    .iter()
                    .find(|(k, _)| k == "client_id")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or(""),
                error = r.error,
                "authorization request refused"
            );
            return AuthorizeOutcome::ToPortal(r.location(&p.cfg.server.issuer()));
        }
    };
    let Some(portal) = p.cfg.portal(&req.client_id) else {
        // validate() only returns known clients.
        return AuthorizeOutcome::Page(
            fail(
                p,
                ctx,
                FailureCode::UnknownClient,
                Event::failure(FailureCode::UnknownClient),
            )
            .await,
        );
    };
    let to_portal_error = |error: &'static str, description: &str| {
        AuthorizeOutcome::ToPortal(
            ErrorRedirect {
                redirect_uri: req.redirect_uri.clone(),
                error,
                description: description.to_string(),
                state: req.state.clone(),
            }
            .location(&p.cfg.server.issuer()),
        )
    };

    let existing = match session {
        Some(id) => match p.sessions.get(&id).await {
            Ok(s) => s,
            Err(e) => {
                if req.prompt == Prompt::None {
                    log_store_error(&e);
                    return to_portal_error("temporarily_unavailable", "the session store is unavailable");
                }
                return AuthorizeOutcome::Page(unavailable(p, ctx, e).await);
            }
        },
        None => None,
    };
    let now = p.clock.now();
    if let Some((handle, s)) = &existing
        && authorize::session_satisfies(&req, portal, s, now)
    {
        if let Err(f) = loop_breaker(p, &req.client_id, &loop_ids, Bounce::Portal, ctx).await {
            // A silent (iframe) request gets the protocol's answer, not a page.
            return if req.prompt == Prompt::None {
                to_portal_error(
                    "login_required",
                    &format!("authorization loop stopped (reference {})", f.reference),
                )
            } else {
                AuthorizeOutcome::Page(f)
            };
        }
        return match issue_code(p, &req, &handle.0, s).await {
            Ok(location) => {
                metrics::counter!("gatehouse_logins_total", "outcome" => "sso").increment(1);
                AuthorizeOutcome::ToPortal(location)
            }
            Err(e) => AuthorizeOutcome::Page(unavailable(p, ctx, e).await),
        };
    }
    if req.prompt == Prompt::None {
        let (error, why) = match &existing {
            Some(_) => (
                "login_required",
                "the session does not satisfy this request (account type or max_age)",
            ),
            None => ("login_required", "no session"),
        };
        return to_portal_error(error, why);
    }

    let tx = LoginTx {
        id: crypto::random_token(),
        request: req,
        binding: binding_of(browser),
        username: None,
        created_at: now,
        pending: None,
    };
    if let Err(e) = save_tx(p, &tx).await {
        return AuthorizeOutcome::Page(unavailable(p, ctx, e).await);
    }
    // Home-realm discovery before any page: an explicit `org`, or a
    // login_hint in a federated organization's email domain.
    let hinted = tx
        .request
        .login_hint
        .as_deref()
        .and_then(|h| h.rsplit_once('@'))
        .and_then(|(_, domain)| p.cfg.org_for_domain(domain));
    let org = tx.request.org.as_deref().and_then(|o| p.cfg.org(o)).or(hinted);
    if let Some(org) = org.filter(|o| o.connection.is_some()) {
        if let Err(f) = loop_breaker(p, &tx.request.client_id, &loop_ids, Bounce::Idp, ctx).await {
            return AuthorizeOutcome::Page(f);
        }
        return match federation::start(p, fed, &tx, org, ctx).await {
            Ok(url) => AuthorizeOutcome::ToIdp(url),
            Err(f) => AuthorizeOutcome::Page(f),
        };
    }
    AuthorizeOutcome::Login { tx_id: tx.id }
}

/// A login transaction by id, without the browser check (the federation
/// callback checks the browser against its own state record).
pub(crate) async fn load_tx_unbound(p: &Provider, tx_id: &str) -> Option<LoginTx> {
    let json = p.kv.get(&keys::login_tx(tx_id)).await.ok()??;
    serde_json::from_str(&json).ok()
}

pub(crate) async fn save_tx(p: &Provider, tx: &LoginTx) -> Result<(), store::Error> {
    let json = serde_json::to_string(tx).map_err(|e| store::Error::Corrupt(e.to_string()))?;
    p.kv.set_ex(&keys::login_tx(&tx.id), &json, p.cfg.login.transaction_lifetime)
        .await
}

/// The live login transaction `tx_id`, if it belongs to this browser.
pub async fn load_tx(
    p: &Provider,
    tx_id: &str,
    browser: Option<&str>,
    ctx: &RequestContext,
) -> Result<LoginTx, Failure> {
    let expired = |reason: &'static str| async move {
        fail(
            p,
            ctx,
            FailureCode::LoginExpired,
            Event::failure(FailureCode::LoginExpired).detail("reason", reason),
        )
        .await
    };
    if tx_id.len() != 43 {
        return Err(expired("missing or malformed transaction id").await);
    }
    let json = match p.kv.get(&keys::login_tx(tx_id)).await {
        Ok(Some(j)) => j,
        Ok(None) => return Err(expired("transaction unknown or past its lifetime").await),
        Err(e) => return Err(unavailable(p, ctx, e).await),
    };
    let tx: LoginTx = match serde_json::from_str(&json) {
        Ok(t) => t,
        Err(_) => return Err(expired("transaction record unreadable").await),
    };
    match browser {
        Some(b) if crypto::constant_time_eq(binding_of(b).as_bytes(), tx.binding.as_bytes()) => Ok(tx),
        Some(_) => Err(expired("transaction was started in another browser (CSRF cookie differs)").await),
        None => Err(expired("browser sent no CSRF cookie (cookies blocked?)").await),
    }
}

/// Where the identify step leads.
#[derive(Debug)]
pub enum Identified {
    /// Ask for the password.
    Password(Box<LoginTx>),
    /// The email's domain belongs to a federated organization: go to its
    /// IdP at this URL.
    Federate(String),
    /// The input is unusable: show the form again with this message.
    Retry(Box<LoginTx>, String),
}

/// Identify step: records who is logging in and routes by home realm.
pub async fn identify(
    p: &Provider,
    fed: &Federation,
    mut tx: LoginTx,
    input: &str,
    ctx: &RequestContext,
) -> Result<Identified, Failure> {
    let username = match Username::parse(input) {
        Ok(u) => u,
        Err(msg) => return Ok(Identified::Retry(Box::new(tx), msg.to_string())),
    };
    tx.username = Some(username.as_str().to_string());
    if let Err(e) = save_tx(p, &tx).await {
        return Err(unavailable(p, ctx, e).await);
    }
    let federated = username
        .as_str()
        .rsplit_once('@')
        .and_then(|(_, domain)| p.cfg.org_for_domain(domain))
        .filter(|o| o.connection.is_some());
    match federated {
        Some(org) => federation::start(p, fed, &tx, org, ctx).await.map(Identified::Federate),
        None => Ok(Identified::Password(Box::new(tx))),
    }
}

/// Password step: authenticates, applies the portal's account-type rule,
/// issues a fresh session and a code for the portal.
pub async fn password(
    p: &Provider,
    tx: LoginTx,
    password: &Password,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let Some(name) = tx.username.clone() else {
        return PasswordOutcome::Page(
            fail(
                p,
                ctx,
                FailureCode::LoginExpired,
                Event::failure(FailureCode::LoginExpired).detail("reason", "password step before identify"),
            )
            .await,
        );
    };
    let Ok(username) = Username::parse(&name) else {
        return PasswordOutcome::Page(
            fail(
                p,
                ctx,
                FailureCode::LoginExpired,
                Event::failure(FailureCode::LoginExpired),
            )
            .await,
        );
    };
    let client = tx.request.client_id.clone();
    if p.cfg.portal(&client).is_none() {
        return PasswordOutcome::Page(
            fail(
                p,
                ctx,
                FailureCode::UnknownClient,
                Event::failure(FailureCode::UnknownClient).client(client),
            )
            .await,
        );
    };
    let base = Event::failure(FailureCode::InvalidCredentials)
        .username(name.clone())
        .client(client.clone());

    if let Some(f) = ip_throttled(p, ctx, &base).await {
        return PasswordOutcome::Page(f);
    }
    let result = p.accounts.authenticate(&username, password).await;
    if matches!(
        result,
        Err(AuthError::InvalidCredentials { .. } | AuthError::Locked { .. })
    ) && let Some(ip) = ctx.ip.as_deref()
        && let Err(e) =
            p.kv.incr_window(&keys::login_ip_failures(ip), p.cfg.lockout.window)
                .await
    {
        log_store_error(&e);
    }
    let account = match result {
        Ok(a) => a,
        Err(AuthError::InvalidCredentials {
            attempts_left,
            unknown_user,
        }) => {
            let f = fail(
                p,
                ctx,
                FailureCode::InvalidCredentials,
                base.detail("unknown_user", unknown_user)
                    .detail("attempts_left", attempts_left),
            )
            .await;
            return PasswordOutcome::Retry(Box::new(tx), f);
        }
        Err(AuthError::Locked {
            until,
            failures,
            unknown_user,
        }) => {
            let f = fail(
                p,
                ctx,
                FailureCode::AccountLocked,
                base.detail("unknown_user", unknown_user)
                    .detail("failures", failures)
                    .detail("window_seconds", p.accounts.lockout_for(&name).window.as_secs())
                    .detail("locked_until", clock::rfc3339(until))
                    .detail("unlock", "waits for the time, or `gatehouse account unlock USERNAME`"),
            )
            .await;
            return PasswordOutcome::Page(f.detail(format!("Locked until {}.", clock::hh_mm_utc(until))));
        }
        Err(AuthError::Disabled { account }) => {
            let f = fail(
                p,
                ctx,
                FailureCode::AccountDisabled,
                base.account(account.id.as_str()).org(account.org().map(String::from)),
            )
            .await;
            return PasswordOutcome::Page(f);
        }
        Err(AuthError::NotActivated { account }) => {
            let f = fail(
                p,
                ctx,
                FailureCode::AccountNotActivated,
                base.account(account.id.as_str()),
            )
            .await;
            return PasswordOutcome::Page(f);
        }
        Err(AuthError::Store(e)) => return PasswordOutcome::Page(unavailable(p, ctx, e).await),
    };

    if let Some(f) = check_portal(p, &tx, &account, ctx).await {
        return PasswordOutcome::Page(f);
    }

    let mut detail = serde_json::Map::new();
    detail.insert("via".into(), serde_json::json!("password"));
    let pending = super::mfa::Pending {
        account_id: account.id.as_str().to_string(),
        org: account.org().map(String::from),
        amr: vec!["pwd".into()],
        acr: "urn:gatehouse:loa:1".into(),
        upstream_roles: Vec::new(),
        detail,
        enrolling: None,
        second_factor: None,
        required_aal: 0,
        may_enroll: false,
        established_aal: 0,
        enroll_after: false,
        must_change_password: false,
    };
    if p.accounts.password_expired(&account) {
        return password_expired(p, tx, &account, pending, ctx).await;
    }
    super::mfa::after_primary(p, tx, &account, pending, previous, ctx).await
}

/// `too_many_attempts` when this network address has sent more wrong
/// passwords (over all usernames) than `lockout.per_ip_failures` within the
/// window. Checked before the password, so a blocked address costs no hash.
async fn ip_throttled(p: &Provider, ctx: &RequestContext, base: &Event) -> Option<Failure> {
    let ip = ctx.ip.as_deref()?;
    let key = keys::login_ip_failures(ip);
    let failures: i64 = match p.kv.get(&key).await {
        Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(e) => return Some(unavailable(p, ctx, e).await),
    };
    if failures < i64::from(p.cfg.lockout.per_ip_failures) {
        return None;
    }
    let left = p.kv.ttl(&key).await.ok().flatten().unwrap_or(60).max(1);
    let until = p.clock.now() + left;
    let f = fail(
        p,
        ctx,
        FailureCode::TooManyAttempts,
        base.clone()
            .detail("ip_failures", failures)
            .detail("per_ip_failures", p.cfg.lockout.per_ip_failures)
            .detail("blocked_until", clock::rfc3339(until))
            .detail("password_checked", false),
    )
    .await;
    Some(f.detail(format!("Try again after {}.", clock::hh_mm_utc(until))))
}

/// The password was right but is past its maximum age: record it, keep the
/// first factor pending, and ask for a new password before going on.
async fn password_expired(
    p: &Provider,
    mut tx: LoginTx,
    account: &Account,
    mut pending: super::mfa::Pending,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let age_days = account
        .password_changed_at
        .map(|c| (p.clock.now() - c) / 86_400)
        .unwrap_or(0);
    let max_days = p
        .accounts
        .policy_for(account.org())
        .max_age
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    p.audit
        .record(
            Event::failure(FailureCode::PasswordExpired)
                .account(account.id.as_str())
                .username(account.username.clone())
                .client(tx.request.client_id.clone())
                .detail("password_age_days", age_days)
                .detail("max_age_days", max_days),
            ctx,
        )
        .await;
    pending.must_change_password = true;
    tx.pending = Some(pending);
    if let Err(e) = save_tx(p, &tx).await {
        return PasswordOutcome::Page(unavailable(p, ctx, e).await);
    }
    PasswordOutcome::Continue(format!("/login/password/change?tx={}", tx.id))
}

/// The outcome of a forced password change.
#[derive(Debug)]
pub enum Changed {
    /// On with the login (second factor, then the portal).
    Continue(PasswordOutcome),
    /// Show the form again with these problems.
    Retry(Box<LoginTx>, Vec<String>),
    Page(Failure),
}

/// Sets the new password of an expired one, then continues the login.
pub async fn change_expired_password(
    p: &Provider,
    mut tx: LoginTx,
    new: &Password,
    confirm: &Password,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> Changed {
    let pending = match tx.pending.clone().filter(|pd| pd.must_change_password) {
        Some(pd) => pd,
        None => {
            return Changed::Page(
                fail(
                    p,
                    ctx,
                    FailureCode::LoginExpired,
                    Event::failure(FailureCode::LoginExpired)
                        .detail("reason", "no password change is due in this sign-in"),
                )
                .await,
            );
        }
    };
    let account = match p.accounts.by_id(&pending.account_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Changed::Page(
                fail(
                    p,
                    ctx,
                    FailureCode::LoginExpired,
                    Event::failure(FailureCode::LoginExpired),
                )
                .await,
            );
        }
        Err(e) => return Changed::Page(unavailable(p, ctx, e).await),
    };
    match p.accounts.change_password(&account, new, confirm).await {
        Ok(()) => {}
        Err(crate::accounts::PasswordRejected::Policy(problems)) => return Changed::Retry(Box::new(tx), problems),
        Err(crate::accounts::PasswordRejected::Store(e)) => return Changed::Page(unavailable(p, ctx, e).await),
    }
    p.audit
        .record(
            Event::new("password_changed")
                .account(account.id.as_str())
                .detail("reason", "expired"),
            ctx,
        )
        .await;
    let mut pending = pending;
    pending.must_change_password = false;
    tx.pending = None;
    Changed::Continue(super::mfa::after_primary(p, tx, &account, pending, previous, ctx).await)
}

/// `wrong_portal` when the portal does not accept this account's type,
/// with a link to one that does.
pub(crate) async fn check_portal(
    p: &Provider,
    tx: &LoginTx,
    account: &Account,
    ctx: &RequestContext,
) -> Option<Failure> {
    let portal = p.cfg.portal(&tx.request.client_id)?;
    if portal.account_types.contains(&account.account_type) {
        return check_roles(p, portal, account, ctx).await;
    }
    let allowed: Vec<&str> = portal.account_types.iter().map(|t| t.as_str()).collect();
    let mut f = fail(
        p,
        ctx,
        FailureCode::WrongPortal,
        Event::failure(FailureCode::WrongPortal)
            .username(account.username.clone())
            .client(portal.client_id.clone())
            .account(account.id.as_str())
            .org(account.org().map(String::from))
            .detail("account_type", account.account_type.as_str())
            .detail("portal_accepts", allowed.join(", ")),
    )
    .await
    .detail(format!(
        "This is a {} account; {} accepts {} accounts.",
        account.account_type.as_str(),
        portal.name,
        allowed.join(" or ")
    ));
    if let Some(right) = right_portal(&p.cfg.portals, account.account_type.as_str()) {
        f = f.link(
            format!("Go to {}", right.name),
            right.login_url.clone().unwrap_or_default(),
        );
    }
    Some(f)
}

/// `role_required` when the portal requires roles the account holds none
/// of; otherwise the matching roles are recorded as used (the access
/// review's "unused for N days" reads that).
async fn check_roles(p: &Provider, portal: &Portal, account: &Account, ctx: &RequestContext) -> Option<Failure> {
    if portal.roles.is_empty() {
        return None;
    }
    let held = account.roles();
    let matching: Vec<String> = held.iter().filter(|r| portal.roles.contains(r)).cloned().collect();
    if matching.is_empty() {
        return Some(
            fail(
                p,
                ctx,
                FailureCode::RoleRequired,
                Event::failure(FailureCode::RoleRequired)
                    .username(account.username.clone())
                    .client(portal.client_id.clone())
                    .account(account.id.as_str())
                    .org(account.org().map(String::from))
                    .detail("expected", format!("one of: {}", portal.roles.join(", ")))
                    .detail(
                        "actual",
                        if held.is_empty() {
                            "(no roles)".to_string()
                        } else {
                            held.join(", ")
                        },
                    ),
            )
            .await,
        );
    }
    if let Err(e) = p
        .accounts
        .sql()
        .roles_used(account.id.as_str(), &matching, p.clock.now())
        .await
    {
        log_store_error(&e);
    }
    None
}

fn right_portal<'a>(portals: &'a [Portal], account_type: &str) -> Option<&'a Portal> {
    portals
        .iter()
        .find(|p| p.login_url.is_some() && p.account_types.iter().any(|t| t.as_str() == account_type))
}

/// Ends the journey: the previous session (if any) is replaced by a new one
/// under a new id, the transaction is consumed, and a code is issued.
pub(crate) async fn complete(
    p: &Provider,
    tx: &LoginTx,
    session: Session,
    previous: Option<SessionId>,
) -> Result<Completed, store::Error> {
    if let Some(old) = previous
        && let Ok(Some((handle, _))) = p.sessions.get(&old).await
    {
        p.sessions.delete(&handle).await?;
    }
    let id = p.sessions.create(&session).await?;
    p.kv.del(&[keys::login_tx(&tx.id)]).await?;
    let redirect = issue_code(p, &tx.request, &id.handle().0, &session).await?;
    Ok(Completed {
        session_id: id,
        redirect,
    })
}

async fn issue_code(p: &Provider, req: &AuthorizeRequest, sid: &str, s: &Session) -> Result<String, store::Error> {
    let grant = CodeGrant {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        scope: req.scope.clone(),
        account_id: s.account_id.clone(),
        sid: sid.to_string(),
        auth_time: s.auth_time,
        amr: s.amr.clone(),
        upstream_roles: s.upstream_roles.clone(),
        acr: s.acr.clone(),
    };
    let code = codes::issue(&p.kv, &grant, p.cfg.tokens.code_lifetime).await?;
    let mut pairs = vec![("code", code)];
    if let Some(st) = &req.state {
        pairs.push(("state", st.clone()));
    }
    pairs.push(("iss", p.cfg.server.issuer()));
    Ok(authorize::append_query(&req.redirect_uri, &pairs))
}
