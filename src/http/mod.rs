//! The HTTP edge: the only module that imports axum. Owns routing, the
//! extractors, cookies, CSRF, page rendering and the mapping of every
//! outcome to a status and body. Handlers are thin: extract, call one
//! function in `flow` or `provider`, map the result.

pub mod csrf;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod pages;
pub mod routes;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(routes::oauth::discovery))
        .route("/oauth2/jwks", get(routes::oauth::jwks))
        .route(
            "/oauth2/authorize",
            get(routes::oauth::authorize_get).post(routes::oauth::authorize_post),
        )
        .route("/oauth2/token", post(routes::oauth::token))
        .route(
            "/oauth2/userinfo",
            get(routes::oauth::userinfo).post(routes::oauth::userinfo),
        )
        .route("/oauth2/revoke", post(routes::oauth::revoke))
        .route("/oauth2/introspect", post(routes::oauth::introspect))
        .route(
            "/oauth2/logout",
            get(routes::oauth::logout_get).post(routes::oauth::logout_post),
        )
        .route("/auth/verify", get(routes::verify::verify))
        .route("/login", get(routes::login::identify_page))
        .route("/login/identify", post(routes::login::identify_submit))
        .route(
            "/login/password",
            get(routes::login::password_page).post(routes::login::password_submit),
        )
        .route(
            "/login/password/change",
            get(routes::login::change_page).post(routes::login::change_submit),
        )
        .route("/activate", get(routes::activate::page))
        .route("/activate/invite", get(routes::activate::invitation))
        .route("/activate/member", post(routes::activate::member))
        .route("/activate/provider", post(routes::activate::provider))
        .route(
            "/activate/verify",
            get(routes::activate::code_page).post(routes::activate::code_submit),
        )
        .route(
            "/activate/account",
            get(routes::activate::account_page).post(routes::activate::account_submit),
        )
        .route(
            "/recover",
            get(routes::recover::request_page).post(routes::recover::request_submit),
        )
        .route(
            "/recover/username",
            get(routes::recover::username_page).post(routes::recover::username_submit),
        )
        .route(
            "/recover/reset",
            get(routes::recover::reset_page).post(routes::recover::reset_submit),
        )
        .route("/mfa", get(routes::mfa::verify_page).post(routes::mfa::verify_submit))
        .route(
            "/mfa/enroll",
            get(routes::mfa::enroll_page).post(routes::mfa::enroll_submit),
        )
        .route("/mfa/done", post(routes::mfa::done))
        .route("/mfa/send", post(routes::mfa::send))
        .route(
            "/mfa/webauthn/register/start",
            post(routes::mfa::webauthn_register_start),
        )
        .route(
            "/mfa/webauthn/register/finish",
            post(routes::mfa::webauthn_register_finish),
        )
        .route("/mfa/webauthn/start", post(routes::mfa::webauthn_start))
        .route("/mfa/webauthn/finish", post(routes::mfa::webauthn_finish))
        .route("/mfa/enroll/oob", post(routes::mfa::enroll_oob))
        .route("/mfa/enroll/oob/confirm", post(routes::mfa::enroll_oob_confirm))
        .route("/account/security", get(routes::account::page))
        .route("/account/people", get(routes::account::people))
        .route("/account/people/unlock", post(routes::account::unlock))
        .route("/account/people/invite", post(routes::account::invite))
        .route("/account/reauth", post(routes::account::reauth))
        .route("/account/security/preferred", post(routes::account::preferred))
        .route("/account/security/remove", post(routes::account::remove))
        .route("/account/security/totp", post(routes::account::totp))
        .route("/account/security/totp/confirm", post(routes::account::totp_confirm))
        .route("/account/security/oob", post(routes::account::oob))
        .route("/account/security/oob/confirm", post(routes::account::oob_confirm))
        .route("/account/security/backup-codes", post(routes::account::backup_codes))
        .route("/account/security/passkey/start", post(routes::account::passkey_start))
        .route("/account/security/passkey", post(routes::account::passkey_finish))
        .route("/admin", get(routes::admin::overview))
        .route("/admin/login", get(routes::admin::login))
        .route("/admin/callback", get(routes::admin::callback))
        .route("/admin/ref", get(routes::admin::reference_page))
        .route("/admin/orgs/{org}", get(routes::admin::org_page))
        .route("/admin/orgs/{org}/preflight", post(routes::admin::preflight_submit))
        .route("/admin/maintenance", post(routes::admin::maintenance_submit))
        .route(
            "/admin/people",
            get(routes::admin::people).post(routes::admin::people_action),
        )
        .route("/admin/history", get(routes::admin::history))
        .route("/admin/history.csv", get(routes::admin::history_csv))
        .route(
            "/admin/review",
            get(routes::admin::review).post(routes::admin::review_submit),
        )
        .route("/api/admin/people", get(routes::admin::api_people))
        .route("/api/admin/history", get(routes::admin::api_history))
        .route("/api/admin/review", get(routes::admin::api_review))
        .route("/api/admin/ref/{code}", get(routes::admin::api_reference))
        .route("/api/admin/orgs", get(routes::admin::api_orgs))
        .route("/api/admin/orgs/{org}", get(routes::admin::api_org))
        .route("/api/admin/orgs/{org}/preflight", post(routes::admin::api_preflight))
        .route("/api/admin/incidents", get(routes::admin::api_incidents))
        .route("/api/admin/certificates", get(routes::admin::api_certificates))
        .route("/sso/{org}/start", get(routes::sso::start))
        .route("/sso/oidc/{org}/callback", get(routes::sso::oidc_callback))
        .route("/sso/saml/{org}/metadata", get(routes::sso::saml_metadata))
        .route("/sso/saml/{org}/acs", post(routes::sso::saml_acs))
        .route("/sso/saml/{org}/continue", get(routes::sso::saml_continue))
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics))
        .route("/static/gatehouse.css", get(routes::ops::stylesheet))
        .route("/static/webauthn.js", get(routes::ops::webauthn_js))
        .fallback(routes::ops::not_found)
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}
