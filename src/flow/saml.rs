//! The SAML leg of a login.
//!
//! `start` sends an AuthnRequest whose ID and send time are kept under the
//! RelayState. The IdP's POST to the ACS arrives cross-site, so the browser
//! withholds the gateway's SameSite=Lax cookies: `acs` therefore judges the
//! response in full (signature, conditions, InResponseTo, replay) and parks
//! the verified assertion under a one-time token, then redirects the browser
//! to `continue` — a top-level GET, which carries the cookies — where the
//! browser is checked against the one that started the sign-in before the
//! login completes. A response posted into someone else's browser therefore
//! cannot log them in (login CSRF).

use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::RequestContext;
use crate::config::Org;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::federation::saml::validate::{Expect, Verified, judge};
use crate::federation::saml::{self, Error};
use crate::federation::{Assertion, Federation};
use crate::provider::Provider;
use crate::session::SessionId;
use crate::store::keys;

use super::Failure;
use super::federation::{fail_with, finish, store_failure};
use super::login::{self, LoginTx, PasswordOutcome};

#[derive(Debug, Serialize, Deserialize)]
struct SamlState {
    tx_id: String,
    org_id: String,
    request_id: String,
    binding: String,
    sent_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Parked {
    tx_id: String,
    org_id: String,
    binding: String,
    assertion: Assertion,
}

async fn fail(p: &Provider, ctx: &RequestContext, org: &str, e: &Error, tx: Option<&LoginTx>) -> Failure {
    fail_with(p, ctx, org, e.code(), e.to_string(), e.detail(), tx).await
}

async fn state_mismatch(p: &Provider, ctx: &RequestContext, org: &str, reason: &str, tx: Option<&LoginTx>) -> Failure {
    fail_with(
        p,
        ctx,
        org,
        FailureCode::SsoStateMismatch,
        format!("state mismatch: {reason}"),
        json!({ "actual": reason, "fix": "usually harmless (old tab, back button, blocked cookies); the user should start again" }),
        tx,
    )
    .await
}

/// Sends the browser to the IdP with an AuthnRequest (HTTP-Redirect).
pub async fn start(
    p: &Provider,
    fed: &Federation,
    tx: &LoginTx,
    org: &Org,
    ctx: &RequestContext,
) -> Result<String, Failure> {
    let (Some(conn), Some(sp)) = (fed.saml(&org.id), fed.sp()) else {
        let e = Error::MetadataUnavailable {
            source_of: org.id.clone(),
            cause: "no SAML connection or SP key".into(),
        };
        return Err(fail(p, ctx, &org.id, &e, Some(tx)).await);
    };
    let md = match conn.metadata().await {
        Ok(m) => m,
        Err(e) => return Err(fail(p, ctx, &org.id, &e, Some(tx)).await),
    };
    let Some(sso) = md.sso_redirect.clone() else {
        let e = Error::MetadataUnavailable {
            source_of: org.id.clone(),
            cause: "the metadata names no HTTP-Redirect SingleSignOnService".into(),
        };
        return Err(fail(p, ctx, &org.id, &e, Some(tx)).await);
    };
    let now = p.clock.now();
    let state = SamlState {
        tx_id: tx.id.clone(),
        org_id: org.id.clone(),
        request_id: format!("_{}", crypto::hex(&crypto::random_bytes::<16>())),
        binding: tx.binding.clone(),
        sent_at: now,
    };
    let relay = crypto::random_token();
    let json = serde_json::to_string(&state).unwrap_or_default();
    if let Err(e) =
        p.kv.set_ex(&keys::fed_state(&relay), &json, p.cfg.login.transaction_lifetime)
            .await
    {
        return Err(store_failure(p, ctx, e).await);
    }
    let url = sp.authn_request_url(
        &sso,
        &conn.sp_entity_id,
        &conn.acs_url,
        &conn.cfg.nameid_format,
        &state.request_id,
        &crate::clock::rfc3339(now),
        &relay,
        conn.cfg.sign_requests,
    );
    match url {
        Ok(u) => Ok(u),
        Err(cause) => {
            let e = Error::MetadataUnavailable {
                source_of: sso,
                cause: format!("could not build the AuthnRequest: {cause}"),
            };
            Err(fail(p, ctx, &org.id, &e, Some(tx)).await)
        }
    }
}

/// What the ACS tells the browser.
#[derive(Debug)]
pub enum AcsOutcome {
    /// Continue at this same-site URL (carries the one-time token).
    Continue(String),
    Page(Failure),
}

/// Maps a verified SAML assertion to the gateway's `Assertion`.
fn assertion(conn: &saml::Connection, v: &Verified) -> Assertion {
    let map = &conn.cfg.attributes;
    let one = |name: &str| v.attribute(name).and_then(|a| a.values.first().cloned());
    let subject = map
        .subject
        .as_deref()
        .and_then(one)
        .unwrap_or_else(|| v.name_id.clone());
    let roles = map
        .roles
        .as_deref()
        .and_then(|r| v.attribute(r))
        .map(|a| a.values.clone())
        .unwrap_or_default();
    let amr = match v.authn_context.as_deref() {
        Some(c) if c.contains("MultiFactor") || c.contains("multipleauthn") || c.contains("mfa") => {
            vec!["mfa".to_string()]
        }
        Some(c) if c.contains("Password") => vec!["pwd".to_string()],
        _ => Vec::new(),
    };
    Assertion {
        via: "saml".into(),
        org_id: conn.org_id.clone(),
        issuer: v.issuer.clone(),
        subject,
        email: one(&map.email),
        name: one(&map.name),
        roles,
        amr,
        acr: v.authn_context.clone(),
        auth_time: None,
    }
}

/// `POST /sso/saml/{org}/acs`.
pub async fn acs(
    p: &Provider,
    fed: &Federation,
    org_id: &str,
    form: &[(String, String)],
    ctx: &RequestContext,
) -> AcsOutcome {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(conn) = fed.saml(org_id).cloned() else {
        let e = Error::Malformed {
            reason: format!("no SAML connection for organization `{org_id}`"),
        };
        return AcsOutcome::Page(fail(p, ctx, org_id, &e, None).await);
    };
    let xml = get("SAMLResponse")
        .map(|b| b.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some(xml) = xml else {
        let e = Error::Malformed {
            reason: "the POST carries no base64 SAMLResponse".into(),
        };
        return AcsOutcome::Page(fail(p, ctx, org_id, &e, None).await);
    };

    // The sign-in this answers, if any: the RelayState names it, once.
    let mut state = None;
    let mut replayed_request = None;
    if let Some(relay) = get("RelayState") {
        match p.kv.get_del(&keys::fed_state(relay)).await {
            Ok(Some(j)) => state = serde_json::from_str::<SamlState>(&j).ok(),
            Ok(None) => {
                replayed_request = p.kv.get(&keys::fed_state_used(relay)).await.ok().flatten();
            }
            Err(e) => return AcsOutcome::Page(store_failure(p, ctx, e).await),
        }
        if let Some(s) = &state {
            let _ =
                p.kv.set_ex(
                    &keys::fed_state_used(relay),
                    &s.request_id,
                    p.cfg.login.transaction_lifetime,
                )
                .await;
        }
    }
    let tx = match &state {
        Some(s) => login::load_tx_unbound(p, &s.tx_id).await,
        None => None,
    };
    if let Some(s) = &state
        && s.org_id != org_id
    {
        let reason = format!(
            "the sign-in was started for {} but answered at {org_id}'s ACS",
            s.org_id
        );
        return AcsOutcome::Page(state_mismatch(p, ctx, org_id, &reason, tx.as_ref()).await);
    }

    let md = match conn.metadata().await {
        Ok(m) => m,
        Err(e) => return AcsOutcome::Page(fail(p, ctx, org_id, &e, tx.as_ref()).await),
    };
    let now = p.clock.now();
    let request_id = state.as_ref().map(|s| s.request_id.clone()).or(replayed_request);
    let sent_at = state.as_ref().map(|s| s.sent_at);
    let judged = {
        let conn = conn.clone();
        let sp = fed.sp().cloned();
        tokio::task::spawn_blocking(move || {
            judge(
                &xml,
                &Expect {
                    idp: &md,
                    sp_entity_id: &conn.sp_entity_id,
                    acs_url: &conn.acs_url,
                    request_id: request_id.as_deref(),
                    request_sent_at: sent_at,
                    allow_idp_initiated: conn.cfg.allow_idp_initiated,
                    now,
                    skew: conn.cfg.allowed_clock_skew.as_secs() as i64,
                    allow_sha1: conn.cfg.allow_sha1,
                    accept_expired_cert: conn.cfg.accept_expired_certificate,
                    want_assertions_signed: conn.cfg.want_assertions_signed,
                    required_attributes: &conn.cfg.required_attributes,
                    decryption_key: sp.as_ref().map(|s| &s.key),
                },
            )
        })
        .await
    };
    let verified = match judged {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return AcsOutcome::Page(fail(p, ctx, org_id, &e, tx.as_ref()).await),
        Err(_) => {
            let e = Error::Malformed {
                reason: "the response could not be processed".into(),
            };
            return AcsOutcome::Page(fail(p, ctx, org_id, &e, tx.as_ref()).await);
        }
    };

    // Replay: each assertion ID is usable once until it expires.
    let ttl = (verified.not_on_or_after + conn.cfg.allowed_clock_skew.as_secs() as i64 - now).max(1);
    let issuer_digest = &crypto::token_digest(&verified.issuer)[..16];
    match p
        .kv
        .set_nx_ex(
            &keys::saml_assertion(issuer_digest, &verified.assertion_id),
            "1",
            Duration::from_secs(ttl as u64),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let e = Error::Replay {
                id: verified.assertion_id.clone(),
            };
            return AcsOutcome::Page(fail(p, ctx, org_id, &e, tx.as_ref()).await);
        }
        Err(e) => return AcsOutcome::Page(store_failure(p, ctx, e).await),
    }
    for w in &verified.warnings {
        tracing::warn!(org = %org_id, warning = %w, "SAML response accepted with a warning");
    }

    let Some(state) = state else {
        // IdP-initiated (allowed by policy, or judge would have refused):
        // no portal asked, so there is no login transaction to finish.
        let e = Error::Unsolicited;
        return AcsOutcome::Page(fail(p, ctx, org_id, &e, None).await);
    };
    let parked = Parked {
        tx_id: state.tx_id,
        org_id: org_id.to_string(),
        binding: state.binding,
        assertion: assertion(&conn, &verified),
    };
    let token = crypto::random_token();
    let json = serde_json::to_string(&parked).unwrap_or_default();
    if let Err(e) =
        p.kv.set_ex(&keys::saml_result(&token), &json, Duration::from_secs(120))
            .await
    {
        return AcsOutcome::Page(store_failure(p, ctx, e).await);
    }
    AcsOutcome::Continue(format!("/sso/saml/{org_id}/continue?r={token}"))
}

/// `GET /sso/saml/{org}/continue?r=…`: same-site, so the browser's cookie
/// is back and can be checked against the one that started the sign-in.
pub async fn resume(
    p: &Provider,
    org: &Org,
    token: &str,
    browser: Option<&str>,
    previous: Option<SessionId>,
    ctx: &RequestContext,
) -> PasswordOutcome {
    let parked = match p.kv.get_del(&keys::saml_result(token)).await {
        Ok(Some(j)) => serde_json::from_str::<Parked>(&j).ok(),
        Ok(None) => None,
        Err(e) => return PasswordOutcome::Page(store_failure(p, ctx, e).await),
    };
    let Some(parked) = parked else {
        let reason = "the verified sign-in was already used or has expired (two minutes)";
        return PasswordOutcome::Page(state_mismatch(p, ctx, &org.id, reason, None).await);
    };
    let tx = login::load_tx_unbound(p, &parked.tx_id).await;
    let same_browser = browser
        .is_some_and(|b| crypto::constant_time_eq(crypto::token_digest(b).as_bytes(), parked.binding.as_bytes()));
    if !same_browser || parked.org_id != org.id {
        let reason = match browser {
            None => "the browser did not send the gateway's cookie back (cookies blocked?)",
            Some(_) if parked.org_id != org.id => "the sign-in belongs to another organization",
            Some(_) => "the response arrived in a different browser than the one that started the sign-in",
        };
        return PasswordOutcome::Page(state_mismatch(p, ctx, &org.id, reason, tx.as_ref()).await);
    }
    let Some(tx) = tx else {
        return PasswordOutcome::Page(super::tx_expired_at_idp(p, &org.id, ctx).await);
    };
    finish(p, org, &tx, parked.assertion, previous, ctx).await
}
