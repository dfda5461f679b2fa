//! Passkeys with a software authenticator (webauthn-authenticator-rs
//! SoftPasskey, user verification on): enroll at a portal that requires
//! MFA, log in with the passkey, and refuse an assertion for another site.

use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::{authorize_url, pkce};

async fn post(app: &TestApp, b: &Browser, path: &str, page: &Page, more: &[(&str, &str)]) -> Page {
    let tx = page.field("tx");
    let csrf = page.field("csrf");
    let mut form = vec![("tx", tx.as_str()), ("csrf", csrf.as_str())];
    form.extend_from_slice(more);
    b.post(&app.url(path), &form).await
}

#[tokio::test]
async fn a_passkey_enrolls_and_logs_in_and_a_foreign_origin_is_refused() {
    let mut ws = Workspace::new();
    ws.public_host = "localhost";
    let app = TestApp::spawn(&ws).await;
    app.provider_account("key.holder").await;
    let origin = Url::parse(&format!("http://localhost:{}", app.base.rsplit(':').next().unwrap())).unwrap();
    let mut key = SoftPasskey::new(true);
    let url = || authorize_url(&app, SECURE_PORTAL, SECURE_CALLBACK, &pkce().1, &[("prompt", "login")]);

    // Enrollment: the page offers a passkey; the ceremony runs over the
    // same endpoints the page's script uses.
    let b = Browser::new();
    let r = b.login(&app, &url(), "key.holder", PASSWORD).await;
    let page = b.get(&app.url(&r.location())).await;
    assert!(page.body.contains("id=\"webauthn-register\""), "{}", page.body);
    let options = post(&app, &b, "/mfa/webauthn/register/start", &page, &[]).await;
    assert_eq!(options.status, 200, "{}", options.body);
    let options: CreationChallengeResponse = serde_json::from_str(&options.body).unwrap();
    let credential = key.do_registration(origin.clone(), options).unwrap();
    let codes = post(
        &app,
        &b,
        "/mfa/webauthn/register/finish",
        &page,
        &[
            ("credential", &serde_json::to_string(&credential).unwrap()),
            ("nickname", "Desk key"),
        ],
    )
    .await;
    assert_eq!(codes.status, 200, "{}", codes.body);
    let done = post(&app, &b, "/mfa/done", &codes, &[]).await;
    assert!(done.location().starts_with(SECURE_CALLBACK), "{}", done.location());

    // Login with the passkey.
    let b2 = Browser::new();
    let r = b2.login(&app, &url(), "key.holder", PASSWORD).await;
    assert!(r.location().starts_with("/mfa?tx="), "{}", r.location());
    let page = b2.get(&app.url(&r.location())).await;
    assert!(page.body.contains("id=\"webauthn-login\""));
    let options = post(&app, &b2, "/mfa/webauthn/start", &page, &[]).await;
    let options: RequestChallengeResponse = serde_json::from_str(&options.body).unwrap();
    let assertion = key.do_authentication(origin.clone(), options).unwrap();
    let r = post(
        &app,
        &b2,
        "/mfa/webauthn/finish",
        &page,
        &[("credential", &serde_json::to_string(&assertion).unwrap())],
    )
    .await;
    assert!(r.location().starts_with(SECURE_CALLBACK), "{}", r.body);

    // Replaying that assertion (its challenge is spent) fails.
    let b3 = Browser::new();
    let r = b3.login(&app, &url(), "key.holder", PASSWORD).await;
    let page = b3.get(&app.url(&r.location())).await;
    let _ = post(&app, &b3, "/mfa/webauthn/start", &page, &[]).await;
    let r = post(
        &app,
        &b3,
        "/mfa/webauthn/finish",
        &page,
        &[("credential", &serde_json::to_string(&assertion).unwrap())],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"), "{}", r.body);

    // An assertion made for another origin (a look-alike page on another
    // port of the same host) is refused, and the admin is told why.
    let options = post(&app, &b3, "/mfa/webauthn/start", &page, &[]).await;
    let options: RequestChallengeResponse = serde_json::from_str(&options.body).unwrap();
    let evil = key
        .do_authentication(Url::parse("http://localhost:1").unwrap(), options)
        .expect("the software key signs for the same RP ID");
    let r = post(
        &app,
        &b3,
        "/mfa/webauthn/finish",
        &page,
        &[("credential", &serde_json::to_string(&evil).unwrap())],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    let ev = &app.events(&r.reference().unwrap()).await[0];
    assert!(ev.detail.contains("another site"), "{}", ev.detail);
}

#[tokio::test]
async fn a_passkey_added_on_the_security_page_is_offered_at_the_next_login() {
    let mut ws = Workspace::new();
    ws.public_host = "localhost";
    let app = TestApp::spawn(&ws).await;
    app.provider_account("key.adder").await;
    let origin = Url::parse(&format!("http://localhost:{}", app.base.rsplit(':').next().unwrap())).unwrap();
    let mut key = SoftPasskey::new(true);

    let b = Browser::new();
    b.login(
        &app,
        &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
        "key.adder",
        PASSWORD,
    )
    .await;
    let page = b.get(&app.url("/account/security")).await;
    assert!(page.body.contains("id=\"webauthn-register\""), "{}", page.body);
    let csrf = page.field("csrf");
    let options = b
        .post(&app.url("/account/security/passkey/start"), &[("csrf", &csrf)])
        .await;
    let options: CreationChallengeResponse = serde_json::from_str(&options.body).unwrap();
    let credential = key.do_registration(origin.clone(), options).unwrap();
    let page = b
        .post(
            &app.url("/account/security/passkey"),
            &[
                ("csrf", &csrf),
                ("credential", &serde_json::to_string(&credential).unwrap()),
                ("nickname", "Laptop"),
            ],
        )
        .await;
    assert!(
        page.body.contains("data-method=\"webauthn\"") && page.body.contains("Laptop"),
        "{}",
        page.body
    );

    let b2 = Browser::new();
    let r = b2
        .login(
            &app,
            &authorize_url(&app, SECURE_PORTAL, SECURE_CALLBACK, &pkce().1, &[]),
            "key.adder",
            PASSWORD,
        )
        .await;
    assert!(r.location().starts_with("/mfa?tx="), "{}", r.location());
    let page = b2.get(&app.url(&r.location())).await;
    let options = post(&app, &b2, "/mfa/webauthn/start", &page, &[]).await;
    let options: RequestChallengeResponse = serde_json::from_str(&options.body).unwrap();
    let assertion = key.do_authentication(origin, options).unwrap();
    let r = post(
        &app,
        &b2,
        "/mfa/webauthn/finish",
        &page,
        &[("credential", &serde_json::to_string(&assertion).unwrap())],
    )
    .await;
    assert!(r.location().starts_with(SECURE_CALLBACK), "{}", r.body);
}
