//! Upstream federation entry points: `/sso/{org}/start` (a button or a
//! portal's deep link during a login) and the OIDC callback.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::app::AppState;
use crate::diagnostics::FailureCode;
use crate::flow::federation;
use crate::flow::login::{self, PasswordOutcome};

use super::super::csrf;
use super::super::extract::{Ctx, cookie, query_pairs};
use super::super::pages;
use super::{edge_failure, see_other, session_from, set_session_cookie, with_cookies};

/// `/sso/{org}/start?tx=…`: continue the login transaction at the
/// organization's IdP.
pub async fn start(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let Some(org) = state.provider.cfg.org(&org).filter(|o| o.connection.is_some()) else {
        return edge_failure(
            &state,
            FailureCode::InvalidRequest,
            "no such organization connection",
            &ctx.0,
        )
        .await;
    };
    let tx_id = query_pairs(q.as_deref())
        .into_iter()
        .find(|(k, _)| k == "tx")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let browser = cookie(&headers, csrf::cookie_name(&state));
    let tx = match login::load_tx(&state.provider, &tx_id, browser.as_deref(), &ctx.0).await {
        Ok(tx) => tx,
        Err(f) => return pages::failure_page(&f),
    };
    match federation::start(&state.provider, &state.federation, &tx, org, &ctx.0).await {
        Ok(url) => see_other(&url),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn oidc_callback(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let browser = cookie(&headers, csrf::cookie_name(&state));
    let params = query_pairs(q.as_deref());
    let outcome = federation::callback(
        &state.provider,
        &state.federation,
        &org,
        &params,
        browser.as_deref(),
        session_from(&state, &headers),
        &ctx.0,
    )
    .await;
    match outcome {
        PasswordOutcome::Completed(done) => with_cookies(
            see_other(&done.redirect),
            [set_session_cookie(&state, &done.session_id)],
        ),
        PasswordOutcome::Retry(_, f) | PasswordOutcome::Page(f) => pages::failure_page(&f),
    }
}
