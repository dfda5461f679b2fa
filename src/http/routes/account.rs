//! `/account/security`: the signed-in user's own sign-in methods.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

use crate::accounts::Password;
use crate::app::AppState;
use crate::audit::RequestContext;
use crate::flow::Failure;
use crate::flow::account::{self, Viewer};
use crate::mfa::{self, Kind};

use super::super::csrf;
use super::super::extract::{Ctx, FormError, FormPairs};
use super::super::pages;
use super::{edge_failure, session_from, with_cookies};
use crate::diagnostics::FailureCode;

#[derive(Default)]
struct Extras {
    notice: Option<String>,
    failure: Option<Failure>,
    enrollment: Option<mfa::totp::Enrollment>,
    oob_pending: Option<(String, String)>,
    codes: Vec<String>,
}

fn assurance(kind: Option<Kind>) -> &'static str {
    match kind {
        Some(Kind::Email) => "not a strong factor (email)",
        Some(Kind::Sms) => "strong (restricted: SMS)",
        Some(_) => "strong",
        None => "unknown",
    }
}

async fn render(state: &AppState, v: &Viewer, browser: &str, x: Extras) -> Response {
    let account_id = v.account.id.as_str();
    let methods = state.provider.mfa.methods(account_id).await.unwrap_or_default();
    let backup_left = state
        .provider
        .mfa
        .enrolled(account_id)
        .await
        .map(|e| e.backup_codes_left)
        .unwrap_or(0);
    let rows: Vec<Value> = methods
        .iter()
        .map(|m| {
            let kind = Kind::parse(&m.kind);
            context! {
                id => m.id.clone(), kind => m.kind.clone(), label => m.label.clone(), preferred => m.preferred,
                to => m.target.as_deref().map(mfa::mask).unwrap_or_default(), assurance => assurance(kind),
                last_used => m.last_used_at.map(crate::clock::rfc3339).unwrap_or_else(|| "never".into()),
            }
        })
        .collect();
    let status = x
        .failure
        .as_ref()
        .and_then(|f| StatusCode::from_u16(f.code.status()).ok())
        .unwrap_or(StatusCode::OK);
    pages::render(
        status,
        "account_security.html",
        context! {
            username => v.account.username.clone(), csrf => csrf::token(state, browser),
            fresh => account::fresh(&state.provider, v), methods => rows, backup_left => backup_left,
            notice => x.notice, failure => x.failure.as_ref().map(pages::failure_context),
            failure_detail => x.failure.as_ref().and_then(|f| f.user_detail.clone()),
            enrollment => x.enrollment.as_ref().map(|e| context! { id => e.method_id.clone(), qr => e.qr_svg.clone(), secret => e.secret_base32.clone() }),
            oob_pending => x.oob_pending.as_ref().map(|(id, to)| context! { id => id.clone(), to => to.clone() }),
            codes => x.codes,
            webauthn => state.provider.webauthn.is_some(),
        },
    )
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, ctx: Ctx) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let response = match account::viewer(&state.provider, session_from(&state, &headers), &ctx.0).await {
        Ok(v) => render(&state, &v, &browser, Extras::default()).await,
        Err(f) => pages::failure_page(&f),
    };
    with_cookies(response, new_cookie)
}

/// CSRF, then the signed-in viewer.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<FormPairs, FormError>,
    ctx: &RequestContext,
) -> Result<(FormPairs, Viewer, String), Response> {
    let form = match form {
        Ok(f) => f,
        Err(e) => return Err(edge_failure(state, FailureCode::InvalidRequest, &e.0, ctx).await),
    };
    let browser = match csrf::check(state, headers, form.get("csrf")) {
        Ok(b) => b,
        Err(why) => return Err(edge_failure(state, FailureCode::CsrfInvalid, why, ctx).await),
    };
    match account::viewer(&state.provider, session_from(state, headers), ctx).await {
        Ok(v) => Ok((form, v, browser)),
        Err(f) => Err(pages::failure_page(&f)),
    }
}

macro_rules! posted_or_return {
    ($state:expr, $headers:expr, $form:expr, $ctx:expr) => {
        match posted(&$state, &$headers, $form, &$ctx.0).await {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

async fn reload(state: &AppState, headers: &HeaderMap, ctx: &RequestContext, browser: &str, x: Extras) -> Response {
    match account::viewer(&state.provider, session_from(state, headers), ctx).await {
        Ok(v) => render(state, &v, browser, x).await,
        Err(f) => pages::failure_page(&f),
    }
}

fn outcome(r: Result<(), Failure>, notice: &str) -> Extras {
    match r {
        Ok(()) => Extras {
            notice: Some(notice.into()),
            ..Default::default()
        },
        Err(f) => Extras {
            failure: Some(f),
            ..Default::default()
        },
    }
}

pub async fn reauth(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let r = account::reauthenticate(
        &state.provider,
        &v,
        &Password::new(form.get("password").unwrap_or("")),
        &ctx.0,
    )
    .await;
    reload(
        &state,
        &headers,
        &ctx.0,
        &browser,
        outcome(
            r,
            "Thank you. You can change your sign-in methods for the next 10 minutes.",
        ),
    )
    .await
}

pub async fn preferred(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let r = account::set_preferred(&state.provider, &v, form.get("method_id").unwrap_or(""), &ctx.0).await;
    render(&state, &v, &browser, outcome(r, "Preferred method changed.")).await
}

pub async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let r = account::remove(&state.provider, &v, form.get("method_id").unwrap_or(""), &ctx.0).await;
    render(
        &state,
        &v,
        &browser,
        outcome(
            r,
            "Method removed. Remembered devices will ask for a second step again.",
        ),
    )
    .await
}

pub async fn totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (_, v, browser) = posted_or_return!(state, headers, form, ctx);
    let x = match account::totp_start(&state.provider, &v, &ctx.0).await {
        Ok(e) => Extras {
            enrollment: Some(e),
            ..Default::default()
        },
        Err(f) => Extras {
            failure: Some(f),
            ..Default::default()
        },
    };
    render(&state, &v, &browser, x).await
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let r = account::totp_confirm(
        &state.provider,
        &v,
        form.get("method_id").unwrap_or(""),
        form.get("code").unwrap_or(""),
        &ctx.0,
    )
    .await;
    render(&state, &v, &browser, outcome(r, "Authenticator app added.")).await
}

pub async fn oob(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let kind = if form.get("kind") == Some("email") {
        Kind::Email
    } else {
        Kind::Sms
    };
    let x = match account::oob_start(&state.provider, &v, kind, form.get("target").unwrap_or(""), &ctx.0).await {
        Ok(pending) => Extras {
            oob_pending: Some(pending),
            ..Default::default()
        },
        Err(f) => Extras {
            failure: Some(f),
            ..Default::default()
        },
    };
    render(&state, &v, &browser, x).await
}

pub async fn oob_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let r = account::oob_confirm(
        &state.provider,
        &v,
        form.get("method_id").unwrap_or(""),
        form.get("code").unwrap_or(""),
        &ctx.0,
    )
    .await;
    render(&state, &v, &browser, outcome(r, "Verified and added.")).await
}

pub async fn backup_codes(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (_, v, browser) = posted_or_return!(state, headers, form, ctx);
    let x = match account::backup_codes(&state.provider, &v, &ctx.0).await {
        Ok(codes) => Extras {
            codes,
            notice: Some("New backup codes issued; the old ones no longer work.".into()),
            ..Default::default()
        },
        Err(f) => Extras {
            failure: Some(f),
            ..Default::default()
        },
    };
    render(&state, &v, &browser, x).await
}

pub async fn passkey_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (_, v, _) = posted_or_return!(state, headers, form, ctx);
    match account::passkey_start(&state.provider, &v, &ctx.0).await {
        Ok(options) => axum::response::IntoResponse::into_response(axum::Json(options)),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn passkey_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let r = account::passkey_finish(
        &state.provider,
        &v,
        form.get("credential").unwrap_or(""),
        form.get("nickname").unwrap_or("Passkey"),
        &ctx.0,
    )
    .await;
    render(&state, &v, &browser, outcome(r, "Passkey added.")).await
}

fn people_view(
    state: &AppState,
    browser: &str,
    org: &str,
    people: &[account::Person],
    notice: Option<&str>,
) -> Response {
    pages::render(
        StatusCode::OK,
        "account_people.html",
        context! { csrf => csrf::token(state, browser), org => org, roles => account::INVITABLE_ROLES.to_vec(), people => people.iter().map(|p| context! { username => p.username.clone(), status => p.status, locked_until => p.locked_until.clone() }).collect::<Vec<_>>(), notice => notice },
    )
}

/// An access manager's list of their organization's people.
pub async fn people(State(state): State<AppState>, headers: HeaderMap, ctx: Ctx) -> Response {
    let (browser, new_cookie) = csrf::ensure(&state, &headers);
    let page = match account::viewer(&state.provider, session_from(&state, &headers), &ctx.0).await {
        Ok(v) => match account::people(&state.provider, &v, &ctx.0).await {
            Ok((org, people)) => people_view(&state, &browser, &org, &people, None),
            Err(f) => pages::failure_page(&f),
        },
        Err(f) => pages::failure_page(&f),
    };
    with_cookies(page, new_cookie)
}

pub async fn unlock(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let username = form.get("username").unwrap_or("").to_string();
    if let Err(f) = account::unlock_person(&state.provider, &v, &username, &ctx.0).await {
        return pages::failure_page(&f);
    }
    match account::people(&state.provider, &v, &ctx.0).await {
        Ok((org, people)) => people_view(
            &state,
            &browser,
            &org,
            &people,
            Some(&format!("{username} is unlocked.")),
        ),
        Err(f) => pages::failure_page(&f),
    }
}

pub async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: Ctx,
    form: Result<FormPairs, FormError>,
) -> Response {
    let (form, v, browser) = posted_or_return!(state, headers, form, ctx);
    let sent = account::invite_person(
        &state.provider,
        &v,
        form.get("email").unwrap_or(""),
        form.get("role").unwrap_or(""),
        &ctx.0,
    )
    .await;
    let to = match sent {
        Ok(to) => to,
        Err(f) => return pages::failure_page(&f),
    };
    match account::people(&state.provider, &v, &ctx.0).await {
        Ok((org, people)) => people_view(
            &state,
            &browser,
            &org,
            &people,
            Some(&format!("Invitation sent to {to}.")),
        ),
        Err(f) => pages::failure_page(&f),
    }
}
