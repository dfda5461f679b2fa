//! Passkeys in a real browser: Debian's chromium (playwright-core, Chrome's
//! virtual authenticator) enrolls a passkey on the gateway's own pages and
//! logs in with it — the page script, CSP and cookies all included.

use crate::support::app::*;
use crate::support::pkce;

#[tokio::test]
async fn a_passkey_enrolls_and_logs_in_in_chromium() {
    let mut ws = Workspace::new();
    ws.public_host = "localhost";
    // No portal runs; its callback is a page that answers on the gateway
    // itself (Chromium refuses the tests' usual port 9 outright).
    let bound = TestApp::bind().await;
    let callback = format!("http://localhost:{}/healthz", bound.port);
    let app = TestApp::start(
        &ws,
        bound,
        &format!(
            "[[portal]]\nclient_id = \"browser-portal\"\nredirect_uris = [\"{callback}\"]\naccount_types = [\"provider\"]\nmfa = \"required\"\n"
        ),
    )
    .await;
    app.provider_account("browser.user").await;
    let base = app.base.replace("127.0.0.1", "localhost");
    let authorize = crate::support::authorize_url(&app, "browser-portal", &callback, &pkce().1, &[("prompt", "login")])
        .replace(&app.base, &base);
    let output = crate::support::run_node(
        "passkey-browser.mjs",
        vec![
            ("AUTHORIZE_URL", authorize),
            ("USERNAME", "browser.user".into()),
            ("PASSWORD", PASSWORD.into()),
            ("CALLBACK", callback.clone()),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser run failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("PASSKEY_ENROLLED") && stdout.contains("PASSKEY_LOGIN_OK"),
        "{stdout}\n{stderr}"
    );
    // The gateway saw a WebAuthn second factor.
    let events = app.recent_events().await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "mfa_enrolled" && e.detail.contains("webauthn"))
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == "login_success" && e.detail.contains("hwk"))
    );
}
