//! The second-factor pages: verify a code (app, text, email, backup code),
//! enroll a method, show backup codes once.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use crate::app::AppState;
use crate::flow::Failure;
use crate::flow::login::{self, LoginTx};
use crate::flow::mfa::{self, Verified};
use crate::mfa::Kind;

use super::super::csrf;
use super::super::extract::{Ctx, FormError, FormPairs, cookie, query_pairs};
use super::super::pages;
use super::login::posted_tx;
use super::{login_outcome, see_other, session_from, set_session_cookie, with_cookies};

fn portal_name(state: &AppState, tx: &LoginTx) -> Option<String> {
    state.provider.cfg.portal(&tx.request.client_id).map(|p| p.name.clone())
}

fn status_of(failure: Option<&Failure>) -> StatusCode {
    failure
        .and_then(|f| StatusCode::from_u16(f.code.status()).ok())
        .unwrap_or(StatusCode::OK)
}

struct OobMethod {
    id: String,
    kind: &'static str,
    to: String,
}

/// Which form the code page shows.
struct Shown<'a> {
    method: &'a str,
    method_id: Option<String>,
    sent_to: Option<String>,
}

async fn verify_view(
    state: &AppState,
    tx: &LoginTx,
    browser: &str,
    shown: Shown<'_>,
    failure: Option<&Failure>,
) -> Response {
    let required_aal = tx.pending.as_ref().map(|p| p.required_aal).unwrap_or(1);
    let enrolled = match &tx.pending {
        Some(p) => state.provider.mfa.enrolled(&p.account_id).await.unwrap_or_default(),
        None => Default::default(),
    };
    let oob: Vec<OobMethod> = enrolled
        .oob
        .iter()
        .filter(|(k, _, _)| k.aal() >= required_aal || tx.pending.as_ref().is_some_and(|p| p.enroll_after))
        .map(|(k, id, to)| OobMethod {
            id: id.clone(),
            kind: k.as_str(),
            to: to.clone(),
        })
        .collect();
    // Without an app, the first usable method is the default form.
    let method = if shown.method == "totp" && !enrolled.totp && shown.method_id.is_none() {
        "backup_code"
    } else {
        shown.method
    };
    // The preferred method comes first: the preferred phone or address at
    // the top of the list (a passkey button always sits above the form).
    let preferred = enrolled.preferred.map(|k| k.as_str()).unwrap_or("");
    let mut oob = oob;
    oob.sort_by_key(|m| m.kind != preferred);
    pages::render(
        status_of(failure),
        "mfa.html",
        context! {
            tx => tx.id.clone(), csrf => csrf::token(state, browser), portal_name => portal_name(state, tx),
            method => method, method_id => shown.method_id, sent_to => shown.sent_to,
            preferred => preferred, totp => enrolled.totp, webauthn => enrolled.webauthn > 0 && state.provider.webauthn.is_some(), oob => oob.iter().map(|m| context! { id => m.id.clone(), kind => m.kind, to => m.to.clone() }).collect::<Vec<_>>(),
            failure => failure.map(pages::failure_context),
            failure_detail => failure.and_then(|f| f.user_detail.clone()),
            remember_days => state.provider.cfg.mfa.remember_device_days,
        },
    )
}

fn enroll_view(
    state: &AppState,
    tx: &LoginTx,
    browser: &str,
    e: &crate::mfa::totp::Enrollment,
    failure: Option<&Failure>,
) -> Response {
    let required_aal = tx.pending.as_ref().map(|p| p.required_aal).unwrap_or(2);
    pages::render(
        status_of(failure),
        "mfa_enroll.html",
        context! {
            tx => tx.id.clone(), csrf => csrf::token(state, browser), portal_name => portal_name(state, tx),
            qr_svg => e.qr_svg.clone(), secret => e.secret_base32.clone(),
            email_allowed => Kind::Email.aal() >= required_aal,
            webauthn => state.provider.webauthn.is_some(),
            failure => failure.map(pages::failure_context),
            failure_detail => failure.and_then(|f| f.user_detail.clone()),
        },
    )
}

fn oob_view(state: &AppState, tx: &LoginTx, browser: &str, sent_to: &str, failure: Option<&Failure>) -> Response {
    pages::render(
        status_of(failure),
        "mfa_oob.html",
        context! {
            tx => tx.id.clone(), csrf => csrf::token(state, browser), sent_to => sent_to, channel => "method",
            failure => failure.map(pages::failure_context),
            failure_detail => failure.and_then(|f| f.user_detail.clone()),
        },
    )
}

fn codes_view(state: &AppState, tx: &LoginTx, browser: &str, codes: &[String]) -> Response {
    pages::render(
        StatusCode::OK,
        "backup_codes.html",
        context! { tx => tx.id.clone(), csrf => csrf::token(state, browser), codes => codes.to_vec() },
    )
}

/// CSRF and the login transaction of a posted MFA form, or the page saying
/// what is wrong.
macro_rules! posted_or_return {
    ($state:expr, $headers:expr, $form:expr, $ctx:expr) => {
        match posted_tx(&$state, &$headers, $form, &$ctx).await {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

/// The end of a second-factor step other than a retry: the portal (with
/// the session and, if asked, the remember-device cookie), the next step,
/// or a failure page.
fn settled(state: &AppState, outcome: Verified) -> Response {
    match outcome {
        Verified::Done(done, token) => {
            let mut cookies = vec![set_session_cookie(state, &done.session_id)];
            if let Some(t) = token {
                cookies.push(device_cookie(state, &t));
            }
            with_cookies(see_other(&done.redirect), cookies)
        }
        Verified::Continue(path) => see_other(&path),
        Verified::Retry(_, f) | Verified::Page(f) => pages::failure_page(&f),
    }
}

/// After an enrollment: the backup codes page, or `settled`.
fn enrolled(state: &AppState, browser: &str, r: Result<(LoginTx, Vec<String>), Verified>) -> Response {
    match r {
        Ok((tx, codes)) => codes_view(state, &tx, browser, &codes),
        Err(other) => settled(state, other),
    }
}

fn device_cookie(state: &AppState, token: &str) -> String {
    let name = if state.https {
        "__Host-gatehouse_device"
    } else {
        "gatehouse_device"
    };
    format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.provider.cfg.mfa.remember_device_days as u64 * 86_400,
        if state.https { "; Secure" } else { "" }
    )
}

async fn tx_from_query(
    state: &AppState,
    headers: &HeaderMap,
    q: Option<&str>,
    ctx: &Ctx,
) -> Result<(LoginTx, String, Vec<(String, String)>), Response> {
    let pairs = query_pairs(q);
    let tx_id = pairs
        .iter()
        .find(|(k, _)| k == "tx")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let browser = cookie(headers, csrf::cookie_name(state));
    match login::load_tx(&state.provider, &tx_id, browser.as_deref(), &ctx.0).await {
        Ok(tx) => Ok((tx, browser.unwrap_or_default(), pairs)),
        Err(f) => Err(pages::failure_page(&f)),
    }
}

pub async fn verify_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let (tx, browser, pairs) = match tx_from_query(&state, &headers, q.as_deref(), &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(f) = mfa::pending_of(&state.provider, &tx, &ctx.0).await {
        return pages::failure_page(&f);
    }
    let method = pairs
        .iter()
        .find(|(k, _)| k == "method")
        .map(|(_, v)| v.as_str())
        .unwrap_or("totp");
    let method = if method == "backup_code" { "backup_code" } else { "totp" };
    verify_view(
        &state,
        &tx,
        &browser,
        Shown {
            method,
            method_id: None,
            sent_to: None,
        },
        None,
    )
    .await
}

pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let method_id = form.get("method_id").unwrap_or("").to_string();
    let kind = match &tx.pending {
        Some(p) => state
            .provider
            .mfa
            .enrolled(&p.account_id)
            .await
            .ok()
            .and_then(|e| e.oob.into_iter().find(|(_, id, _)| *id == method_id).map(|(k, _, _)| k)),
        None => None,
    };
    let method = kind.map(|k| k.as_str()).unwrap_or("sms");
    match mfa::send(&state.provider, &tx, &method_id, &ctx.0).await {
        Ok(to) => {
            verify_view(
                &state,
                &tx,
                &browser,
                Shown {
                    method,
                    method_id: Some(method_id),
                    sent_to: Some(to),
                },
                None,
            )
            .await
        }
        Err(f) => {
            verify_view(
                &state,
                &tx,
                &browser,
                Shown {
                    method: "totp",
                    method_id: None,
                    sent_to: None,
                },
                Some(&f),
            )
            .await
        }
    }
}

pub async fn verify_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let method = Kind::parse(form.get("method").unwrap_or("totp"))
        .unwrap_or(Kind::Totp)
        .as_str();
    let method_id = form.get("method_id").map(String::from);
    let code = form.get("code").unwrap_or("").to_string();
    let remember = form.get("remember") == Some("1");
    let submission = mfa::Submission {
        method,
        method_id: method_id.as_deref(),
        code: &code,
        remember,
    };
    let outcome = mfa::verify(&state.provider, tx, submission, session_from(&state, &headers), &ctx.0).await;
    match outcome {
        Verified::Retry(tx, f) => {
            let shown = Shown {
                method,
                method_id,
                sent_to: Some("your phone or email".into()),
            };
            verify_view(&state, &tx, &browser, shown, Some(&f)).await
        }
        other => settled(&state, other),
    }
}

pub async fn enroll_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let (tx, browser, _) = match tx_from_query(&state, &headers, q.as_deref(), &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match mfa::begin_enroll(&state.provider, tx, &ctx.0).await {
        Ok((tx, enrollment)) => enroll_view(&state, &tx, &browser, &enrollment, None),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn enroll_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let code = form.get("code").unwrap_or("").to_string();
    match mfa::confirm_enroll(&state.provider, tx, &code, &ctx.0).await {
        Ok((tx, codes)) => codes_view(&state, &tx, &browser, &codes),
        Err(Verified::Retry(tx, f)) => {
            // Show the same QR code again with the error.
            let shown = match (
                tx.pending.as_ref().and_then(|p| p.enrolling.clone()),
                mfa::pending_of(&state.provider, &tx, &ctx.0).await,
            ) {
                (Some(method_id), Ok((_, account))) => state
                    .provider
                    .mfa
                    .enrollment(account.id.as_str(), &account.username, &method_id)
                    .await
                    .ok(),
                _ => None,
            };
            match shown {
                Some(e) => enroll_view(&state, &tx, &browser, &e, Some(&f)),
                None => pages::failure_page(&f),
            }
        }
        other => enrolled(&state, &browser, other),
    }
}

pub async fn enroll_oob(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let kind = if form.get("kind") == Some("email") {
        Kind::Email
    } else {
        Kind::Sms
    };
    if tx.pending.as_ref().is_some_and(|p| kind.aal() < p.required_aal) {
        return see_other(&format!("/mfa/enroll?tx={}", tx.id));
    }
    match mfa::begin_enroll_oob(&state.provider, tx, kind, &ctx.0).await {
        Ok((tx, to)) => oob_view(&state, &tx, &browser, &to, None),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn enroll_oob_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let code = form.get("code").unwrap_or("").to_string();
    match mfa::confirm_enroll_oob(&state.provider, tx, &code, &ctx.0).await {
        Ok((tx, codes)) => codes_view(&state, &tx, &browser, &codes),
        Err(Verified::Retry(tx, f)) => oob_view(&state, &tx, &browser, "your phone or email", Some(&f)),
        other => enrolled(&state, &browser, other),
    }
}

pub async fn done(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (_, tx, _) = posted_or_return!(state, headers, form, ctx);
    let outcome = mfa::after_enroll(&state.provider, tx, session_from(&state, &headers), &ctx.0).await;
    login_outcome(&state, outcome)
}

pub async fn webauthn_register_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (_, tx, _) = posted_or_return!(state, headers, form, ctx);
    match mfa::webauthn_register_start(&state.provider, &tx, &ctx.0).await {
        Ok(options) => axum::Json(options).into_response(),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn webauthn_register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let credential = form.get("credential").unwrap_or("").to_string();
    let nickname = form.get("nickname").unwrap_or("Passkey").to_string();
    let r = mfa::webauthn_register_finish(&state.provider, tx, &credential, &nickname, &ctx.0).await;
    enrolled(&state, &browser, r)
}

pub async fn webauthn_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (_, tx, _) = posted_or_return!(state, headers, form, ctx);
    match mfa::webauthn_auth_start(&state.provider, &tx, &ctx.0).await {
        Ok(options) => axum::Json(options).into_response(),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn webauthn_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = posted_or_return!(state, headers, form, ctx);
    let credential = form.get("credential").unwrap_or("").to_string();
    let remember = form.get("remember") == Some("1");
    match mfa::webauthn_auth_finish(
        &state.provider,
        tx,
        &credential,
        remember,
        session_from(&state, &headers),
        &ctx.0,
    )
    .await
    {
        Verified::Retry(tx, f) => {
            verify_view(
                &state,
                &tx,
                &browser,
                Shown {
                    method: "totp",
                    method_id: None,
                    sent_to: None,
                },
                Some(&f),
            )
            .await
        }
        other => settled(&state, other),
    }
}
