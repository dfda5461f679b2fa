//! Diagnostics against live peers: the ID-token explainer on a token the
//! npm `oidc-provider` really issued, the preflight of an OIDC and a SAML
//! connection, and the certificate watch (a certificate five days from
//! expiry, then a rotation in fresh metadata).

use base64::Engine;
use serde_json::{Value, json};

use crate::federation_oidc::{self as fo, DOMAIN};
use crate::federation_saml::{metadata_server, metadata_with};
use crate::support::admin;
use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::op::{self, OP_CLIENT_ID, OP_CLIENT_SECRET};
use crate::support::pkce;
use crate::support::sinks::WebhookSink;

fn gatehouse(cfg: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("diagnose")
        .arg("-c")
        .arg(cfg);
    c
}

fn run_json(mut c: std::process::Command) -> (Option<i32>, Value, String) {
    let out = c.output().unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

/// An ID token issued by the real OP to the gateway's client: an
/// authorization request of our own (PKCE, nonce), the browser through the
/// OP, the code exchanged at its token endpoint.
async fn real_id_token(f: &fo::Fed, nonce: &str) -> String {
    let port: u16 = f.app.base.rsplit(':').next().unwrap().parse().unwrap();
    let redirect = format!("http://127.0.0.1:{port}/sso/oidc/{}/callback", fo::ORG);
    let (verifier, challenge) = pkce();
    let mut u = url::Url::parse(&format!("{}/auth", f.op.issuer())).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", OP_CLIENT_ID)
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", "explain-state")
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", "alice@lakeside.example");
    let b = Browser::new();
    let first = b.get(u.as_str()).await;
    let back = b.follow(first, &f.op.issuer(), &redirect).await;
    let code = url::Url::parse(&back.location())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code: {}", back.location()));
    let token: Value = reqwest::Client::new()
        .post(format!("{}/token", f.op.issuer()))
        .basic_auth(OP_CLIENT_ID, Some(OP_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"))
        .to_string()
}

#[tokio::test]
async fn id_tokens_from_the_real_op_are_explained_and_the_oidc_preflight_checks_the_live_idp() {
    let f = fo::setup("jit_provisioning = true", "", 0).await;
    let port: u16 = f.app.base.rsplit(':').next().unwrap().parse().unwrap();
    let cfg = f.ws.dir.path().join("cli.toml");
    std::fs::write(
        &cfg,
        f.ws.config_text(
            port,
            &op::org_toml(fo::ORG, DOMAIN, &f.op.issuer(), "jit_provisioning = true", ""),
        ),
    )
    .unwrap();
    let token = real_id_token(&f, "nonce-42").await;
    let file = f.ws.dir.path().join("id_token.txt");
    std::fs::write(&file, &token).unwrap();
    let explain = |extra: &[&str], path: &std::path::Path| {
        let mut c = gatehouse(&cfg);
        c.args(["id-token", "--org", fo::ORG, "--json"]).args(extra).arg(path);
        run_json(c)
    };

    let (code, r, err) = explain(&[], &file);
    assert_eq!(code, Some(0), "{r} {err}");
    assert_eq!(r["verdict"], "accept");
    assert_eq!(r["subject"], "alice-001");
    assert_eq!(check(&r, "nonce")["result"], "skipped", "no --nonce given");
    assert_eq!(check(&r, "signature verifies")["result"], "pass");

    let (code, r, _) = explain(&["--nonce", "nonce-42"], &file);
    assert_eq!(code, Some(0));
    assert_eq!(check(&r, "nonce")["result"], "pass");
    let (code, r, _) = explain(&["--nonce", "another-login"], &file);
    assert_eq!(code, Some(1));
    assert_eq!(r["code"], "sso_nonce_mismatch");
    assert_eq!(check(&r, "nonce")["result"], "fail");

    // As of an hour later (the token lives five minutes).
    let later = gatehouse::clock::rfc3339(f.app.clock.now_for_test() + 3600);
    let (code, r, _) = explain(&["--at", &later], &file);
    assert_eq!(code, Some(1));
    assert_eq!(r["code"], "sso_assertion_expired");
    assert_eq!(check(&r, "validity period (clock)")["result"], "fail");
    assert_eq!(check(&r, "required claims and mapping")["result"], "skipped");

    // A payload changed after signing.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .unwrap(),
    )
    .unwrap();
    claims["sub"] = json!("mallory");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = f.ws.dir.path().join("tampered.txt");
    std::fs::write(&tampered, parts.join(".")).unwrap();
    let (code, r, _) = explain(&[], &tampered);
    assert_eq!(code, Some(1));
    assert_eq!(r["code"], "sso_signature_invalid");
    let failed: Vec<&Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "signature verifies");

    // The preflight of the live OP: everything answers and matches.
    let mut c = gatehouse(&cfg);
    c.args(["connection", fo::ORG, "--json"]);
    let (code, r, err) = run_json(c);
    assert_eq!(code, Some(0), "{r} {err}");
    for name in [
        "discovery document answers",
        "IdP clock (HTTP Date) against the gateway's",
        "issuer",
        "ID token signing algorithms",
        "token endpoint authentication",
        "signing keys (JWKS)",
        "token endpoint answers",
        "our client id and redirect URI at the IdP",
    ] {
        assert_eq!(check(&r, name)["result"], "pass", "{name}: {r}");
    }

    // An IdP where our redirect URI is not registered fails that check,
    // with the fix.
    let mut other = op::Op::start(&op::OpOptions {
        port: 0,
        clients: json!([op::client(port, "some-other-org")]),
        accounts: op::accounts(),
        clock_offset: 0,
    });
    let cfg2 = f.ws.dir.path().join("cli2.toml");
    std::fs::write(
        &cfg2,
        f.ws.config_text(port, &op::org_toml(fo::ORG, DOMAIN, &other.issuer(), "", "")),
    )
    .unwrap();
    let mut c = gatehouse(&cfg2);
    c.args(["connection", fo::ORG]);
    let out = c.output().unwrap();
    other.stop();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL    our client id and redirect URI at the IdP"),
        "{text}"
    );
    assert!(text.contains("register exactly this redirect URI"), "{text}");
}

#[tokio::test]
async fn a_certificate_five_days_from_expiry_is_warned_once_and_a_rotation_is_reported() {
    const ORG: &str = "lakeside-saml";
    let hook = WebhookSink::start().await;
    let (url, content) = metadata_server(metadata_with(&["idp-signing"])).await;
    let ws = Workspace::new();
    let app = TestApp::spawn_with(
        &ws,
        &format!(
            r#"
[[org]]
id = "{ORG}"
name = "Lakeside (SAML)"
email_domains = ["lakeside-saml.example"]
mfa = "portal"
webhook = "{hook}"
[org.connection]
kind = "saml"
idp_metadata_url = "{url}"
"#,
            hook = hook.url
        ),
    )
    .await;
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/saml/idp-signing.crt"
    ))
    .unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let cert = gatehouse::federation::saml::metadata::Cert::from_base64(&b64).unwrap();
    // The watch's first pass at start-up (today: far from expiry) is done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .state
        .sql
        .certificate_notice(ORG, "idp-signing", &cert.sha256)
        .await
        .unwrap()
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "the certificate watch never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(hook.received.lock().unwrap().is_empty());

    // Five days before notAfter.
    app.clock.set(cert.not_after - 5 * 86_400);
    let views = app
        .state
        .health
        .check_certificates(&app.state.federation)
        .await
        .unwrap();
    let v = views.iter().find(|v| v.cert.org == ORG).unwrap();
    assert_eq!(v.seconds_left, 5 * 86_400);
    let warned = hook.wait_for("certificate_expiring", 1).await;
    assert_eq!(warned.len(), 1, "{:?}", hook.received.lock().unwrap());
    assert_eq!(warned[0]["org"], ORG);
    assert_eq!(warned[0]["use"], "idp-signing");
    assert_eq!(warned[0]["days_left"], 5);
    assert_eq!(warned[0]["standing"], json!({"expiring": {"threshold_days": 7}}));
    assert!(warned[0]["subject"].as_str().unwrap().contains("idp-signing"));
    let events = app.recent_events().await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "certificate_expiring" && e.org_id.as_deref() == Some(ORG))
    );
    let metrics = Browser::new().get(&app.url("/metrics")).await.body;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("gatehouse_certificate_expiry_seconds") && l.contains(ORG))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        line.contains("use=\"idp-signing\"") && line.ends_with(" 432000"),
        "{line}"
    );

    // The next pass at the same standing says nothing new.
    app.state
        .health
        .check_certificates(&app.state.federation)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hook.events("certificate_expiring").len(), 1, "once per threshold");

    // The admin sees it on the console.
    let console = admin::console(&app, "gate.admin", None, &["gatehouse_admin"]).await;
    let page = console.get(&app.url("/admin")).await;
    assert!(page.body.contains("expires within 7 days"), "{}", page.body);
    let (status, api) = {
        let p = console.get(&app.url("/api/admin/certificates")).await;
        (p.status, serde_json::from_str::<Value>(&p.body).unwrap())
    };
    assert_eq!(status, 200);
    assert!(
        api["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["org"] == ORG && (431_000..=432_000).contains(&c["seconds_left"].as_i64().unwrap()))
    );
    // The console's preflight flags it too.
    let org_page = console.get(&app.url(&format!("/admin/orgs/{ORG}"))).await;
    let pre = console
        .post(
            &app.url(&format!("/admin/orgs/{ORG}/preflight")),
            &[("csrf", &org_page.field("csrf"))],
        )
        .await;
    assert_eq!(pre.status, 200, "{}", pre.body);
    assert!(pre.body.contains("data-preflight="), "{}", pre.body);
    assert!(pre.body.contains("metadata answers"));
    assert!(
        pre.body
            .contains("(4 days left)</td><td>ask the IdP to publish its next certificate"),
        "{}",
        pre.body
    );
    assert!(pre.body.contains("RSA 2048 bits, RSA-SHA256"));

    // The IdP publishes a new certificate: reported as a change.
    let rotated_pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/saml/idp-rotated.crt"
    ))
    .unwrap();
    let rotated = gatehouse::federation::saml::metadata::Cert::from_base64(
        &rotated_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .unwrap();
    *content.lock().unwrap() = metadata_with(&["idp-signing", "idp-rotated"]);
    app.state.federation.saml(ORG).unwrap().refresh().await.unwrap();
    app.state
        .health
        .check_certificates(&app.state.federation)
        .await
        .unwrap();
    let changed = hook.wait_for("certificate_changed", 1).await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["sha256"], rotated.sha256.as_str());
    assert_eq!(changed[0]["previous_certificates"], json!([cert.sha256]));
}

#[tokio::test]
async fn a_browser_bounced_back_by_the_idp_again_and_again_is_stopped_with_the_idp_blamed() {
    let f = fo::setup("jit_provisioning = true", "", 0).await;
    let b = Browser::new();
    // The portal deep-links to the organization's IdP; the browser comes
    // back to the portal each time without an answer reaching the gateway.
    let threshold = f.app.state.provider.cfg.diagnostics.loop_threshold;
    let url = crate::support::authorize_url(&f.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[("org", fo::ORG)]);
    for _ in 0..threshold {
        let r = b.get(&url).await;
        assert_eq!(r.status, 303);
        assert!(r.location().starts_with(&f.op.issuer()), "to the IdP: {}", r.location());
    }
    let stopped = b.get(&url).await;
    assert_eq!(
        stopped.error_code().as_deref(),
        Some("sso_redirect_loop"),
        "{}",
        stopped.body
    );
    let events = f.app.events(&stopped.reference().unwrap()).await;
    let d: Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(d["side"], "idp", "{d}");
    assert_eq!(d["authorizations"], threshold + 1);
    assert!(d["fix"].as_str().unwrap().contains("IdP"), "{d}");
}
