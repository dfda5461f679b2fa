//! Upstream federation entry points: `/sso/{org}/start` (a button or a
//! portal's deep link during a login) and the OIDC callback.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::app::AppState;
use crate::diagnostics::FailureCode;
use crate::flow::login;
use crate::flow::{federation, saml};

use super::super::csrf;
use axum::response::IntoResponse;

use super::super::extract::{Ctx, FormError, FormPairs, cookie, query_pairs, query_param};
use super::super::pages;
use super::{edge_failure, login_outcome, see_other, session_from};

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
    let tx_id = query_param(q.as_deref(), "tx");
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
    login_outcome(&state, outcome)
}

/// `/sso/saml/{org}/metadata`: this SP's metadata for the org's IdP admin.
pub async fn saml_metadata(State(state): State<AppState>, Path(org): Path<String>, ctx: Ctx) -> Response {
    let (Some(conn), Some(sp)) = (state.federation.saml(&org), state.federation.sp()) else {
        return edge_failure(
            &state,
            FailureCode::InvalidRequest,
            "no SAML connection for this organization",
            &ctx.0,
        )
        .await;
    };
    let xml = sp.metadata(
        &conn.sp_entity_id,
        &conn.acs_url,
        &conn.cfg.nameid_format,
        conn.cfg.sign_requests,
        conn.cfg.want_assertions_signed,
    );
    let mut r = xml.into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/samlmetadata+xml"),
    );
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// `POST /sso/saml/{org}/acs`: the IdP's HTTP-POST binding. No CSRF token
/// (the IdP's page cannot have one); the response's signature, InResponseTo
/// and the browser check at `continue` stand in for it.
pub async fn saml_acs(
    State(state): State<AppState>,
    Path(org): Path<String>,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(e) => return edge_failure(&state, FailureCode::InvalidRequest, &e.0, &ctx.0).await,
    };
    match saml::acs(&state.provider, &state.federation, &org, &form.0, &ctx.0).await {
        saml::AcsOutcome::Continue(url) => see_other(&url),
        saml::AcsOutcome::Page(f) => pages::failure_page(&f),
    }
}

pub async fn saml_continue(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let Some(org) = state.provider.cfg.org(&org).cloned() else {
        return edge_failure(&state, FailureCode::InvalidRequest, "no such organization", &ctx.0).await;
    };
    let token = query_param(q.as_deref(), "r");
    let browser = cookie(&headers, csrf::cookie_name(&state));
    let outcome = saml::resume(
        &state.provider,
        &org,
        &token,
        browser.as_deref(),
        session_from(&state, &headers),
        &ctx.0,
    )
    .await;
    login_outcome(&state, outcome)
}
