//! Signing in to the administration console the way an admin does:
//! `/admin` → the console's own authorization request → password → TOTP →
//! `/admin/callback` → `/admin`.

use totp_rs::{Algorithm, Builder, Secret};

use super::app::{PASSWORD, TestApp};
use super::browser::Browser;

pub fn totp_code(secret_base32: &str, at: i64) -> String {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret_base32).unwrap())
        .build()
        .unwrap()
        .generate(at as u64)
        .to_string()
}

/// Enrolls (and confirms) TOTP for an account; returns the shared secret.
pub async fn enroll_totp(app: &TestApp, account_id: &str, username: &str) -> String {
    let mfa = &app.state.provider.mfa;
    let e = mfa.begin_totp(account_id, username).await.unwrap();
    let code = totp_code(&e.secret_base32, app.clock.now_for_test());
    mfa.confirm_totp(account_id, &e.method_id, &code).await.unwrap();
    e.secret_base32
}

/// Signs `username` (TOTP enrolled with `secret`) in to the console;
/// returns the browser, on the overview page.
pub async fn sign_in(app: &TestApp, username: &str, secret: &str) -> Browser {
    let b = Browser::new();
    let r = b.get(&app.url("/admin")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/admin/login"), "{}", r.location());
    let r = b.get(&app.url(&r.location())).await;
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
    let r = b.get(&r.location()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/admin");
    let overview = b.get(&app.url("/admin")).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    b
}
