//! The login pages: identify, then password.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use crate::accounts::Password;
use crate::app::AppState;
use crate::diagnostics::FailureCode;
use crate::flow::Failure;
use crate::flow::login::{self, Identified, LoginTx, PasswordOutcome};

use super::super::csrf;
use super::super::extract::{Ctx, FormError, FormPairs, cookie, query_param};
use super::super::pages;
use super::{edge_failure, login_outcome, see_other, session_from};

fn portal_name(state: &AppState, tx: &LoginTx) -> Option<String> {
    state.provider.cfg.portal(&tx.request.client_id).map(|p| p.name.clone())
}

fn identify_view(state: &AppState, tx: &LoginTx, browser: &str, message: Option<&str>, username: &str) -> Response {
    let status = if message.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::render(
        status,
        "identify.html",
        context! {
            tx => tx.id.clone(), csrf => csrf::token(state, browser), portal_name => portal_name(state, tx),
            message => message, username => username, maintenance => state.health.maintenance(),
        },
    )
}

fn password_view(state: &AppState, tx: &LoginTx, browser: &str, failure: Option<&Failure>) -> Response {
    let status = match failure {
        Some(f) => StatusCode::from_u16(f.code.status()).unwrap_or(StatusCode::UNAUTHORIZED),
        None => StatusCode::OK,
    };
    pages::render(
        status,
        "password.html",
        context! {
            tx => tx.id.clone(), csrf => csrf::token(state, browser), portal_name => portal_name(state, tx),
            username => tx.username.clone(), failure => failure.map(pages::failure_context),
            maintenance => state.health.maintenance(),
        },
    )
}

pub async fn identify_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    match login::load_tx(
        &state.provider,
        &query_param(q.as_deref(), "tx"),
        browser.as_deref(),
        &ctx.0,
    )
    .await
    {
        Ok(tx) => {
            let hint = tx
                .username
                .clone()
                .or_else(|| tx.request.login_hint.clone())
                .unwrap_or_default();
            identify_view(&state, &tx, browser.as_deref().unwrap_or(""), None, &hint)
        }
        Err(f) => pages::failure_page(&f),
    }
}

/// Checks the form and CSRF token and loads the transaction it names.
pub(super) async fn posted_tx(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<FormPairs, FormError>,
    ctx: &Ctx,
) -> Result<(FormPairs, LoginTx, String), Response> {
    let form = match form {
        Ok(f) => f,
        Err(e) => return Err(edge_failure(state, FailureCode::InvalidRequest, &e.0, &ctx.0).await),
    };
    let browser = match csrf::check(state, headers, form.get("csrf")) {
        Ok(b) => b,
        Err(why) => return Err(edge_failure(state, FailureCode::CsrfInvalid, why, &ctx.0).await),
    };
    match login::load_tx(&state.provider, form.get("tx").unwrap_or(""), Some(&browser), &ctx.0).await {
        Ok(tx) => Ok((form, tx, browser)),
        Err(f) => Err(pages::failure_page(&f)),
    }
}

pub async fn identify_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = match posted_tx(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let input = form.get("username").unwrap_or("").to_string();
    match login::identify(&state.provider, &state.federation, tx, &input, &ctx.0).await {
        Ok(Identified::Password(tx)) => see_other(&format!("/login/password?tx={}", tx.id)),
        Ok(Identified::Federate(url)) => see_other(&url),
        Ok(Identified::Retry(tx, message)) => identify_view(&state, &tx, &browser, Some(&message), &input),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn password_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    match login::load_tx(
        &state.provider,
        &query_param(q.as_deref(), "tx"),
        browser.as_deref(),
        &ctx.0,
    )
    .await
    {
        Ok(tx) if tx.username.is_none() => see_other(&format!("/login?tx={}", tx.id)),
        Ok(tx) => password_view(&state, &tx, browser.as_deref().unwrap_or(""), None),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn password_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = match posted_tx(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if tx.username.is_none() {
        return see_other(&format!("/login?tx={}", tx.id));
    }
    let password = Password::new(form.get("password").unwrap_or(""));
    match login::password(&state.provider, tx, &password, session_from(&state, &headers), &ctx.0).await {
        PasswordOutcome::Retry(tx, f) => password_view(&state, &tx, &browser, Some(&f)),
        other => login_outcome(&state, other),
    }
}

fn change_view(state: &AppState, tx: &LoginTx, browser: &str, problems: &[String]) -> Response {
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    pages::render(
        status,
        "password_change.html",
        context! {
            tx => tx.id.clone(), csrf => csrf::token(state, browser), portal_name => portal_name(state, tx),
            problems => problems.to_vec(), min_length => state.provider.accounts.policy_for(tx.pending.as_ref().and_then(|p| p.org.as_deref())).min_length,
        },
    )
}

fn change_due(tx: &LoginTx) -> bool {
    tx.pending.as_ref().is_some_and(|p| p.must_change_password)
}

pub async fn change_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    match login::load_tx(
        &state.provider,
        &query_param(q.as_deref(), "tx"),
        browser.as_deref(),
        &ctx.0,
    )
    .await
    {
        Ok(tx) if !change_due(&tx) => see_other(&format!("/login?tx={}", tx.id)),
        Ok(tx) => change_view(&state, &tx, browser.as_deref().unwrap_or(""), &[]),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn change_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, tx, browser) = match posted_tx(&state, &headers, form, &ctx).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let new = Password::new(form.get("new_password").unwrap_or(""));
    let confirm = Password::new(form.get("confirm_password").unwrap_or(""));
    let previous = session_from(&state, &headers);
    match login::change_expired_password(&state.provider, tx, &new, &confirm, previous, &ctx.0).await {
        login::Changed::Continue(PasswordOutcome::Retry(tx, f)) => password_view(&state, &tx, &browser, Some(&f)),
        login::Changed::Continue(other) => login_outcome(&state, other),
        login::Changed::Retry(tx, problems) => change_view(&state, &tx, &browser, &problems),
        login::Changed::Page(f) => pages::failure_page(&f),
    }
}
