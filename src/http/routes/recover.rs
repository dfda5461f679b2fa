//! "Forgot password?": ask for a code, then set a new password with it.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use crate::accounts::Password;
use crate::app::AppState;
use crate::diagnostics::FailureCode;
use crate::flow::Failure;
use crate::flow::recovery::{self, Requested, Reseted};

use super::super::csrf;
use super::super::extract::{Ctx, FormError, FormPairs, cookie, query_param};
use super::super::pages;
use super::{edge_failure, see_other, with_cookies};

/// A login transaction id to return to, kept only when it is well formed
/// (it ends up in a link).
fn tx_id(v: &str) -> Option<String> {
    (v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then(|| v.to_string())
}

fn request_view(state: &AppState, browser: &str, tx: &str, message: Option<&str>) -> Response {
    let status = if message.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::render(
        status,
        "recover.html",
        context! { csrf => csrf::token(state, browser), tx => tx_id(tx), message => message },
    )
}

fn reset_view(state: &AppState, browser: &str, r: &str, problems: &[String], failure: Option<&Failure>) -> Response {
    let status = match failure {
        Some(f) => StatusCode::from_u16(f.code.status()).unwrap_or(StatusCode::BAD_REQUEST),
        None if !problems.is_empty() => StatusCode::BAD_REQUEST,
        None => StatusCode::OK,
    };
    pages::render(
        status,
        "recover_reset.html",
        context! {
            r => r, csrf => csrf::token(state, browser), problems => problems.to_vec(),
            failure => failure.map(pages::failure_context),
            min_length => state.provider.cfg.password.min_length,
            minutes => recovery::CODE_LIFETIME.as_secs() / 60,
        },
    )
}

pub async fn request_page(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    with_cookies(
        request_view(&state, &browser, &query_param(q.as_deref(), "tx"), None),
        new_cookie,
    )
}

pub(super) async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<FormPairs, FormError>,
    ctx: &Ctx,
) -> Result<(FormPairs, String), Response> {
    let form = match form {
        Ok(f) => f,
        Err(e) => return Err(edge_failure(state, FailureCode::InvalidRequest, &e.0, &ctx.0).await),
    };
    match csrf::check(state, headers, form.get("csrf")) {
        Ok(b) => Ok((form, b)),
        Err(why) => Err(edge_failure(state, FailureCode::CsrfInvalid, why, &ctx.0).await),
    }
}

pub async fn request_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, browser) = match posted(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tx = form.get("tx").and_then(tx_id);
    match recovery::request(
        &state.provider,
        form.get("who").unwrap_or(""),
        &browser,
        tx.clone(),
        &ctx.0,
    )
    .await
    {
        Requested::Started(id) => see_other(&format!("/recover/reset?r={id}")),
        Requested::Retry(message) => request_view(&state, &browser, tx.as_deref().unwrap_or(""), Some(&message)),
        Requested::Page(f) => pages::failure_page(&f),
    }
}

pub async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    let r = query_param(q.as_deref(), "r");
    if recovery::alive(&state.provider, &r, browser.as_deref()).await {
        return reset_view(&state, browser.as_deref().unwrap_or(""), &r, &[], None);
    }
    let f = recovery::expired_page(
        &state.provider,
        "reset unknown, used, past its lifetime or started in another browser",
        &ctx.0,
    )
    .await;
    pages::failure_page(&f)
}

pub async fn reset_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, browser) = match posted(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = form.get("r").unwrap_or("").to_string();
    let new = Password::new(form.get("new_password").unwrap_or(""));
    let confirm = Password::new(form.get("confirm_password").unwrap_or(""));
    match recovery::reset(
        &state.provider,
        &r,
        &browser,
        form.get("code").unwrap_or(""),
        &new,
        &confirm,
        &ctx.0,
    )
    .await
    {
        Reseted::Done { tx, sessions_ended } => pages::render(
            StatusCode::OK,
            "recover_done.html",
            context! { sessions_ended => sessions_ended, continue_tx => tx },
        ),
        Reseted::Retry { problems, failure } => reset_view(&state, &browser, &r, &problems, failure.as_ref()),
        Reseted::Page(f) => pages::failure_page(&f),
    }
}

pub async fn username_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let page = pages::render(
        StatusCode::OK,
        "recover_username.html",
        context! { csrf => csrf::token(&state, &browser) },
    );
    with_cookies(page, new_cookie)
}

pub async fn username_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, _) = match posted(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let typed = form.get("email").unwrap_or("");
    match recovery::remind_usernames(&state.provider, typed, &ctx.0).await {
        Ok(()) => pages::render(
            StatusCode::OK,
            "recover_username.html",
            context! { sent => true, email => typed.trim() },
        ),
        Err(f) => pages::failure_page(&f),
    }
}
