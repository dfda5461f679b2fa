//! The OIDC provider endpoints.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use crate::app::AppState;
use crate::diagnostics::FailureCode;
use crate::flow::login::{self, AuthorizeOutcome};
use crate::flow::logout::{self, LogoutOutcome, LogoutRequest};
use crate::provider::clients::Presented;
use crate::provider::discovery;
use crate::provider::token::Params;
use crate::provider::{BearerError, TokenError};

use super::super::csrf;
use super::super::error::{HttpError, no_store};
use super::super::extract::{Ctx, FormError, FormPairs, basic, bearer, query_pairs};
use super::super::pages;
use super::{clear_session_cookie, edge_failure, see_other, session_from, with_cookies};

fn cacheable(mut r: Response, seconds: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

pub async fn discovery(State(state): State<AppState>) -> Response {
    cacheable(Json(discovery::document(&state.provider.cfg)).into_response(), 300)
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    cacheable(Json(state.provider.keys.jwks()).into_response(), 300)
}

async fn authorize(state: AppState, headers: HeaderMap, params: Vec<(String, String)>, ctx: Ctx) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let outcome = login::authorize(
        &state.provider,
        &state.federation,
        &params,
        session_from(&state, &headers),
        &login::Browser {
            cookie: &browser,
            returning: new_cookie.is_none(),
        },
        &ctx.0,
    )
    .await;
    let response = match outcome {
        AuthorizeOutcome::ToPortal(location) => see_other(&location),
        AuthorizeOutcome::Login { tx_id } => see_other(&format!("/login?tx={tx_id}")),
        AuthorizeOutcome::ToIdp(url) => see_other(&url),
        AuthorizeOutcome::Page(f) => pages::failure_page(&f),
    };
    with_cookies(response, new_cookie)
}

pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    authorize(state, headers, query_pairs(q.as_deref()), ctx).await
}

/// OIDC Core §3.1.2.1: the authorization endpoint also accepts POST. It is a
/// cross-site navigation by design, so it carries no CSRF token; it only
/// starts a login, it never completes one.
pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    match form {
        Ok(f) => authorize(state, headers, f.0, ctx).await,
        Err(e) => edge_failure(&state, FailureCode::InvalidRequest, &e.0, &ctx.0).await,
    }
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Result<Response, HttpError> {
    let form = form.map_err(|e| TokenError::invalid_request(e.0))?;
    let basic = match basic(&headers) {
        Some(h) => {
            Some(Presented::parse_basic(&h).ok_or_else(|| TokenError::invalid_client("malformed Basic credentials"))?)
        }
        None => None,
    };
    let tokens = state.provider.token(&form.0, basic, &ctx.0).await?;
    Ok(no_store(Json(tokens).into_response()))
}

pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormPairs, FormError>,
) -> Result<Response, HttpError> {
    let from_body = form.ok().and_then(|f| f.get("access_token").map(String::from));
    let token = match (bearer(&headers), from_body) {
        (Some(_), Some(_)) => return Err(BearerError::Missing.into()),
        (Some(t), None) | (None, Some(t)) => Some(t),
        (None, None) => None,
    };
    let claims = state.provider.userinfo(token.as_deref()).await?;
    Ok(no_store(Json(claims).into_response()))
}

fn client_for<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    params: &Params<'_>,
) -> Result<&'a crate::config::Portal, TokenError> {
    let basic = match basic(headers) {
        Some(h) => {
            Some(Presented::parse_basic(&h).ok_or_else(|| TokenError::invalid_client("malformed Basic credentials"))?)
        }
        None => None,
    };
    state.provider.authenticate_client(params, basic)
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Result<Response, HttpError> {
    let form = form.map_err(|e| TokenError::invalid_request(e.0))?;
    let params = Params::parse(&form.0)?;
    let portal = client_for(&state, &headers, &params)?;
    let token = params.required("token")?;
    state.provider.revoke(portal, token, &ctx.0).await?;
    Ok(no_store(Json(serde_json::json!({})).into_response()))
}

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormPairs, FormError>,
) -> Result<Response, HttpError> {
    let form = form.map_err(|e| TokenError::invalid_request(e.0))?;
    let params = Params::parse(&form.0)?;
    let portal = client_for(&state, &headers, &params)?;
    if portal.client_secret.is_none() {
        return Err(TokenError::invalid_client("public clients cannot introspect tokens").into());
    }
    let token = params.required("token")?;
    Ok(no_store(
        Json(state.provider.introspect(portal, token).await?).into_response(),
    ))
}

async fn logout(state: AppState, headers: HeaderMap, req: LogoutRequest, confirmed: bool, ctx: Ctx) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let outcome = logout::logout(&state.provider, &req, session_from(&state, &headers), confirmed, &ctx.0).await;
    let response = match outcome {
        LogoutOutcome::Confirm { portal_name } => {
            let mut fields: Vec<(&str, String)> = Vec::new();
            for (k, v) in [
                ("id_token_hint", &req.id_token_hint),
                ("client_id", &req.client_id),
                ("post_logout_redirect_uri", &req.post_logout_redirect_uri),
                ("state", &req.state),
            ] {
                if let Some(v) = v {
                    fields.push((k, v.clone()));
                }
            }
            pages::render(
                axum::http::StatusCode::OK,
                "logout_confirm.html",
                context! { csrf => csrf::token(&state, &browser), portal_name => portal_name, fields => fields },
            )
        }
        LogoutOutcome::Done { redirect } => {
            let r = match redirect {
                Some(loc) => see_other(&loc),
                None => pages::render(axum::http::StatusCode::OK, "signed_out.html", context! {}),
            };
            with_cookies(r, [clear_session_cookie(&state)])
        }
        LogoutOutcome::Page(f) => pages::failure_page(&f),
    };
    with_cookies(response, new_cookie)
}

pub async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let req = LogoutRequest::from_pairs(&query_pairs(q.as_deref()));
    logout(state, headers, req, false, ctx).await
}

/// The confirmation form's POST (CSRF-checked).
pub async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(e) => return edge_failure(&state, FailureCode::InvalidRequest, &e.0, &ctx.0).await,
    };
    if let Err(why) = csrf::check(&state, &headers, form.get("csrf")) {
        return edge_failure(&state, FailureCode::CsrfInvalid, why, &ctx.0).await;
    }
    let req = LogoutRequest::from_pairs(&form.0);
    logout(state, headers, req, true, ctx).await
}
