//! Diagnostics for IT admins, fed by real failing logins through the
//! pysaml2 IdP: the reference lookup (page, API, CLI), single-user vs
//! organization-wide verdicts, one incident webhook per incident (not per
//! failure) and its closing, the console's organization boundary, the
//! maintenance notice, and the loop breaker.

use serde_json::{Value, json};

use crate::federation_saml::{ORG, post_form, setup_custom, to_idp_form};
use crate::support::admin;
use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::rp::Rp;
use crate::support::sinks::WebhookSink;
use crate::support::{authorize_url, pkce};

/// One SAML login as `email` (the name typed at the gateway); returns the
/// page the browser ends on.
async fn saml_login(app: &TestApp, email: &str) -> Page {
    let b = Browser::new();
    let form = to_idp_form(
        app,
        &b,
        &authorize_url(app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
        email,
    )
    .await;
    post_form(app, &b, &form, PORTAL_CALLBACK).await
}

async fn json_get(b: &Browser, url: &str) -> (u16, Value) {
    let p = b.get(url).await;
    (p.status, serde_json::from_str(&p.body).unwrap_or(Value::Null))
}

/// Polls the org's health (bounded) until `done` holds.
async fn health_until(app: &TestApp, b: &Browser, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, v) = json_get(b, &app.url(&format!("/api/admin/orgs/{ORG}"))).await;
        assert_eq!(status, 200, "{v}");
        if done(&v) || std::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failing_saml_logins_are_explained_judged_and_raised_as_one_incident() {
    let hook = WebhookSink::start().await;
    let s = setup_custom(
        json!({
            "dave@riverside.example": { "name": "Dave", "omit_mail": true },
            "carol@riverside.example": { "name": "Carol Diaz" }
        }),
        "response",
        false,
        &format!("webhook = \"{}\"", hook.url),
        "[diagnostics]\nincident_users = 3\nincident_window = \"15m\"\nincident_close_successes = 2\n",
    )
    .await;
    let app = &s.app;
    let idp_signs_in =
        |email: &'static str| reqwest::get(format!("http://127.0.0.1:{}/control/current?email={email}", s.idp.port));
    idp_signs_in("dave@riverside.example").await.unwrap();
    let console = admin::console(app, "gate.admin", None, &["gatehouse_admin"]).await;

    // One person failing (twice): their problem, not the organization's.
    let first = saml_login(app, "u1@riverside.example").await;
    assert_eq!(
        first.error_code().as_deref(),
        Some("sso_attribute_missing"),
        "{}",
        first.body
    );
    let reference = first.reference().unwrap();
    saml_login(app, "u1@riverside.example").await;
    let h = health_until(app, &console, |v| v["last_hour"][0]["failures"] == 2).await;
    assert_eq!(h["verdict"]["verdict"], "single_user", "{h}");
    assert_eq!(h["verdict"]["users"], 1);
    assert_eq!(h["verdict"]["code"], "sso_attribute_missing");
    assert!(hook.received.lock().unwrap().is_empty(), "no incident for one user");

    // The reference the user quotes, typed the way people type it: lower
    // case, no dash, and the look-alikes (O for 0, l for 1) mixed up.
    let typed = reference
        .to_lowercase()
        .replace('-', "")
        .replace('0', "o")
        .replace('1', "l");
    let page = console.get(&app.url(&format!("/admin/ref?code={typed}"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for want in [
        "sso_attribute_missing",
        "mapping the IdP&#x27;s user to an account",
        "data-expected>mail",
        "displayName",
        "release this attribute",
        "u1@riverside.example",
        "gatehouse-test-browser",
    ] {
        assert!(page.body.contains(want), "reference page lacks {want}:\n{}", page.body);
    }
    let (status, api) = json_get(&console, &app.url(&format!("/api/admin/ref/{reference}"))).await;
    assert_eq!(status, 200);
    let e = &api["events"][0];
    assert_eq!(e["explanation"]["code"], "sso_attribute_missing");
    assert_eq!(e["explanation"]["expected"], "mail");
    assert_eq!(e["org"], ORG);
    assert_eq!(e["user_agent"], crate::support::browser::USER_AGENT);
    assert!(e["explanation"]["step"].as_str().unwrap().contains("federation"));

    // The same lookup from the command line, against the same store.
    let cfg = s.ws.dir.path().join("cli.toml");
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    std::fs::write(&cfg, s.ws.config_text(port, "")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("diagnose")
        .arg("-c")
        .arg(&cfg)
        .args(["ref", &typed, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["reference"], reference.as_str());
    assert_eq!(cli["events"][0]["explanation"]["expected"], "mail");
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("diagnose")
        .arg("-c")
        .arg(&cfg)
        .args(["ref", "ZZZZ-ZZZZ"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));

    // Two more people with the same code: an organization-wide incident,
    // announced once.
    saml_login(app, "u2@riverside.example").await;
    saml_login(app, "u3@riverside.example").await;
    let opened = hook.wait_for("incident_opened", 1).await;
    assert_eq!(opened.len(), 1, "{:?}", hook.received.lock().unwrap());
    assert_eq!(opened[0]["org"], ORG);
    assert_eq!(opened[0]["code"], "sso_attribute_missing");
    assert_eq!(opened[0]["users"], 3);
    assert!(opened[0]["fix"].as_str().unwrap().contains("attribute"));
    // More failures update the incident; they are not announced again.
    saml_login(app, "u4@riverside.example").await;
    saml_login(app, "u4@riverside.example").await;
    let h = health_until(app, &console, |v| {
        v["incidents"][0]["users"] == 4 && v["incidents"][0]["failures"] == 6
    })
    .await;
    assert_eq!(h["verdict"]["verdict"], "organization_wide", "{h}");
    assert_eq!(h["verdict"]["users"], 4);
    assert_eq!(h["incidents"][0]["status"], "open");
    assert!(h["verdict"]["first_at"].as_i64() <= h["verdict"]["latest_at"].as_i64());
    assert_eq!(hook.events("incident_opened").len(), 1, "one notice per incident");
    let metrics = Browser::new().get(&app.url("/metrics")).await.body;
    assert!(
        metrics.contains(&format!(
            "gatehouse_incident_open{{org=\"{ORG}\",code=\"sso_attribute_missing\"}} 1"
        )) || metrics.contains(&format!(
            "gatehouse_incident_open{{code=\"sso_attribute_missing\",org=\"{ORG}\"}} 1"
        )),
        "{metrics}"
    );
    let overview = console.get(&app.url("/admin")).await;
    assert!(
        overview.body.contains("data-verdict=\"organization_wide\""),
        "{}",
        overview.body
    );

    // The IdP's admin fixes the attribute release: successes close it.
    idp_signs_in("carol@riverside.example").await.unwrap();
    for _ in 0..2 {
        let ok = saml_login(app, "carol@riverside.example").await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert!(ok.location().starts_with(PORTAL_CALLBACK));
    }
    let closed = hook.wait_for("incident_closed", 1).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["incident"], opened[0]["incident"]);
    let h = health_until(app, &console, |v| v["incidents"][0]["status"] == "closed").await;
    assert_eq!(h["incidents"][0]["status"], "closed");
    assert!(h["last_success_at"].is_i64());
    // One stray failure after recovery does not reopen it: the failures
    // before the close belonged to the closed incident.
    idp_signs_in("dave@riverside.example").await.unwrap();
    saml_login(app, "u5@riverside.example").await;
    let h = health_until(app, &console, |v| v["last_hour"][0]["failures"] == 7).await;
    assert_eq!(h["last_hour"][0]["failures"], 7, "{h}");
    assert_eq!(h["incidents"].as_array().unwrap().len(), 1, "{h}");
    assert_eq!(hook.events("incident_opened").len(), 1);

    // An access manager of another organization sees none of it.
    let nora = admin::console(app, "nora.manager", Some("northside-clinic"), &["access_manager"]).await;
    let (_, orgs) = json_get(&nora, &app.url("/api/admin/orgs")).await;
    let ids: Vec<&str> = orgs["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["northside-clinic"]);
    let (status, body) = json_get(&nora, &app.url(&format!("/api/admin/ref/{reference}"))).await;
    assert_eq!(status, 404, "another org's reference reads as unknown");
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(
        body["reference"].is_string(),
        "the refusal has its own reference: {body}"
    );
    let (status, body) = json_get(&nora, &app.url(&format!("/api/admin/orgs/{ORG}"))).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{body}");
    assert_eq!(nora.get(&app.url(&format!("/admin/orgs/{ORG}"))).await.status, 404);
    assert_eq!(
        nora.get(&app.url(&format!("/admin/ref?code={reference}"))).await.status,
        404
    );
    let (status, incidents) = json_get(&nora, &app.url("/api/admin/incidents")).await;
    assert_eq!(status, 200);
    assert_eq!(incidents["incidents"], json!([]));
    let own = nora.get(&app.url("/admin/orgs/northside-clinic")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let refused = nora
        .post(
            &app.url("/admin/maintenance"),
            &[("csrf", &own.field("csrf")), ("notice", "x")],
        )
        .await;
    assert_eq!(refused.error_code().as_deref(), Some("not_permitted"));
}

#[tokio::test]
async fn the_console_needs_a_role_and_a_second_factor_and_posts_need_csrf() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;

    // No session: to the console's sign-in; the API answers 401.
    let anon = Browser::new();
    let r = anon.get(&app.url("/admin/orgs/northside-clinic")).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/admin/login?return=%2Fadmin%2Forgs%2Fnorthside-clinic");
    let unauth = anon.get(&app.url("/api/admin/orgs")).await;
    assert_eq!(unauth.status, 401);
    assert_eq!(unauth.json()["error"], "session_required");
    assert!(unauth.json()["reference"].is_string(), "API refusals carry a reference");
    // The return path is the console's only.
    let r = anon.get(&app.url("/admin/login?return=https://evil.example/")).await;
    let set_cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    let ret = set_cookie.split(';').next().unwrap().rsplit('.').next().unwrap();
    assert_eq!(gatehouse::crypto::b64url_decode(ret).unwrap(), b"/admin");
    assert!(r.location().contains("client_id=gatehouse-admin"));

    // A password-only session (a portal without MFA) is sent to sign in
    // again, which asks for the second factor.
    let admin_account = app
        .create_account(
            "gate.admin",
            gatehouse::config::AccountType::Provider,
            None,
            &["gatehouse_admin"],
        )
        .await;
    let b = Browser::new();
    let r = b
        .login(
            &app,
            &authorize_url(&app, PUBLIC_PORTAL, PUBLIC_CALLBACK, &pkce().1, &[]),
            "gate.admin",
            PASSWORD,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.get(&app.url("/admin")).await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/admin/login"));

    // A forged callback (no matching state) signs nobody in.
    let forged = Browser::new().get(&app.url("/admin/callback?code=abc&state=xyz")).await;
    assert_eq!(forged.error_code().as_deref(), Some("login_expired"));

    // Someone without an admin role is refused, with a reference.
    let plain = app.provider_account("plain.staff").await;
    let secret = admin::enroll_totp(&app, plain.id.as_str(), "plain.staff").await;
    let (b, r) = admin::walk_sign_in(&app, "plain.staff", &secret).await;
    let refused = b.get(&app.url(&r.location())).await;
    assert_eq!(
        refused.error_code().as_deref(),
        Some("not_permitted"),
        "{}",
        refused.body
    );
    assert!(refused.reference().is_some());

    // The maintenance notice: CSRF-checked, then on the login page and in
    // /readyz, then cleared.
    let secret = admin::enroll_totp(&app, admin_account.id.as_str(), "gate.admin").await;
    let console = admin::sign_in(&app, "gate.admin", &secret).await;
    let forged = console
        .post(&app.url("/admin/maintenance"), &[("notice", "Down at 22:00")])
        .await;
    assert_eq!(forged.error_code().as_deref(), Some("csrf_invalid"));
    let overview = console.get(&app.url("/admin")).await;
    // The preflight API makes outbound requests: a POST without the
    // console's CSRF token (a cross-site form) is refused with a reference.
    let preflight = app.url("/api/admin/orgs/northside-clinic/preflight");
    let forged = console.http.post(&preflight).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"], "csrf_invalid");
    assert!(body["reference"].is_string());
    let token = overview.field("csrf");
    let report: Value = console
        .http
        .post(&preflight)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["kind"], "none", "{report}");
    assert_eq!(report["verdict"], "fail");
    let set = console
        .post(
            &app.url("/admin/maintenance"),
            &[
                ("csrf", &overview.field("csrf")),
                ("notice", "Maintenance tonight 22:00–23:00 UTC"),
                ("action", "set"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    let login = Browser::new()
        .start(&app, &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]))
        .await;
    assert!(
        login
            .body
            .contains("data-maintenance>Maintenance tonight 22:00–23:00 UTC"),
        "{}",
        login.body
    );
    let ready: Value = serde_json::from_str(&Browser::new().get(&app.url("/readyz")).await.body).unwrap();
    assert_eq!(ready["maintenance"], "Maintenance tonight 22:00–23:00 UTC");
    console
        .post(
            &app.url("/admin/maintenance"),
            &[("csrf", &overview.field("csrf")), ("action", "clear")],
        )
        .await;
    let login = Browser::new()
        .start(&app, &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]))
        .await;
    assert!(!login.body.contains("data-maintenance"));
}

#[tokio::test]
async fn a_portal_that_keeps_reauthorizing_is_stopped_and_blamed() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("loop.user").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let b = Browser::new();
    // A real login first: the browser now has an SSO session.
    let pending = rp.begin(&app).await;
    let done = b.login(&app, &pending.url, "loop.user", PASSWORD).await;
    rp.finish(&app, pending, done).await;

    // The portal cannot keep its session and asks again and again; each
    // answer is an immediate code, until the breaker stops it.
    let threshold = app.state.provider.cfg.diagnostics.loop_threshold;
    let mut stopped = None;
    for i in 0..threshold + 3 {
        let r = b.get(&rp.begin(&app).await.url).await;
        if r.status == 303 {
            assert!(r.location().starts_with(PORTAL_CALLBACK), "{}", r.location());
            continue;
        }
        stopped = Some((i, r));
        break;
    }
    let (at, page) = stopped.expect("the loop was never stopped");
    assert_eq!(at, threshold, "stopped right after {threshold} automatic answers");
    assert_eq!(page.status, 508);
    assert_eq!(page.error_code().as_deref(), Some("sso_redirect_loop"));
    let events = app.events(&page.reference().unwrap()).await;
    let d: Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(d["side"], "portal", "{d}");
    assert!(d["fix"].as_str().unwrap().contains("cookie"), "{d}");
    assert_eq!(events[0].client_id.as_deref(), Some(PORTAL));

    // A silent request (prompt=none, an iframe) gets the protocol's answer.
    let silent = b
        .get(&authorize_url(
            &app,
            PORTAL,
            PORTAL_CALLBACK,
            &pkce().1,
            &[("prompt", "none")],
        ))
        .await;
    assert_eq!(silent.status, 303);
    assert!(
        silent.location().starts_with(PORTAL_CALLBACK) && silent.location().contains("error=login_required"),
        "{}",
        silent.location()
    );

    // Another portal in the same browser is not affected.
    let other = Rp::public(PUBLIC_PORTAL, PUBLIC_CALLBACK);
    let r = b.get(&other.begin(&app).await.url).await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with(PUBLIC_CALLBACK), "{}", r.location());
}
