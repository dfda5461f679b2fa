//! The token endpoint from the attacker's side: reused codes and refresh
//! tokens, wrong verifiers, wrong secrets, malformed requests.

use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::redis;
use crate::support::rp::Rp;
use crate::support::{authorize_url, pkce};

/// Logs in by hand and returns (code, verifier).
async fn code_for(app: &TestApp, browser: &Browser, username: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let r = browser
        .login(
            app,
            &authorize_url(app, PORTAL, PORTAL_CALLBACK, &challenge, &[("prompt", "login")]),
            username,
            PASSWORD,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    (r.location_param("code").unwrap(), verifier)
}

async fn exchange(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", PORTAL_CALLBACK),
        ("code_verifier", verifier),
    ]
}

/// `gatehouse account ARGS` as another process on the running gateway's
/// configuration (the same database and Redis).
fn account_cli(ws: &Workspace, app: &TestApp, args: &[&str]) -> std::process::Output {
    let port = url::Url::parse(&app.base).unwrap().port().unwrap();
    let cfg = ws.dir.path().join("cli.toml");
    std::fs::write(&cfg, ws.config_text(port, "")).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["account", "-c"])
        .arg(&cfg)
        .args(args)
        .output()
        .unwrap()
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("rotating").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &Browser::new(), "rotating", PASSWORD).await;

    let (access2, refresh2) = rp.refresh(&app, &login.refresh_token).await.unwrap();
    assert_ne!(refresh2, login.refresh_token, "rotation issues a new refresh token");
    assert_eq!(userinfo_status(&app, &access2).await, 200);
    let (access3, refresh3) = rp.refresh(&app, &refresh2).await.unwrap();
    assert_eq!(userinfo_status(&app, &access3).await, 200);

    // An attacker replays the first (already rotated) refresh token.
    assert_eq!(
        rp.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    // The whole family is gone: the legitimate current token and every
    // access token it produced.
    assert_eq!(rp.refresh(&app, &refresh3).await.unwrap_err(), "invalid_grant");
    assert_eq!(userinfo_status(&app, &access3).await, 401);
    assert_eq!(userinfo_status(&app, &access2).await, 401);
    assert_eq!(userinfo_status(&app, &login.access_token).await, 401);
    assert!(
        app.recent_events()
            .await
            .iter()
            .any(|e| e.kind == "refresh_token_reuse")
    );

    // A refresh token stored by an earlier release names only its family
    // (no copy of it): the family is read from its own key.
    let login = rp.login(&app, &Browser::new(), "rotating", PASSWORD).await;
    let key = format!(
        "{}refresh:{}",
        ws.prefix,
        gatehouse::crypto::token_digest(&login.refresh_token)
    );
    let stored: serde_json::Value = serde_json::from_str(
        redis::shared()
            .cmd(&["GET", &key])
            .lines()
            .nth(1)
            .expect("a stored refresh record"),
    )
    .unwrap();
    assert!(stored["family"].is_object(), "this release stores the family: {stored}");
    let old = serde_json::json!({ "family_id": stored["family_id"] }).to_string();
    redis::shared().cmd(&["SET", &key, &old, "EX", "600"]);
    let (access, _) = rp.refresh(&app, &login.refresh_token).await.unwrap();
    assert_eq!(userinfo_status(&app, &access).await, 200);

    // Another client cannot use a portal's refresh token.
    let login = rp.login(&app, &Browser::new(), "rotating", PASSWORD).await;
    let other = Rp::confidential(RSA_PORTAL, "rsa-portal-secret-0123456789", RSA_CALLBACK);
    assert_eq!(
        other.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_client_redirect_and_verifier() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("coder").await;
    let browser = Browser::new();

    // Wrong verifier: refused.
    let (code, verifier) = code_for(&app, &browser, "coder").await;
    let (_, wrong) = pkce();
    let (s, e) = exchange(&app, &code_form(&code, &wrong), Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // The failed attempt consumed it: a code is never tried twice.
    let (s, _) = exchange(&app, &code_form(&code, &verifier), Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!(s, 400);

    // Missing verifier.
    let (code, _) = code_for(&app, &browser, "coder").await;
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", PORTAL_CALLBACK),
    ];
    let (_, e) = exchange(&app, &form, Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!(e["error"], "invalid_grant");

    // Wrong redirect_uri.
    let (code, verifier) = code_for(&app, &browser, "coder").await;
    let mut form = code_form(&code, &verifier);
    form[2] = ("redirect_uri", "http://127.0.0.1:9/other");
    let (_, e) = exchange(&app, &form, Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!(e["error"], "invalid_grant");

    // Bad client secret: 401 invalid_client, and the code is not burnt.
    let (code, verifier) = code_for(&app, &browser, "coder").await;
    let (s, e) = exchange(&app, &code_form(&code, &verifier), Some((PORTAL, "not-the-secret"))).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    // Secret in both header and body: invalid_request.
    let mut both = code_form(&code, &verifier);
    both.push(("client_secret", PORTAL_SECRET));
    let (_, e) = exchange(&app, &both, Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!(e["error"], "invalid_request");
    // Another client presenting the code.
    let (_, e) = exchange(
        &app,
        &code_form(&code, &verifier),
        Some((RSA_PORTAL, "rsa-portal-secret-0123456789")),
    )
    .await;
    assert_eq!(e["error"], "invalid_grant");

    // A good exchange, then a replay of the same code: refused, and the
    // tokens it produced are revoked.
    let (code, verifier) = code_for(&app, &browser, "coder").await;
    let form = {
        let mut f = code_form(&code, &verifier);
        f.push(("client_id", PORTAL));
        f.push(("client_secret", PORTAL_SECRET));
        f
    };
    let (s, tokens) = exchange(&app, &form, None).await;
    assert_eq!(s, 200, "client_secret_post works: {tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&app, access).await, 200);
    let (s, e) = exchange(&app, &form, None).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo_status(&app, access).await,
        401,
        "replayed code revokes its tokens"
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, "[tokens]\ncode_lifetime = \"1s\"").await;
    app.provider_account("slowpoke").await;
    let browser = Browser::new();
    let (code, verifier) = code_for(&app, &browser, "slowpoke").await;
    // Wait (bounded) until Redis has expired the code's key.
    let key = format!("{}code:{}", ws.prefix, gatehouse::crypto::token_digest(&code));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while redis::shared().cmd(&["EXISTS", &key]).starts_with(":1") {
        assert!(std::time::Instant::now() < deadline, "code key never expired");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, e) = exchange(&app, &code_form(&code, &verifier), Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert!(e["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_errors_not_500s() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let http = reqwest::Client::new();

    // JSON instead of a form.
    let r = http
        .post(app.url("/oauth2/token"))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");

    // Repeated parameter.
    let (_, e) = exchange(
        &app,
        &[("grant_type", "refresh_token"), ("grant_type", "refresh_token")],
        Some((PORTAL, PORTAL_SECRET)),
    )
    .await;
    assert_eq!(e["error"], "invalid_request");
    // Unknown grant type.
    let (_, e) = exchange(&app, &[("grant_type", "password")], Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!(e["error"], "unsupported_grant_type");
    // No client authentication at all.
    let (s, e) = exchange(&app, &[("grant_type", "authorization_code")], None).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    // Unknown client.
    let (s, _) = exchange(&app, &[("grant_type", "authorization_code")], Some(("nobody", "x"))).await;
    assert_eq!(s, 401);
    // A public client may not send a secret.
    let (s, _) = exchange(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC_PORTAL),
            ("client_secret", "guess"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 401);
    // Garbage Basic header.
    let r = http
        .post(app.url("/oauth2/token"))
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Unknown refresh token.
    let (_, e) = exchange(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        Some((PORTAL, PORTAL_SECRET)),
    )
    .await;
    assert_eq!(e["error"], "invalid_grant");
    // userinfo without or with a bogus token.
    let r = http.get(app.url("/oauth2/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let r = http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth("bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn introspection_and_revocation() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("inspector").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &Browser::new(), "inspector", PASSWORD).await;
    let http = reqwest::Client::new();
    let introspect = |token: String, id: &'static str, secret: &'static str| {
        let http = http.clone();
        let url = app.url("/oauth2/introspect");
        async move {
            http.post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let v = introspect(login.access_token.clone(), PORTAL, PORTAL_SECRET).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], PORTAL);
    assert_eq!(v["sub"], login.claims["sub"]);
    // Another portal learns nothing about this portal's tokens.
    let v = introspect(login.access_token.clone(), RSA_PORTAL, "rsa-portal-secret-0123456789").await;
    assert_eq!(v, serde_json::json!({"active": false}));
    let v = introspect(login.refresh_token.clone(), PORTAL, PORTAL_SECRET).await;
    assert_eq!(v["active"], true);

    // Revoking the refresh token ends the family, access tokens included.
    let r = http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .form(&[
            ("token", login.refresh_token.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect(login.access_token.clone(), PORTAL, PORTAL_SECRET).await["active"],
        false
    );
    assert_eq!(
        rp.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    // Revoking an unknown token is not an error (RFC 7009).
    let r = http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The token endpoints keep an account for `store.account_cache` (1 s). A
/// change made in the running gateway applies at once; one made by another
/// process (the command line, on the same database) within that second.
#[tokio::test]
async fn an_account_disabled_elsewhere_stops_refresh_and_userinfo_within_the_cache_ttl() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("cached.user").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &Browser::new(), "cached.user", PASSWORD).await;
    // Warm: the account is now in the gateway's cache.
    let (access, mut refresh) = rp.refresh(&app, &login.refresh_token).await.unwrap();
    assert_eq!(userinfo_status(&app, &access).await, 200);

    let out = account_cli(&ws, &app, &["disable", "cached.user"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let disabled_at = std::time::Instant::now();

    // Bounded: at most 40 tries, 100 ms apart.
    let mut refused = None;
    for _ in 0..40 {
        match rp.refresh(&app, &refresh).await {
            Ok((_, next)) => refresh = next,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(refused.as_deref(), Some("invalid_grant"));
    let waited = disabled_at.elapsed();
    assert!(
        waited < std::time::Duration::from_millis(2500),
        "refused only after {waited:?}"
    );
    assert_eq!(userinfo_status(&app, &access).await, 401);
}

/// A grant made through the running gateway reaches the very next token,
/// even with the account cached a moment before.
#[tokio::test]
async fn a_change_in_the_running_gateway_skips_the_cache() {
    let ws = Workspace::new();
    // A long TTL, so only the invalidation can explain a fresh answer.
    let bound = TestApp::bind().await;
    let mut cfg = ws.config(bound.port, "");
    cfg.store.account_cache = std::time::Duration::from_secs(60);
    let app = TestApp::start_config(bound, cfg).await;
    let account = app.provider_account("cached.roles").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &Browser::new(), "cached.roles", PASSWORD).await;
    let (access, refresh) = rp.refresh(&app, &login.refresh_token).await.unwrap();
    assert_eq!(userinfo_status(&app, &access).await, 200);

    app.state
        .sql
        .set_account_status(account.id.as_str(), "disabled")
        .await
        .unwrap();
    assert_eq!(userinfo_status(&app, &access).await, 401, "no second of grace");
    assert_eq!(rp.refresh(&app, &refresh).await.unwrap_err(), "invalid_grant");
}

/// The rotation write is guarded by the family key: once a family is
/// revoked, a refresh that consumed its token a moment earlier writes
/// nothing (no new token, no resurrected family).
#[tokio::test]
async fn a_guarded_batch_writes_nothing_once_its_guard_is_gone() {
    use gatehouse::store::kv::{Kv, Write};
    let prefix = format!(
        "guard-{}:",
        gatehouse::crypto::hex(&gatehouse::crypto::random_bytes::<6>())
    );
    let kv = Kv::redis(&redis::shared().url(), &prefix, std::time::Duration::from_secs(5)).unwrap();
    let ttl = std::time::Duration::from_secs(60);
    let writes = [
        Write::Set {
            key: "next",
            value: "successor",
            ttl,
        },
        Write::SetAdd {
            key: "members",
            member: "m1",
            ttl,
        },
    ];
    assert!(!kv.write_all_if_exists("family", &writes).await.unwrap());
    assert_eq!(kv.get("next").await.unwrap(), None);
    assert!(kv.set_members("members").await.unwrap().is_empty());

    kv.set_ex("family", "{}", ttl).await.unwrap();
    assert!(kv.write_all_if_exists("family", &writes).await.unwrap());
    assert_eq!(kv.get("next").await.unwrap().as_deref(), Some("successor"));
    assert_eq!(kv.set_members("members").await.unwrap(), vec!["m1".to_string()]);
    let ttl_left = kv.ttl("members").await.unwrap().unwrap();
    assert!((1..=60).contains(&ttl_left), "{ttl_left}");

    // The in-process store behaves the same.
    let mem = Kv::memory("m:");
    assert!(!mem.write_all_if_exists("family", &writes).await.unwrap());
    assert_eq!(mem.get("next").await.unwrap(), None);
    mem.set_ex("family", "{}", ttl).await.unwrap();
    assert!(mem.write_all_if_exists("family", &writes).await.unwrap());
    assert_eq!(mem.get("next").await.unwrap().as_deref(), Some("successor"));
}

/// `gatehouse account reset-mfa` from the command line (a lost phone) ends
/// the account's sessions and the portal tokens started under them, as the
/// console does: the account stays active, so nothing else would.
#[tokio::test]
async fn a_reset_from_the_command_line_revokes_the_portal_tokens_too() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("lost.phone").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &Browser::new(), "lost.phone", PASSWORD).await;
    assert_eq!(userinfo_status(&app, &login.access_token).await, 200);

    let out = account_cli(&ws, &app, &["reset-mfa", "lost.phone", "--reason", "phone lost"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 session(s) ended"), "{stdout}");

    assert_eq!(
        rp.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    assert_eq!(userinfo_status(&app, &login.access_token).await, 401);
}

/// Compare-and-set, the primitive behind every in-place session change.
#[tokio::test]
async fn replace_if_unchanged_writes_only_over_what_was_read() {
    use gatehouse::store::kv::Kv;
    let prefix = format!(
        "cas-{}:",
        gatehouse::crypto::hex(&gatehouse::crypto::random_bytes::<6>())
    );
    let redis_kv = Kv::redis(&redis::shared().url(), &prefix, std::time::Duration::from_secs(5)).unwrap();
    for kv in [redis_kv, Kv::memory("m:")] {
        let ttl = std::time::Duration::from_secs(300);
        assert!(
            !kv.replace_if_unchanged("k", "a", "b", None).await.unwrap(),
            "absent: nothing written"
        );
        assert_eq!(kv.get("k").await.unwrap(), None, "{}", kv.backend_name());
        kv.set_ex("k", "a", ttl).await.unwrap();
        assert!(!kv.replace_if_unchanged("k", "stale", "b", None).await.unwrap());
        assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("a"));
        assert!(kv.replace_if_unchanged("k", "a", "b", None).await.unwrap());
        assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("b"));
        let left = kv.ttl("k").await.unwrap().unwrap();
        assert!((290..=300).contains(&left), "the TTL is kept: {left}");
        assert!(
            kv.replace_if_unchanged("k", "b", "c", Some(std::time::Duration::from_secs(30)))
                .await
                .unwrap()
        );
        let left = kv.ttl("k").await.unwrap().unwrap();
        assert!((1..=30).contains(&left), "a new TTL: {left}");
    }
}

/// A code issued just before every session of the account was ended (a
/// password reset elsewhere, an admin) is worthless: redeeming it would
/// start a token family that the reset never saw.
#[tokio::test]
async fn a_code_from_a_sign_in_that_has_since_ended_is_refused() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("ended.meanwhile").await;
    let (code, verifier) = code_for(&app, &Browser::new(), "ended.meanwhile").await;
    let ended = app.state.provider.end_every_session(account.id.as_str()).await.unwrap();
    assert_eq!(ended.sessions, 1);
    let (status, body) = exchange(&app, &code_form(&code, &verifier), Some((PORTAL, PORTAL_SECRET))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body.get("refresh_token").is_none());
}

/// A family record that cannot be read does not shield its tokens from
/// "end every session": the family goes, and with it every refresh.
#[tokio::test]
async fn an_unreadable_family_is_still_revoked() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("garbled.family").await;
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &Browser::new(), "garbled.family", PASSWORD).await;
    let key = format!(
        "{}refresh:{}",
        ws.prefix,
        gatehouse::crypto::token_digest(&login.refresh_token)
    );
    let stored: serde_json::Value =
        serde_json::from_str(redis::shared().cmd(&["GET", &key]).lines().nth(1).unwrap()).unwrap();
    let family_key = format!("{}family:{}", ws.prefix, stored["family_id"].as_str().unwrap());
    redis::shared().cmd(&["SET", &family_key, "{not json", "EX", "600"]);

    let ended = app.state.provider.end_every_session(account.id.as_str()).await.unwrap();
    assert_eq!((ended.sessions, ended.unrevoked), (1, 0));
    assert!(redis::shared().cmd(&["EXISTS", &family_key]).starts_with(":0"));
    assert_eq!(
        rp.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    assert_eq!(userinfo_status(&app, &login.access_token).await, 401);
}
