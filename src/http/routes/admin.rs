//! `/admin` (HTML) and `/api/admin` (JSON): the diagnostics console. Every
//! handler starts from `flow::admin::admin`, which decides who may see what;
//! the console signs in through the gateway's own authorize endpoint as the
//! built-in `gatehouse-admin` portal (PKCE, state bound to this browser), so
//! the second factor is enforced by the same login every portal uses.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde_json::json;

use crate::app::AppState;
use crate::audit::RequestContext;
use crate::config::ADMIN_CLIENT_ID;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::flow::Failure;
use crate::flow::admin::{self, Admin, Refusal};
use crate::flow::org_admin::{self, Managed};
use crate::flow::preflight;
use crate::provider::codes;
use crate::store::org::HistoryFilter;

use super::super::csrf;
use super::super::error::HttpError;
use super::super::extract::{Ctx, FormError, FormPairs, cookie, query_param};
use super::super::pages::{self, json_value};
use super::{edge_failure, see_other, session_from, with_cookies};

const LOGIN_COOKIE: &str = "gatehouse_admin_login";

/// `__Secure-` (not `__Host-`, which requires `Path=/`): the cookie is
/// only ever needed under /admin.
fn login_cookie(state: &AppState) -> String {
    if state.https {
        format!("__Secure-{LOGIN_COOKIE}")
    } else {
        LOGIN_COOKIE.to_string()
    }
}

/// Only console paths are returned to after sign-in.
fn safe_return(path: &str) -> &str {
    let ok = (path == "/admin" || path.starts_with("/admin/"))
        && !path.contains("//")
        && !path.contains('\\')
        && path.bytes().all(|b| b.is_ascii_graphic());
    if ok { path } else { "/admin" }
}

/// The signed-in admin, or the response to send instead (sign-in redirect
/// for pages, 401 JSON for the API, the failure page when not permitted).
async fn guard(
    state: &AppState,
    headers: &HeaderMap,
    ctx: &RequestContext,
    here: &str,
    api: bool,
) -> Result<Admin, Response> {
    match admin::admin(&state.provider, session_from(state, headers), ctx).await {
        Ok(a) => Ok(a),
        Err(Refusal::SignIn) if api => Err(api_failure(
            state,
            FailureCode::SessionRequired,
            "sign in to /admin first (with a second factor)",
            ctx,
        )
        .await),
        Err(Refusal::SignIn) => Err(see_other(&format!(
            "/admin/login?return={}",
            url::form_urlencoded::byte_serialize(safe_return(here).as_bytes()).collect::<String>()
        ))),
        Err(Refusal::Denied(f)) if api => Err(failure_json(&f)),
        Err(Refusal::Denied(f)) => Err(pages::failure_page(&f)),
    }
}

/// The value, or the response to send instead.
macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

macro_rules! guarded {
    ($state:expr, $headers:expr, $ctx:expr, $here:expr, $api:expr) => {
        or_return!(guard(&$state, &$headers, &$ctx.0, $here, $api).await)
    };
}

/// A refusal as the API answers it: `{error, message, reference}` with the
/// failure code's status (the project's `HttpError::Json`).
fn failure_json(f: &Failure) -> Response {
    HttpError::Json {
        code: f.code,
        message: f.user_detail.clone().unwrap_or_else(|| f.code.title().to_string()),
        reference: Some(f.reference.clone()),
    }
    .into_response()
}

/// Records an API refusal (so it has a reference) and answers it.
async fn api_failure(state: &AppState, code: FailureCode, why: &str, ctx: &RequestContext) -> Response {
    let e = crate::audit::Event::failure(code).detail("reason", why);
    let reference = state.provider.audit.record(e, ctx).await;
    failure_json(&Failure::new(code, reference).detail(why.to_string()))
}

async fn unavailable_json(state: &AppState, e: &crate::store::Error, ctx: &RequestContext) -> Response {
    crate::flow::log_store_error(e);
    api_failure(state, FailureCode::ServiceUnavailable, "the store is unavailable", ctx).await
}

fn unavailable_page() -> Response {
    pages::render(
        StatusCode::SERVICE_UNAVAILABLE,
        "error.html",
        context! { code => "service_unavailable", title => FailureCode::ServiceUnavailable.title(),
        next_step => FailureCode::ServiceUnavailable.next_step() },
    )
}

// -- sign-in -----------------------------------------------------------------

pub async fn login(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let return_to = safe_return(&query_param(q.as_deref(), "return")).to_string();
    let state_value = crypto::random_token();
    let verifier = crypto::random_token();
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let issuer = state.provider.cfg.server.issuer();
    let mut u = match url::Url::parse(&format!("{issuer}/oauth2/authorize")) {
        Ok(u) => u,
        Err(_) => return unavailable_page(),
    };
    u.query_pairs_mut()
        .append_pair("client_id", ADMIN_CLIENT_ID)
        .append_pair("redirect_uri", &format!("{issuer}/admin/callback"))
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", &state_value)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let cookie = format!(
        "{}={state_value}.{verifier}.{}; Path=/admin; HttpOnly; SameSite=Lax; Max-Age=900{}",
        login_cookie(&state),
        crypto::b64url(return_to.as_bytes()),
        if state.https { "; Secure" } else { "" }
    );
    with_cookies(see_other(u.as_str()), [cookie])
}

pub async fn callback(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, ctx: Ctx) -> Response {
    let clear = format!(
        "{}=; Path=/admin; HttpOnly; SameSite=Lax; Max-Age=0{}",
        login_cookie(&state),
        if state.https { "; Secure" } else { "" }
    );
    let saved = cookie(&headers, &login_cookie(&state)).unwrap_or_default();
    let response = match finish_sign_in(&state, &saved, q.as_deref()).await {
        Ok(ret) => see_other(safe_return(&ret)),
        Err(Some((code, why))) => edge_failure(&state, code, why, &ctx.0).await,
        Err(None) => unavailable_page(),
    };
    with_cookies(response, [clear])
}

/// Checks the callback against this browser's sign-in cookie and consumes
/// the code; returns where to go. `Err(None)`: the store is unavailable.
async fn finish_sign_in(
    state: &AppState,
    saved: &str,
    query: Option<&str>,
) -> Result<String, Option<(FailureCode, &'static str)>> {
    let mut parts = saved.splitn(3, '.');
    let (Some(expected_state), Some(verifier), Some(ret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Some((
            FailureCode::LoginExpired,
            "admin callback without its sign-in cookie",
        )));
    };
    let got_state = query_param(query, "state");
    if !crypto::constant_time_eq(got_state.as_bytes(), expected_state.as_bytes()) {
        return Err(Some((
            FailureCode::SsoStateMismatch,
            "admin callback state differs from this browser's",
        )));
    }
    let grant = match codes::redeem(&state.provider.kv, &query_param(query, "code")).await {
        Ok(codes::Redeemed::Fresh(g)) => g,
        Ok(_) => return Err(Some((FailureCode::LoginExpired, "admin callback code unknown or used"))),
        Err(e) => {
            crate::flow::log_store_error(&e);
            return Err(None);
        }
    };
    if grant.client_id != ADMIN_CLIENT_ID || !codes::verify_pkce(verifier, &grant.code_challenge) {
        return Err(Some((
            FailureCode::InvalidRequest,
            "admin callback code not issued to the console",
        )));
    }
    Ok(crypto::b64url_decode(ret)
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default())
}

/// A console form: parsed, CSRF-checked; returns it and the browser.
async fn checked_form(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<FormPairs, FormError>,
    ctx: &RequestContext,
) -> Result<(FormPairs, String), Response> {
    let form = match form {
        Ok(f) => f,
        Err(e) => return Err(edge_failure(state, FailureCode::InvalidRequest, &e.0, ctx).await),
    };
    match csrf::check(state, headers, form.get("csrf")) {
        Ok(browser) => Ok((form, browser)),
        Err(why) => Err(edge_failure(state, FailureCode::CsrfInvalid, why, ctx).await),
    }
}

// -- pages -------------------------------------------------------------------

pub async fn overview(State(state): State<AppState>, headers: HeaderMap, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", false);
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let data = match overview_data(&state, &a).await {
        Ok(d) => d,
        Err(e) => {
            crate::flow::log_store_error(&e);
            return unavailable_page();
        }
    };
    let page = pages::render(
        StatusCode::OK,
        "admin.html",
        context! {
            who => a.username().to_string(), gateway_admin => a.is_gateway_admin(),
            scope => a.org_filter().map(str::to_string),
            data => json_value(&data), csrf => csrf::token(&state, &browser),
            maintenance_current => state.health.maintenance(),
            sign_out => {
                let issuer = state.provider.cfg.server.issuer();
                format!(
                    "/oauth2/logout?client_id={ADMIN_CLIENT_ID}&post_logout_redirect_uri={}",
                    url::form_urlencoded::byte_serialize(format!("{issuer}/admin").as_bytes()).collect::<String>()
                )
            },
        },
    );
    with_cookies(page, new_cookie)
}

/// The certificates the admin may see (the gateway's own: admins only).
async fn visible_certificates(state: &AppState, a: &Admin) -> Vec<crate::flow::health::CertView> {
    state
        .health
        .certificates(&state.federation)
        .await
        .into_iter()
        .filter(|c| a.sees(Some(&c.cert.org)) || (a.is_gateway_admin() && c.cert.org == "gatehouse"))
        .collect()
}

/// The health of every organization the admin may see.
async fn visible_orgs(state: &AppState, a: &Admin) -> Result<Vec<crate::flow::health::OrgHealth>, crate::store::Error> {
    let mut orgs = Vec::new();
    for org in state.provider.cfg.orgs.iter().filter(|o| a.sees(Some(&o.id))) {
        orgs.push(state.health.org(&org.id, &state.federation).await?);
    }
    Ok(orgs)
}

async fn overview_data(state: &AppState, a: &Admin) -> Result<serde_json::Value, crate::store::Error> {
    let orgs = visible_orgs(state, a).await?;
    let certs = visible_certificates(state, a).await;
    let recent = admin::recent_failures(&state.provider, a, 25).await?;
    Ok(json!({ "orgs": orgs, "certificates": certs, "recent": recent }))
}

pub async fn reference_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let typed = query_param(q.as_deref(), "code");
    let here = format!(
        "/admin/ref?code={}",
        url::form_urlencoded::byte_serialize(typed.as_bytes()).collect::<String>()
    );
    let a = guarded!(state, headers, ctx, &here, false);
    match admin::lookup(&state.provider, &a, &typed).await {
        Ok(events) => pages::render(
            if events.is_empty() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            },
            "admin_ref.html",
            context! { typed => typed, events => json_value(&json!(events)) },
        ),
        Err(e) => {
            crate::flow::log_store_error(&e);
            unavailable_page()
        }
    }
}

pub async fn org_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    ctx: Ctx,
) -> Response {
    let here = format!("/admin/orgs/{org}");
    let a = guarded!(state, headers, ctx, &here, false);
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let page = org_view(&state, &a, &org, &browser, None).await;
    with_cookies(page, new_cookie)
}

async fn org_view(
    state: &AppState,
    a: &Admin,
    org: &str,
    browser: &str,
    checks: Option<serde_json::Value>,
) -> Response {
    if state.provider.cfg.org(org).is_none() || !a.sees(Some(org)) {
        return pages::render(
            StatusCode::NOT_FOUND,
            "admin_ref.html",
            context! { typed => org.to_string(), events => json_value(&json!([])), what => "organization" },
        );
    }
    let health = match state.health.org(org, &state.federation).await {
        Ok(h) => h,
        Err(e) => {
            crate::flow::log_store_error(&e);
            return unavailable_page();
        }
    };
    let events: Vec<_> = state
        .provider
        .audit
        .recent(Some(org), 30)
        .await
        .unwrap_or_default()
        .iter()
        .map(admin::view)
        .collect();
    let certs: Vec<_> = state
        .health
        .certificates(&state.federation)
        .await
        .into_iter()
        .filter(|c| c.cert.org == org)
        .collect();
    pages::render(
        StatusCode::OK,
        "admin_org.html",
        context! {
            health => json_value(&json!(health)), events => json_value(&json!(events)),
            certificates => json_value(&json!(certs)), checks => checks.as_ref().map(json_value),
            csrf => csrf::token(state, browser),
        },
    )
}

pub async fn preflight_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let here = format!("/admin/orgs/{org}");
    let a = guarded!(state, headers, ctx, &here, false);
    let browser = match checked_form(&state, &headers, form, &ctx.0).await {
        Ok((_, b)) => b,
        Err(r) => return r,
    };
    if !a.sees(Some(&org)) {
        return org_view(&state, &a, &org, &browser, None).await;
    }
    let report = preflight::run(&state.provider.cfg, &state.federation, &org, state.provider.clock.now()).await;
    org_view(&state, &a, &org, &browser, Some(json!(report))).await
}

pub async fn maintenance_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", false);
    let form = match checked_form(&state, &headers, form, &ctx.0).await {
        Ok((f, _)) => f,
        Err(r) => return r,
    };
    if !a.is_gateway_admin() {
        return edge_failure(
            &state,
            FailureCode::NotPermitted,
            "maintenance notice needs gatehouse_admin",
            &ctx.0,
        )
        .await;
    }
    let text = form.get("notice").filter(|_| form.get("action") != Some("clear"));
    if text.is_some_and(|t| t.chars().count() > 500) {
        return edge_failure(
            &state,
            FailureCode::InvalidRequest,
            "maintenance notice longer than 500 characters",
            &ctx.0,
        )
        .await;
    }
    if let Err(e) = state.health.set_maintenance(text, a.username()).await {
        crate::flow::log_store_error(&e);
        return unavailable_page();
    }
    state
        .provider
        .audit
        .record(
            crate::audit::Event::new("maintenance_notice_set")
                .account(a.viewer.account.id.as_str())
                .username(a.username().to_string())
                .detail("notice", text.unwrap_or("")),
            &ctx.0,
        )
        .await;
    see_other("/admin")
}

// -- JSON API ----------------------------------------------------------------

pub async fn api_reference(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    ctx: Ctx,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    match admin::lookup(&state.provider, &a, &code).await {
        Ok(events) if events.is_empty() => {
            api_failure(
                &state,
                FailureCode::NotFound,
                "no event with this reference in your scope",
                &ctx.0,
            )
            .await
        }
        Ok(events) => Json(json!({ "reference": events[0].reference, "events": events })).into_response(),
        Err(e) => unavailable_json(&state, &e, &ctx.0).await,
    }
}

pub async fn api_orgs(State(state): State<AppState>, headers: HeaderMap, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    match visible_orgs(&state, &a).await {
        Ok(orgs) => Json(json!({ "orgs": orgs })).into_response(),
        Err(e) => unavailable_json(&state, &e, &ctx.0).await,
    }
}

pub async fn api_org(State(state): State<AppState>, headers: HeaderMap, Path(org): Path<String>, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    if state.provider.cfg.org(&org).is_none() || !a.sees(Some(&org)) {
        return api_failure(
            &state,
            FailureCode::NotFound,
            "no such organization in your scope",
            &ctx.0,
        )
        .await;
    }
    match state.health.org(&org, &state.federation).await {
        Ok(h) => Json(json!(h)).into_response(),
        Err(e) => unavailable_json(&state, &e, &ctx.0).await,
    }
}

pub async fn api_incidents(State(state): State<AppState>, headers: HeaderMap, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    match state.health.incidents(a.org_filter()).await {
        Ok(v) => Json(json!({ "incidents": v })).into_response(),
        Err(e) => unavailable_json(&state, &e, &ctx.0).await,
    }
}

pub async fn api_certificates(State(state): State<AppState>, headers: HeaderMap, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    Json(json!({ "certificates": visible_certificates(&state, &a).await })).into_response()
}

pub async fn api_preflight(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    ctx: Ctx,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    // It makes outbound requests: a cross-site POST must not trigger it.
    let token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    if let Err(why) = csrf::check(&state, &headers, token) {
        return api_failure(&state, FailureCode::CsrfInvalid, why, &ctx.0).await;
    }
    if state.provider.cfg.org(&org).is_none() || !a.sees(Some(&org)) {
        return api_failure(
            &state,
            FailureCode::NotFound,
            "no such organization in your scope",
            &ctx.0,
        )
        .await;
    }
    let report = preflight::run(&state.provider.cfg, &state.federation, &org, state.provider.clock.now()).await;
    Json(json!(report)).into_response()
}

// -- organization administration ----------------------------------------------

/// The organization a page acts on (`?org=` for gateway admins), or the
/// refusal page.
async fn managed(
    state: &AppState,
    a: &Admin,
    requested: Option<&str>,
    ctx: &RequestContext,
) -> Result<Managed, Response> {
    Managed::for_admin(&state.provider, a, requested, ctx)
        .await
        .map_err(|f| pages::failure_page(&f))
}

fn org_query(q: Option<&str>) -> Option<String> {
    Some(query_param(q, "org")).filter(|o| !o.is_empty())
}

async fn people_view(state: &AppState, a: &Admin, m: &Managed, browser: &str, notice: Option<String>) -> Response {
    let members = match org_admin::members(&state.provider, m).await {
        Ok(x) => x,
        Err(e) => {
            crate::flow::log_store_error(&e);
            return unavailable_page();
        }
    };
    let invitations = org_admin::pending_invitations(&state.provider, m)
        .await
        .unwrap_or_default();
    let orgs: Vec<String> = if a.is_gateway_admin() {
        state.provider.cfg.orgs.iter().map(|o| o.id.clone()).collect()
    } else {
        Vec::new()
    };
    pages::render(
        StatusCode::OK,
        "admin_people.html",
        context! {
            org => json_value(&json!({"id": m.org.id, "name": m.org.name, "tins": m.org.tins})),
            members => json_value(&json!(members)), invitations => json_value(&json!(invitations)),
            roles => m.org.grantable_roles(), csrf => csrf::token(state, browser), notice => notice,
            orgs => orgs,
        },
    )
}

pub async fn people(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin/people", false);
    let m = or_return!(managed(&state, &a, org_query(q.as_deref()).as_deref(), &ctx.0).await);
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    with_cookies(people_view(&state, &a, &m, &browser, None).await, new_cookie)
}

/// One POST endpoint for the people page's actions; `action` says which.
pub async fn people_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin/people", false);
    let (form, browser) = or_return!(checked_form(&state, &headers, form, &ctx.0).await);
    let m = or_return!(managed(&state, &a, form.get("org"), &ctx.0).await);
    let p = &state.provider;
    let field = |k: &str| form.get(k).unwrap_or("").trim().to_string();
    let (user, role, tin, reason) = (field("username"), field("role"), field("tin"), field("reason"));
    let c = &ctx.0;
    let done = match form.get("action").unwrap_or("") {
        "grant" => org_admin::grant(p, &m, &user, &role, &tin, &reason, c)
            .await
            .map(|()| format!("{user} now holds {role}.")),
        "revoke" => org_admin::revoke(p, &m, &user, &role, &tin, &reason, c)
            .await
            .map(|()| format!("{role} revoked from {user}.")),
        "disable" => org_admin::set_disabled(p, &m, &user, true, &reason, c)
            .await
            .map(|()| format!("{user} is disabled and signed out.")),
        "enable" => org_admin::set_disabled(p, &m, &user, false, &reason, c)
            .await
            .map(|()| format!("{user} is enabled.")),
        "unlock" => org_admin::unlock(p, &m, &user, &reason, c)
            .await
            .map(|()| format!("{user} is unlocked.")),
        "reset_mfa" => org_admin::reset_mfa(p, &m, &user, &reason, c)
            .await
            .map(|()| format!("{user}'s second factors are removed; they enroll again at their next sign-in.")),
        "invite" => org_admin::invite(p, &m, &field("email"), &role, &tin, &reason, c)
            .await
            .map(|to| format!("Invitation sent to {to}.")),
        "resend" => org_admin::resend_invitation(p, &m, &field("invitation"), c)
            .await
            .map(|to| format!("Invitation sent again to {to}.")),
        "revoke_invitation" => org_admin::revoke_invitation(p, &m, &field("invitation"), &reason, c)
            .await
            .map(|()| "Invitation revoked.".to_string()),
        _ => return edge_failure(&state, FailureCode::InvalidRequest, "unknown action", c).await,
    };
    match done {
        Ok(notice) => people_view(&state, &a, &m, &browser, Some(notice)).await,
        Err(f) => pages::failure_page(&f),
    }
}

fn history_filter(q: Option<&str>) -> Result<HistoryFilter, String> {
    let day = |k: &str, end: bool| -> Result<Option<i64>, String> {
        let v = query_param(q, k);
        if v.is_empty() {
            return Ok(None);
        }
        let t = humantime::parse_rfc3339_weak(&format!("{v}T00:00:00Z"))
            .map_err(|_| format!("`{v}` is not a date such as 2026-11-01"))?
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| format!("`{v}` is before 1970"))?
            .as_secs() as i64;
        Ok(Some(if end { t + 86_399 } else { t }))
    };
    Ok(HistoryFilter {
        from: day("from", false)?,
        to: day("to", true)?,
        person: Some(query_param(q, "person")).filter(|p| !p.is_empty()),
    })
}

pub async fn history(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin/history", false);
    let m = or_return!(managed(&state, &a, org_query(q.as_deref()).as_deref(), &ctx.0).await);
    let filter = match history_filter(q.as_deref()) {
        Ok(f) => f,
        Err(why) => return edge_failure(&state, FailureCode::InvalidRequest, &why, &ctx.0).await,
    };
    let rows = match org_admin::history(&state.provider, &m, &filter).await {
        Ok(r) => r,
        Err(e) => {
            crate::flow::log_store_error(&e);
            return unavailable_page();
        }
    };
    let csv_link = format!("/admin/history.csv?{}", q.as_deref().unwrap_or(""));
    pages::render(
        StatusCode::OK,
        "admin_history.html",
        context! {
            org => json_value(&json!({"id": m.org.id, "name": m.org.name})), rows => json_value(&json!(rows)),
            from => query_param(q.as_deref(), "from"), to => query_param(q.as_deref(), "to"),
            person => query_param(q.as_deref(), "person"), csv => csv_link,
        },
    )
}

pub async fn history_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin/history", true);
    match history_json(&state, &a, q.as_deref(), &ctx.0).await {
        Ok((m, rows)) => {
            let mut r = org_admin::history_csv(&rows).into_response();
            let h = r.headers_mut();
            h.insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
                "attachment; filename=\"delegation-history-{}.csv\"",
                m.org.id
            )) {
                h.insert(axum::http::header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(r) => r,
    }
}

/// The delegation history a query asks for, for the routes that answer in
/// JSON (the API and the CSV download): refusals and store failures come
/// back as JSON responses.
async fn history_json(
    state: &AppState,
    a: &Admin,
    q: Option<&str>,
    ctx: &RequestContext,
) -> Result<(Managed, Vec<crate::store::org::DelegationRow>), Response> {
    let m = managed_json(state, a, q, ctx).await?;
    let filter = match history_filter(q) {
        Ok(f) => f,
        Err(why) => return Err(api_failure(state, FailureCode::InvalidRequest, &why, ctx).await),
    };
    match org_admin::history(&state.provider, &m, &filter).await {
        Ok(rows) => Ok((m, rows)),
        Err(e) => Err(unavailable_json(state, &e, ctx).await),
    }
}

fn review_days(q: Option<&str>) -> i64 {
    days_or_default(&query_param(q, "days"))
}

/// The access review's look-back: 1 to 3650 days, 90 when absent or out of
/// range.
fn days_or_default(typed: &str) -> i64 {
    typed
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=3650).contains(d))
        .unwrap_or(90)
}

pub async fn review(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, ctx: Ctx) -> Response {
    let a = guarded!(state, headers, ctx, "/admin/review", false);
    let m = or_return!(managed(&state, &a, org_query(q.as_deref()).as_deref(), &ctx.0).await);
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let page = review_view(&state, &m, review_days(q.as_deref()), &browser, None).await;
    with_cookies(page, new_cookie)
}

async fn review_view(state: &AppState, m: &Managed, days: i64, browser: &str, notice: Option<String>) -> Response {
    match org_admin::review(&state.provider, m, days).await {
        Ok(items) => pages::render(
            StatusCode::OK,
            "admin_review.html",
            context! {
                org => json_value(&json!({"id": m.org.id, "name": m.org.name})), days => days,
                items => json_value(&json!(items)), csrf => csrf::token(state, browser), notice => notice,
            },
        ),
        Err(e) => {
            crate::flow::log_store_error(&e);
            unavailable_page()
        }
    }
}

/// Revokes every role ticked on the review page, in one step.
pub async fn review_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin/review", false);
    let (form, browser) = or_return!(checked_form(&state, &headers, form, &ctx.0).await);
    let m = or_return!(managed(&state, &a, form.get("org"), &ctx.0).await);
    let reason = form.get("reason").unwrap_or("").to_string();
    let picked: Vec<&str> = form
        .0
        .iter()
        .filter(|(k, _)| k == "revoke")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut revoked = 0;
    for item in picked.iter().take(500) {
        // `username|role|tin`, as the page wrote it.
        let mut parts = item.splitn(3, '|');
        let (Some(user), Some(role), Some(tin)) = (parts.next(), parts.next(), parts.next()) else {
            return edge_failure(
                &state,
                FailureCode::InvalidRequest,
                "malformed review selection",
                &ctx.0,
            )
            .await;
        };
        if let Err(f) = org_admin::revoke(&state.provider, &m, user, role, tin, &reason, &ctx.0).await {
            return pages::failure_page(&f);
        }
        revoked += 1;
    }
    let days = days_or_default(form.get("days").map_or("", |d| d));
    review_view(&state, &m, days, &browser, Some(format!("{revoked} role(s) revoked."))).await
}

// JSON views of the same.

async fn managed_json(state: &AppState, a: &Admin, q: Option<&str>, ctx: &RequestContext) -> Result<Managed, Response> {
    Managed::for_admin(&state.provider, a, org_query(q).as_deref(), ctx)
        .await
        .map_err(|f| failure_json(&f))
}

pub async fn api_people(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    let m = or_return!(managed_json(&state, &a, q.as_deref(), &ctx.0).await);
    match org_admin::members(&state.provider, &m).await {
        Ok(members) => {
            let invitations = org_admin::pending_invitations(&state.provider, &m)
                .await
                .unwrap_or_default();
            Json(json!({ "org": m.org.id, "members": members, "invitations": invitations })).into_response()
        }
        Err(e) => unavailable_json(&state, &e, &ctx.0).await,
    }
}

pub async fn api_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    match history_json(&state, &a, q.as_deref(), &ctx.0).await {
        Ok((m, rows)) => Json(json!({ "org": m.org.id, "history": rows })).into_response(),
        Err(r) => r,
    }
}

pub async fn api_review(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ctx: Ctx,
) -> Response {
    let a = guarded!(state, headers, ctx, "/admin", true);
    let m = or_return!(managed_json(&state, &a, q.as_deref(), &ctx.0).await);
    let days = review_days(q.as_deref());
    match org_admin::review(&state.provider, &m, days).await {
        Ok(items) => Json(json!({ "org": m.org.id, "days": days, "review": items })).into_response(),
        Err(e) => unavailable_json(&state, &e, &ctx.0).await,
    }
}
