//! Second factors inside the portal login: enrollment when required, TOTP
//! and backup codes at login, replay refusal, remembered devices, step-up,
//! and `trust_idp` with a real upstream OP.

use serde_json::json;

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::op::{self, Op, OpOptions};
use crate::support::rp::Rp;
use crate::support::{authorize_url, pkce};

fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let i = body.find(start).unwrap_or_else(|| panic!("no {start} in {body}")) + start.len();
    body[i..].split(end).next().unwrap()
}

fn secure_url(app: &TestApp) -> String {
    authorize_url(app, SECURE_PORTAL, SECURE_CALLBACK, &pkce().1, &[("prompt", "login")])
}

/// Password, then the enrollment page; returns (tx page, shared secret).
async fn to_enrollment(app: &TestApp, b: &Browser, url: &str, user: &str) -> (Page, String) {
    let r = b.login(app, url, user, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/mfa/enroll?tx="), "{}", r.location());
    let page = b.get(&app.url(&r.location())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code is shown");
    let secret = between(&page.body, "<code id=\"totp-secret\">", "</code>").to_string();
    (page, secret)
}

async fn submit_code(app: &TestApp, b: &Browser, page: &Page, method: &str, code: &str, remember: bool) -> Page {
    let mut form = vec![
        ("tx", page.field("tx")),
        ("csrf", page.field("csrf")),
        ("method", method.to_string()),
        ("code", code.to_string()),
    ];
    if remember {
        form.push(("remember", "1".into()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(&app.url("/mfa"), &form).await
}

/// Password, then the code page.
async fn to_code_page(app: &TestApp, b: &Browser, user: &str) -> Page {
    let r = b.login(app, &secure_url(app), user, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().starts_with("/mfa?tx="),
        "expected the MFA step, got {}",
        r.location()
    );
    b.get(&app.url(&r.location())).await
}

#[tokio::test]
async fn totp_enrolls_then_guards_every_login_with_replay_refusal_and_remembered_devices() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("nurse.kim").await;

    // First login at a portal that requires MFA: enrollment on the spot.
    let rp = Rp::confidential(SECURE_PORTAL, SECURE_SECRET, SECURE_CALLBACK);
    let pending = rp.begin(&app).await;
    let b = Browser::new();
    let (page, secret) = to_enrollment(&app, &b, &pending.url, "nurse.kim").await;
    // A mistyped code shows the same secret again, with the error.
    let now = app.clock.now_for_test();
    let right = crate::support::totp_code(&secret, now);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let again = b
        .post(
            &app.url("/mfa/enroll"),
            &[
                ("tx", &page.field("tx")),
                ("csrf", &page.field("csrf")),
                ("code", wrong),
            ],
        )
        .await;
    assert_eq!(again.error_code().as_deref(), Some("mfa_code_invalid"));
    assert!(again.body.contains(&secret));
    let codes_page = b
        .post(
            &app.url("/mfa/enroll"),
            &[
                ("tx", &page.field("tx")),
                ("csrf", &page.field("csrf")),
                ("code", &right),
            ],
        )
        .await;
    assert_eq!(codes_page.status, 200, "{}", codes_page.body);
    let backup: Vec<String> = codes_page
        .body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_string())
        .collect();
    assert_eq!(backup.len(), 10);
    let done = b
        .post(
            &app.url("/mfa/done"),
            &[("tx", &codes_page.field("tx")), ("csrf", &codes_page.field("csrf"))],
        )
        .await;
    let login = rp.finish(&app, pending, done).await;
    let amr: Vec<String> = serde_json::from_value(login.claims["amr"].clone()).unwrap();
    assert!(
        amr.contains(&"pwd".to_string()) && amr.contains(&"otp".to_string()) && amr.contains(&"mfa".to_string()),
        "{amr:?}"
    );
    assert_eq!(login.claims["acr"], "urn:gatehouse:loa:2");

    // Next login: the code used at enrollment cannot be replayed.
    let b2 = Browser::new();
    let page = to_code_page(&app, &b2, "nurse.kim").await;
    let r = submit_code(&app, &b2, &page, "totp", &right, false).await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    assert!(r.body.contains("already used"), "{}", r.body);
    // A wrong code is counted for the admin.
    let r = submit_code(&app, &b2, &page, "totp", wrong, false).await;
    assert_eq!(r.status, 401);
    let ev = &app.events(&r.reference().unwrap()).await[0];
    assert!(ev.detail.contains("attempts_left"), "{}", ev.detail);
    // The next step's code, with "remember this device".
    app.clock.advance(30);
    let r = submit_code(
        &app,
        &b2,
        &page,
        "totp",
        &crate::support::totp_code(&secret, now + 30),
        true,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with(SECURE_CALLBACK));
    assert!(b2.cookie(&app, "gatehouse_device").is_some());

    // The remembered device skips the second step...
    let r = b2.login(&app, &secure_url(&app), "nurse.kim", PASSWORD).await;
    assert!(
        r.location().starts_with(SECURE_CALLBACK),
        "remembered: {}",
        r.location()
    );
    // ...until the account's methods change.
    app.state
        .provider
        .mfa
        .new_backup_codes(account.id.as_str())
        .await
        .unwrap();
    let r = b2.login(&app, &secure_url(&app), "nurse.kim", PASSWORD).await;
    assert!(r.location().starts_with("/mfa?tx="), "revoked: {}", r.location());
}

#[tokio::test]
async fn backup_codes_work_once_and_mfa_portals_do_not_accept_password_only_sessions() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("dr.backup").await;
    let b = Browser::new();
    let (page, secret) = to_enrollment(&app, &b, &secure_url(&app), "dr.backup").await;
    let codes_page = b
        .post(
            &app.url("/mfa/enroll"),
            &[
                ("tx", &page.field("tx")),
                ("csrf", &page.field("csrf")),
                ("code", &crate::support::totp_code(&secret, app.clock.now_for_test())),
            ],
        )
        .await;
    let first_code = between(&codes_page.body, "<li><code>", "</code>").to_string();
    b.post(
        &app.url("/mfa/done"),
        &[("tx", &codes_page.field("tx")), ("csrf", &codes_page.field("csrf"))],
    )
    .await;

    let b2 = Browser::new();
    let page = to_code_page(&app, &b2, "dr.backup").await;
    let r = submit_code(&app, &b2, &page, "backup_code", &first_code.to_lowercase(), false).await;
    assert!(r.location().starts_with(SECURE_CALLBACK), "{}", r.body);
    let b3 = Browser::new();
    let page = to_code_page(&app, &b3, "dr.backup").await;
    let r = submit_code(&app, &b3, &page, "backup_code", &first_code, false).await;
    assert_eq!(
        r.error_code().as_deref(),
        Some("mfa_code_invalid"),
        "a backup code works once"
    );

    // An optional-MFA portal asks an account that enrolled...
    let r = Browser::new()
        .login(
            &app,
            &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
            "dr.backup",
            PASSWORD,
        )
        .await;
    assert!(r.location().starts_with("/mfa?tx="), "{}", r.location());

    // ...but not one that did not; and that password-only session is not
    // enough for the MFA portal: the user is asked again (step-up).
    app.provider_account("no.mfa.yet").await;
    let b4 = Browser::new();
    let r = b4
        .login(
            &app,
            &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
            "no.mfa.yet",
            PASSWORD,
        )
        .await;
    assert!(r.location().starts_with(PORTAL_CALLBACK));
    let r = b4
        .get(&authorize_url(&app, SECURE_PORTAL, SECURE_CALLBACK, &pkce().1, &[]))
        .await;
    assert!(r.location().starts_with("/login?tx="), "{}", r.location());
}

#[tokio::test]
async fn trust_idp_skips_gateway_mfa_only_when_the_idp_asserted_mfa() {
    let ws = Workspace::new();
    let bound = TestApp::bind().await;
    let org = "lakeside-health";
    let op = Op::start(&OpOptions {
        port: 0,
        clients: json!([op::client(bound.port, org)]),
        accounts: op::accounts(),
        clock_offset: 0,
    });
    let app = TestApp::start(
        &ws,
        bound,
        &op::org_toml(
            org,
            "lakeside.example",
            &op.issuer(),
            "mfa = \"trust_idp\"\njit_provisioning = true",
            "",
        ),
    )
    .await;
    // alice's IdP login carries amr ["pwd", "mfa"]: no second step here.
    let r = Browser::new()
        .login_federated(&app, &secure_url(&app), "alice@lakeside.example", SECURE_CALLBACK)
        .await;
    assert!(r.location().starts_with(SECURE_CALLBACK), "{} {}", r.status, r.body);
    // bob's carries only ["pwd"]: the gateway asks (and he has to enroll).
    let r = Browser::new()
        .login_federated(&app, &secure_url(&app), "bob@lakeside.example", "/mfa")
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/mfa/enroll?tx="), "{}", r.location());
}
