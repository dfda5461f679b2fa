//! Signing in to the administration console the way an admin does:
//! `/admin` → the console's own authorization request → password → TOTP →
//! `/admin/callback` → `/admin`.

use gatehouse::config::AccountType;

use super::app::{PASSWORD, TestApp};
use super::browser::{Browser, Page};
pub use super::totp_code;

/// Enrolls (and confirms) TOTP for an account; returns the shared secret.
pub async fn enroll_totp(app: &TestApp, account_id: &str, username: &str) -> String {
    let mfa = &app.state.provider.mfa;
    let e = mfa.begin_totp(account_id, username).await.unwrap();
    let code = totp_code(&e.secret_base32, app.clock.now_for_test());
    mfa.confirm_totp(account_id, &e.method_id, &code).await.unwrap();
    e.secret_base32
}

/// Walks the console's sign-in as `username` (TOTP enrolled with
/// `secret`): `/admin/login`, password, code, `/admin/callback`; returns
/// the browser and the callback's answer.
pub async fn walk_sign_in(app: &TestApp, username: &str, secret: &str) -> (Browser, Page) {
    let b = Browser::new();
    let r = b.get(&app.url("/admin/login")).await;
    assert_eq!(r.status, 303);
    let authorize = r.location();
    assert!(authorize.contains("client_id=gatehouse-admin"), "{authorize}");
    let r = b.login(app, &authorize, username, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().starts_with("/mfa?tx="),
        "a second factor is asked: {}",
        r.location()
    );
    let page = b.get(&app.url(&r.location())).await;
    // Each TOTP step is usable once: move past the enrollment's step.
    app.clock.advance(30);
    let code = totp_code(secret, app.clock.now_for_test());
    let r = b
        .post(
            &app.url("/mfa"),
            &[
                ("tx", &page.field("tx")),
                ("csrf", &page.field("csrf")),
                ("method", "totp"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().contains("/admin/callback?"), "{}", r.location());
    let back = b.get(&r.location()).await;
    (b, back)
}

/// Signs `username` (TOTP enrolled with `secret`) in to the console;
/// returns the browser, on the overview page. Unauthenticated, `/admin`
/// sends the browser to `/admin/login` first.
pub async fn sign_in(app: &TestApp, username: &str, secret: &str) -> Browser {
    let (b, r) = walk_sign_in(app, username, secret).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/admin");
    let overview = b.get(&app.url("/admin")).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    b
}

/// A new account with `roles` (in `org`), TOTP enrolled, signed in to the
/// console.
pub async fn console(app: &TestApp, username: &str, org: Option<&str>, roles: &[&str]) -> Browser {
    let a = app.create_account(username, AccountType::Provider, org, roles).await;
    let secret = enroll_totp(app, a.id.as_str(), username).await;
    sign_in(app, username, &secret).await
}
