//! Account activation pages: prove who you are, (providers) enter the code
//! sent to the contact on file, then choose a username and password.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use crate::accounts::Password;
use crate::accounts::records::RecordKind;
use crate::app::AppState;
use crate::flow::activation::{self, Finished, Next};

use super::super::csrf;
use super::super::extract::{Ctx, FormError, FormPairs, cookie, query_param};
use super::super::pages;
use super::recover::posted;
use super::{see_other, with_cookies};

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let page = pages::render(
        StatusCode::OK,
        "activate.html",
        context! { csrf => csrf::token(&state, &browser) },
    );
    with_cookies(page, new_cookie)
}

fn code_view(state: &AppState, browser: &str, a: &str, sent_to: Option<&str>) -> Response {
    pages::render(
        StatusCode::OK,
        "activate_code.html",
        context! { a => a, csrf => csrf::token(state, browser), sent_to => sent_to },
    )
}

fn next(state: &AppState, browser: &str, n: Next) -> Response {
    match n {
        Next::Code { id, sent_to } => code_view(state, browser, &id, Some(&sent_to)),
        Next::Credentials { id } => see_other(&format!("/activate/account?a={id}")),
        Next::Page(f) => pages::failure_page(&f),
    }
}

async fn start(
    state: AppState,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
    kind: RecordKind,
) -> Response {
    let (form, browser) = match posted(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (key, proof) = match kind {
        RecordKind::Member => (form.get("member_id"), form.get("date_of_birth")),
        RecordKind::Provider => (form.get("npi"), form.get("tin")),
    };
    let n = activation::start(
        &state.provider,
        kind,
        key.unwrap_or(""),
        proof.unwrap_or(""),
        &browser,
        &ctx.0,
    )
    .await;
    next(&state, &browser, n)
}

pub async fn member(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    start(state, headers, ctx, form, RecordKind::Member).await
}

pub async fn provider(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    start(state, headers, ctx, form, RecordKind::Provider).await
}

pub async fn code_page(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, ctx: Ctx) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    let a = query_param(q.as_deref(), "a");
    match activation::view(&state.provider, &a, browser.as_deref()).await {
        Some(v) if v.code_stage => code_view(&state, browser.as_deref().unwrap_or(""), &a, None),
        Some(_) => see_other(&format!("/activate/account?a={a}")),
        None => pages::failure_page(
            &activation::expired(&state.provider, "activation unknown or from another browser", &ctx.0).await,
        ),
    }
}

pub async fn code_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, browser) = match posted(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let n = activation::verify_code(
        &state.provider,
        form.get("a").unwrap_or(""),
        &browser,
        form.get("code").unwrap_or(""),
        &ctx.0,
    )
    .await;
    next(&state, &browser, n)
}

fn account_view(
    state: &AppState,
    browser: &str,
    a: &str,
    v: &activation::View,
    username: &str,
    problems: &[String],
) -> Response {
    pages::render(
        if problems.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        },
        "activate_account.html",
        context! {
            a => a, csrf => csrf::token(state, browser), name => v.name.clone(), needs_email => v.needs_email,
            username => username, problems => problems.to_vec(), min_length => state.provider.cfg.password.min_length,
        },
    )
}

pub async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    let a = query_param(q.as_deref(), "a");
    match activation::view(&state.provider, &a, browser.as_deref()).await {
        Some(v) if v.code_stage => see_other(&format!("/activate/verify?a={a}")),
        Some(v) => account_view(&state, browser.as_deref().unwrap_or(""), &a, &v, "", &[]),
        None => pages::failure_page(
            &activation::expired(&state.provider, "activation unknown or from another browser", &ctx.0).await,
        ),
    }
}

pub async fn account_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, browser) = match posted(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let a = form.get("a").unwrap_or("").to_string();
    let username = form.get("username").unwrap_or("").to_string();
    let choice = activation::Choice {
        username: username.clone(),
        email: form.get("email").unwrap_or("").to_string(),
        password: Password::new(form.get("new_password").unwrap_or("")),
        confirm: Password::new(form.get("confirm_password").unwrap_or("")),
    };
    match activation::finish(&state.provider, &a, &browser, &choice, &ctx.0).await {
        Finished::Done { username } => {
            pages::render(StatusCode::OK, "activate_done.html", context! { username => username })
        }
        Finished::Retry(problems) => match activation::view(&state.provider, &a, Some(&browser)).await {
            Some(v) => account_view(&state, &browser, &a, &v, &username, &problems),
            None => pages::failure_page(&activation::expired(&state.provider, "activation ended", &ctx.0).await),
        },
        Finished::Page(f) => pages::failure_page(&f),
    }
}

/// An invitation link: checked, then on to choosing credentials.
pub async fn invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let token = query_param(q.as_deref(), "t");
    let n = activation::accept_invitation(&state.provider, &token, &browser, &ctx.0).await;
    with_cookies(next(&state, &browser, n), new_cookie)
}
