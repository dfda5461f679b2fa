//! The federated leg of a login: from the gateway to the organization's IdP
//! and back. `start` binds a fresh state, nonce and PKCE verifier to the
//! login transaction (and through it to the browser); `callback` checks all
//! three, validates the IdP's answer in full, maps it to an account, and then
//! finishes the login exactly like a password login does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::accounts::{Federated, FederatedIdentity, Status};
use crate::audit::{Event, RequestContext};
use crate::config::Org;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::federation::{Assertion, Federation, oidc};
use crate::provider::Provider;
use crate::session::SessionId;
use crate::store::keys;

use super::Failure;
use super::login::{self, LoginTx, PasswordOutcome};

/// What travels to the IdP and back, stored under the `state` value.
#[derive(Debug, Serialize, Deserialize)]
struct FedState {
    tx_id: String,
    org_id: String,
    nonce: String,
    verifier: String,
    binding: String,
    created_at: i64,
}

pub fn callback_uri(p: &Provider, org_id: &str) -> String {
    format!("{}/sso/oidc/{org_id}/callback", p.cfg.server.issuer())
}

async fn fail(p: &Provider, ctx: &RequestContext, org: &str, e: &oidc::Error, tx: Option<&LoginTx>) -> Failure {
    fail_with(p, ctx, org, e.code(), e.to_string(), e.detail(), tx).await
}

/// Records an upstream failure (code, message, the admin's detail) and
/// builds the user's page, with a "start again" link to the portal when the
/// login transaction is known.
pub(crate) async fn fail_with(
    p: &Provider,
    ctx: &RequestContext,
    org: &str,
    code: FailureCode,
    message: String,
    detail: Value,
    tx: Option<&LoginTx>,
) -> Failure {
    let mut event = Event::failure(code).org(Some(org.to_string())).detail("error", message);
    if let Value::Object(m) = detail {
        for (k, v) in m {
            event = event.detail(&k, v);
        }
    }
    if let Some(tx) = tx {
        event = event.client(tx.request.client_id.clone());
        if let Some(u) = &tx.username {
            event = event.username(u.clone());
        }
    }
    metrics::counter!("gatehouse_logins_total", "outcome" => code.as_str()).increment(1);
    metrics::counter!("gatehouse_federation_failures_total", "org" => org.to_string(), "code" => code.as_str())
        .increment(1);
    let mut f = Failure::new(code, p.audit.record(event, ctx).await);
    if let Some(tx) = tx
        && let Some(url) = p.cfg.portal(&tx.request.client_id).and_then(|pt| pt.login_url.clone())
    {
        f = f.link("Start again", url);
    }
    f
}

pub(crate) async fn store_failure(p: &Provider, ctx: &RequestContext, e: crate::store::Error) -> Failure {
    super::log_store_error(&e);
    let reference = p
        .audit
        .record(
            Event::failure(FailureCode::ServiceUnavailable).detail("cause", e.to_string()),
            ctx,
        )
        .await;
    Failure::new(FailureCode::ServiceUnavailable, reference)
}

/// Sends the browser to `org`'s IdP for login transaction `tx`.
pub async fn start(
    p: &Provider,
    fed: &Federation,
    tx: &LoginTx,
    org: &Org,
    ctx: &RequestContext,
) -> Result<String, Failure> {
    if fed.saml(&org.id).is_some() {
        return super::saml::start(p, fed, tx, org, ctx).await;
    }
    let Some(conn) = fed.oidc(&org.id) else {
        let reference = p
            .audit
            .record(
                Event::failure(FailureCode::InvalidRequest)
                    .detail("reason", format!("org {} has no connection", org.id)),
                ctx,
            )
            .await;
        return Err(Failure::new(FailureCode::InvalidRequest, reference));
    };
    let d = match conn.discovered().await {
        Ok(d) => d,
        Err(e) => return Err(fail(p, ctx, &org.id, &e, Some(tx)).await),
    };
    let state = crypto::random_token();
    let verifier = crypto::random_token();
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let record = FedState {
        tx_id: tx.id.clone(),
        org_id: org.id.clone(),
        nonce: crypto::random_token(),
        verifier,
        binding: tx.binding.clone(),
        created_at: p.clock.now(),
    };
    let json = serde_json::to_string(&record).unwrap_or_default();
    if let Err(e) =
        p.kv.set_ex(&keys::fed_state(&state), &json, p.cfg.login.transaction_lifetime)
            .await
    {
        return Err(store_failure(p, ctx, e).await);
    }
    let hint = tx
        .username
        .as_deref()
        .filter(|u| u.contains('@'))
        .or(tx.request.login_hint.as_deref());
    Ok(conn.authorization_url(&d, &callback_uri(p, &org.id), &state, &record.nonce, &challenge, hint))
}

/// Handles `/sso/oidc/{org}/callback`.
pub async fn callback(
    p: &Provider,
    fed: &Federation,
    org_id: &str,
    params: &[(String, String)],
    browser: Option<&str>,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (Some(org), Some(conn)) = (p.cfg.org(org_id), fed.oidc(org_id)) else {
        let reference = p
            .audit
            .record(
                Event::failure(FailureCode::InvalidRequest)
                    .detail("reason", format!("no OIDC connection for org `{org_id}`")),
                ctx,
            )
            .await;
        return PasswordOutcome::Page(Failure::new(FailureCode::InvalidRequest, reference));
    };
    let state_error = |reason: String| oidc::Error::StateMismatch { reason };

    // 1. The state: present, known, unused, ours, and this browser's.
    let Some(state) = get("state") else {
        return PasswordOutcome::Page(
            fail(
                p,
                ctx,
                org_id,
                &state_error("the IdP's response carries no state parameter".into()),
                None,
            )
            .await,
        );
    };
    let record = match p.kv.get_del(&keys::fed_state(state)).await {
        Ok(r) => r,
        Err(e) => return PasswordOutcome::Page(store_failure(p, ctx, e).await),
    };
    let Some(record) = record.and_then(|j| serde_json::from_str::<FedState>(&j).ok()) else {
        let used = p.kv.get(&keys::fed_state_used(state)).await.ok().flatten().is_some();
        let reason = if used {
            "this response was already used (replayed, submitted twice, or the back button)".to_string()
        } else {
            format!(
                "state unknown or expired: the sign-in took longer than {} or did not start here",
                humantime::format_duration(p.cfg.login.transaction_lifetime)
            )
        };
        return PasswordOutcome::Page(fail(p, ctx, org_id, &state_error(reason), None).await);
    };
    let _ =
        p.kv.set_ex(&keys::fed_state_used(state), "1", p.cfg.login.transaction_lifetime)
            .await;
    let tx = login::load_tx_unbound(p, &record.tx_id).await;
    let tx_ref = tx.as_ref();
    match browser {
        None => {
            let e = state_error(
                "the browser did not send the gateway's cookie back (cookies blocked, or a SameSite policy dropped it)"
                    .into(),
            );
            return PasswordOutcome::Page(fail(p, ctx, org_id, &e, tx_ref).await);
        }
        Some(b) if !crypto::constant_time_eq(crypto::token_digest(b).as_bytes(), record.binding.as_bytes()) => {
            let e =
                state_error("the response arrived in a different browser than the one that started the sign-in".into());
            return PasswordOutcome::Page(fail(p, ctx, org_id, &e, tx_ref).await);
        }
        Some(_) => {}
    }
    if record.org_id != org_id {
        let e = state_error(format!(
            "the sign-in was started for {} but answered at {org_id}'s callback",
            record.org_id
        ));
        return PasswordOutcome::Page(fail(p, ctx, org_id, &e, tx_ref).await);
    }
    let Some(tx) = tx else {
        return PasswordOutcome::Page(super::tx_expired_at_idp(p, org_id, ctx).await);
    };

    // 2. The IdP's answer.
    if let Some(error) = get("error") {
        let e = oidc::Error::IdpError {
            endpoint: "authorization response".into(),
            status: 0,
            error: error.to_string(),
            description: get("error_description").unwrap_or("").to_string(),
        };
        return PasswordOutcome::Page(fail(p, ctx, org_id, &e, Some(&tx)).await);
    }
    let Some(code) = get("code") else {
        let e = oidc::Error::IdpError {
            endpoint: "authorization response".into(),
            status: 0,
            error: "no_code".into(),
            description: "the IdP returned neither a code nor an error".into(),
        };
        return PasswordOutcome::Page(fail(p, ctx, org_id, &e, Some(&tx)).await);
    };
    let assertion = match redeem(p, conn, code, &record).await {
        Ok(a) => a,
        Err(e) => return PasswordOutcome::Page(fail(p, ctx, org_id, &e, Some(&tx)).await),
    };
    finish(p, org, &tx, assertion, previous, ctx).await
}

async fn redeem(
    p: &Provider,
    conn: &oidc::Connection,
    code: &str,
    record: &FedState,
) -> Result<Assertion, oidc::Error> {
    let d = conn.discovered().await?;
    let keys = p.keys.clone();
    let sign = move |claims: &Value| keys.sign(crate::config::SigningAlg::Es256, claims).ok();
    let answer = conn
        .exchange(
            &d,
            code,
            &record.verifier,
            &callback_uri(p, &conn.org_id),
            p.clock.now(),
            &sign,
        )
        .await?;
    let mut claims = conn
        .verify_id_token(
            d.clone(),
            &answer.id_token,
            &record.nonce,
            p.clock.now(),
            answer.idp_date,
        )
        .await?;
    if conn.cfg.userinfo
        && let Some(at) = &answer.access_token
    {
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("").to_string();
        for (k, v) in conn.userinfo(&d, at, &sub).await? {
            claims.entry(k).or_insert(v);
        }
    }
    conn.assertion(&claims)
}

pub(crate) async fn finish(
    p: &Provider,
    org: &Org,
    tx: &LoginTx,
    a: Assertion,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let identity = FederatedIdentity {
        org,
        issuer: &a.issuer,
        subject: &a.subject,
        email: a.email.as_deref(),
    };
    let outcome = match p.accounts.federated(&identity).await {
        Ok(o) => o,
        Err(e) => return PasswordOutcome::Page(store_failure(p, ctx, e).await),
    };
    let (account, provisioned) = match outcome {
        Federated::Linked(a) => (a, false),
        Federated::Provisioned(a) => (a, true),
        Federated::Unknown(reason) => {
            let e = oidc::Error::UnknownUser {
                subject: a.subject.clone(),
                email: a.email.clone(),
                reason,
            };
            return PasswordOutcome::Page(fail(p, ctx, &org.id, &e, Some(tx)).await);
        }
    };
    if account.status != Status::Active {
        let code = if account.status == Status::Disabled {
            FailureCode::AccountDisabled
        } else {
            FailureCode::AccountNotActivated
        };
        let reference = p
            .audit
            .record(
                Event::failure(code)
                    .account(account.id.as_str())
                    .org(Some(org.id.clone()))
                    .client(tx.request.client_id.clone()),
                ctx,
            )
            .await;
        return PasswordOutcome::Page(Failure::new(code, reference));
    }
    if let Some(f) = login::check_portal(p, tx, &account, ctx).await {
        return PasswordOutcome::Page(f);
    }
    let mut amr = vec!["fed".to_string()];
    for m in &a.amr {
        if !amr.contains(m) {
            amr.push(m.clone());
        }
    }
    let mut detail = serde_json::Map::new();
    detail.insert("via".into(), Value::String(a.via.clone()));
    detail.insert("issuer".into(), Value::String(a.issuer.clone()));
    detail.insert("subject".into(), Value::String(a.subject.clone()));
    detail.insert("provisioned".into(), Value::Bool(provisioned));
    detail.insert(
        "upstream_acr".into(),
        a.acr.clone().map(Value::String).unwrap_or(Value::Null),
    );
    let pending = super::mfa::Pending {
        account_id: account.id.as_str().to_string(),
        org: Some(org.id.clone()),
        amr,
        acr: a.acr.clone().unwrap_or_else(|| "urn:gatehouse:loa:1".into()),
        upstream_roles: a.roles.clone(),
        detail,
        enrolling: None,
        second_factor: None,
        required_aal: 0,
        may_enroll: false,
        established_aal: 0,
        enroll_after: false,
        must_change_password: false,
    };
    super::mfa::after_primary(p, tx.clone(), &account, pending, previous, ctx).await
}
