//! The account's security page: re-authentication before changes, adding an
//! authenticator app and a verified phone, choosing the preferred method,
//! removing one, renewing backup codes.

use totp_rs::{Algorithm, Builder, Secret};

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::sinks::SmsSink;
use crate::support::{authorize_url, pkce};

fn code_at(secret: &str, at: i64) -> String {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(at as u64)
        .to_string()
}

async fn post(app: &TestApp, b: &Browser, path: &str, page: &Page, more: &[(&str, &str)]) -> Page {
    let csrf = page.field("csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(more);
    b.post(&app.url(path), &form).await
}

#[tokio::test]
async fn sign_in_methods_are_managed_after_re_authentication() {
    let sms = SmsSink::start().await;
    let ws = Workspace::new();
    let app = TestApp::spawn_with(
        &ws,
        &format!(
            "[sms]\nprovider = \"twilio\"\nbase_url = \"{}\"\naccount_sid = \"AC0123456789\"\nauth_token = \"sms-token-0123456789\"\nfrom = \"+15550001111\"\n",
            sms.base_url
        ),
    )
    .await;
    app.provider_account("self.service").await;

    // Not signed in: the page says so.
    let nobody = Browser::new().get(&app.url("/account/security")).await;
    assert_eq!(nobody.error_code().as_deref(), Some("session_required"));

    let b = Browser::new();
    let r = b
        .login(
            &app,
            &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
            "self.service",
            PASSWORD,
        )
        .await;
    assert!(r.location().starts_with(PORTAL_CALLBACK));

    // Eleven minutes later, changes need the password again.
    app.clock.advance(11 * 60);
    let page = b.get(&app.url("/account/security")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No second factor yet"));
    assert!(page.body.contains("action=\"/account/reauth\""));
    let r = post(&app, &b, "/account/security/totp", &page, &[]).await;
    assert_eq!(r.error_code().as_deref(), Some("reauthentication_required"));
    let r = post(&app, &b, "/account/reauth", &page, &[("password", "not my password")]).await;
    assert_eq!(r.error_code().as_deref(), Some("invalid_credentials"));
    let page = post(&app, &b, "/account/reauth", &page, &[("password", PASSWORD)]).await;
    assert!(page.body.contains("next 10 minutes"), "{}", page.body);

    // Add an authenticator app.
    let page = post(&app, &b, "/account/security/totp", &page, &[]).await;
    let secret = page
        .body
        .split("<code id=\"totp-secret\">")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap()
        .to_string();
    let method_id = page
        .body
        .split("name=\"method_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let page = post(
        &app,
        &b,
        "/account/security/totp/confirm",
        &page,
        &[
            ("method_id", &method_id),
            ("code", &code_at(&secret, app.clock.now_for_test())),
        ],
    )
    .await;
    assert!(page.body.contains("Authenticator app added"), "{}", page.body);
    assert!(page.body.contains("data-method=\"totp\""));

    // Add a phone: used only once a code sent to it comes back.
    let page = post(
        &app,
        &b,
        "/account/security/oob",
        &page,
        &[("kind", "sms"), ("target", "+1 (555) 987-6543")],
    )
    .await;
    assert_eq!(sms.sent.lock().unwrap()[0].0, "+15559876543");
    assert!(
        !page.body.contains("data-method=\"sms\""),
        "not a method before it is verified"
    );
    let pending_id = page
        .body
        .split("action=\"/account/security/oob/confirm\"")
        .nth(1)
        .unwrap();
    let pending_id = pending_id
        .split("name=\"method_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let page = post(
        &app,
        &b,
        "/account/security/oob/confirm",
        &page,
        &[("method_id", &pending_id), ("code", &sms.last_code())],
    )
    .await;
    assert!(page.body.contains("data-method=\"sms\""), "{}", page.body);
    assert!(
        page.body.contains("restricted: SMS"),
        "SMS is shown as a restricted authenticator"
    );

    // A malformed address is refused with the reason.
    let r = post(
        &app,
        &b,
        "/account/security/oob",
        &page,
        &[("kind", "email"), ("target", "not-an-address")],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("invalid_request"));

    // Preferred, removal, new backup codes.
    let page = post(
        &app,
        &b,
        "/account/security/preferred",
        &page,
        &[("method_id", &pending_id)],
    )
    .await;
    assert!(page.body.contains("Preferred method changed"));
    let page = post(
        &app,
        &b,
        "/account/security/remove",
        &page,
        &[("method_id", &method_id)],
    )
    .await;
    assert!(!page.body.contains("data-method=\"totp\""), "{}", page.body);
    let page = post(&app, &b, "/account/security/backup-codes", &page, &[]).await;
    assert_eq!(page.body.matches("<li><code>").count(), 10);
    assert!(page.body.contains("id=\"backup-left\">10<"));

    // Without the CSRF token nothing changes.
    let r = b.post(&app.url("/account/security/backup-codes"), &[]).await;
    assert_eq!(r.error_code().as_deref(), Some("csrf_invalid"));

    let kinds: Vec<String> = app.recent_events().await.iter().map(|e| e.kind.clone()).collect();
    for k in [
        "mfa_enrolled",
        "mfa_preferred",
        "mfa_removed",
        "mfa_backup_codes_renewed",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} recorded: {kinds:?}");
    }
}
