//! The administration console renders and works in headless Chromium with
//! JavaScript turned off: sign-in with a second factor, the overview, a
//! reference lookup, an organization and its preflight.

use serde_json::Value;

use crate::support::admin;
use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::{authorize_url, pkce, run_node, totp_code};
use gatehouse::config::AccountType;

#[tokio::test]
async fn the_console_works_in_chromium_without_javascript() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("kim.staff").await;
    // A user's failed login, whose reference they quote to support.
    let user = Browser::new();
    let failed = user
        .login(
            &app,
            &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
            "kim.staff",
            "not the password",
        )
        .await;
    let reference = failed.reference().expect("a reference on the failure page");

    let gate = app
        .create_account("gate.admin", AccountType::Provider, None, &["gatehouse_admin"])
        .await;
    let secret = admin::enroll_totp(&app, gate.id.as_str(), "gate.admin").await;
    app.clock.advance(30);
    let output = run_node(
        "admin-browser.mjs",
        vec![
            ("BASE", app.base.clone()),
            ("USERNAME", "gate.admin".into()),
            ("PASSWORD", PASSWORD.into()),
            ("TOTP_CODE", totp_code(&secret, app.clock.now_for_test())),
            ("REFERENCE", reference.clone()),
            ("ORG", "northside-clinic".into()),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser run failed:\n{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(seen["overview"]["heading"], "Sign-in diagnostics");
    assert!(
        seen["overview"]["orgs"].as_str().unwrap().contains("Northside Clinic"),
        "{seen}"
    );
    assert!(
        seen["overview"]["recent"].as_str().unwrap().contains(&reference),
        "{seen}"
    );
    assert_eq!(seen["reference"]["heading"], format!("Reference {reference}"));
    assert!(
        seen["reference"]["step"].as_str().unwrap().contains("local sign-in"),
        "{seen}"
    );
    assert!(
        seen["reference"]["fix"].as_str().unwrap().contains("mistyped"),
        "{seen}"
    );
    assert!(
        seen["reference"]["agent"]
            .as_str()
            .unwrap()
            .contains("gatehouse-test-browser")
    );
    assert_eq!(seen["org"]["heading"], "Northside Clinic");
    // A local password failure is not an organization's sign-in trouble.
    assert_eq!(seen["org"]["verdict"], "Verdict: healthy", "{seen}");
    // Northside has no IdP: the preflight says so.
    assert_eq!(seen["org"]["preflight"], "fail");
}
