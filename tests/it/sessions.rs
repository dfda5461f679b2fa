//! Portal sessions in Redis: forward-auth, logout, restarts, outages.

use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::redis::{self, RedisServer};
use crate::support::rp::Rp;
use crate::support::{authorize_url, pkce};

async fn verify(app: &TestApp, cookie: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url("/auth/verify"));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("gatehouse_session={c}"));
    }
    req.send().await.unwrap()
}

/// Signs `username` in from a new browser; returns its session cookie.
async fn signed_in(app: &TestApp, username: &str) -> String {
    let b = Browser::new();
    let (_, challenge) = pkce();
    b.login(
        app,
        &authorize_url(app, PORTAL, PORTAL_CALLBACK, &challenge, &[]),
        username,
        PASSWORD,
    )
    .await;
    b.cookie(app, "gatehouse_session").unwrap()
}

#[tokio::test]
async fn forward_auth_and_logout_end_the_session_in_redis() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("fwd.user").await;
    let browser = Browser::new();
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let login = rp.login(&app, &browser, "fwd.user", PASSWORD).await;
    let sid = browser.cookie(&app, "gatehouse_session").expect("session cookie");

    let r = verify(&app, Some(&sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-gatehouse-user"], "fwd.user");
    assert_eq!(r.headers()["x-gatehouse-email"], "fwd.user@northside.example");
    assert_eq!(r.headers()["x-gatehouse-org"], "northside-clinic");
    assert_eq!(r.headers()["x-gatehouse-roles"], "billing,clinician");
    assert_eq!(verify(&app, None).await.status(), 401);
    assert_eq!(verify(&app, Some("forged-session-id")).await.status(), 401);

    // Redis holds the session under the digest of its id, never the id.
    let key = format!("{}session:{}", ws.prefix, gatehouse::crypto::token_digest(&sid));
    assert!(redis::shared().cmd(&["EXISTS", &key]).starts_with(":1"));
    let keys = redis::shared().cmd(&["KEYS", &format!("{}*", ws.prefix)]);
    assert!(!keys.contains(&sid), "no key contains the raw session id");

    // A post_logout_redirect_uri that is not registered is refused outright.
    let bad = browser
        .get(&app.url(&format!(
            "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri=https://evil.example/",
            login.id_token
        )))
        .await;
    assert_eq!(bad.error_code().as_deref(), Some("post_logout_redirect_uri_mismatch"));
    assert!(bad.headers.get("location").is_none());
    assert_eq!(
        verify(&app, Some(&sid)).await.status(),
        200,
        "a refused logout ends nothing"
    );

    // RP-initiated logout with a valid hint: session gone from Redis, the
    // browser sent to the registered URI with its state, refresh revoked.
    let out = browser
        .get(&app.url(&format!(
            "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={PORTAL_LOGOUT}&state=bye",
            login.id_token
        )))
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.location(), format!("{PORTAL_LOGOUT}?state=bye"));
    assert!(redis::shared().cmd(&["EXISTS", &key]).starts_with(":0"));
    assert_eq!(verify(&app, Some(&sid)).await.status(), 401);
    assert_eq!(
        rp.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    assert!(app.recent_events().await.iter().any(|e| e.kind == "logout"));
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_checks_csrf() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("careful").await;
    let browser = Browser::new();
    Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK)
        .login(&app, &browser, "careful", PASSWORD)
        .await;
    let sid = browser.cookie(&app, "gatehouse_session").unwrap();

    let confirm = browser
        .get(&app.url(&format!(
            "/oauth2/logout?client_id={PORTAL}&post_logout_redirect_uri={PORTAL_LOGOUT}"
        )))
        .await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Sign out?"));
    assert_eq!(
        verify(&app, Some(&sid)).await.status(),
        200,
        "nothing ended before confirmation"
    );

    // A cross-site POST without the token does nothing.
    let forged = browser.post(&app.url("/oauth2/logout"), &[("client_id", PORTAL)]).await;
    assert_eq!(forged.error_code().as_deref(), Some("csrf_invalid"));
    assert_eq!(verify(&app, Some(&sid)).await.status(), 200);

    let done = browser
        .post(
            &app.url("/oauth2/logout"),
            &[
                ("csrf", &confirm.field("csrf")),
                ("client_id", PORTAL),
                ("post_logout_redirect_uri", PORTAL_LOGOUT),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), PORTAL_LOGOUT);
    assert_eq!(verify(&app, Some(&sid)).await.status(), 401);
}

#[tokio::test]
async fn sessions_survive_a_gateway_restart_and_expire_absolutely() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("restarted").await;
    let browser = Browser::new();
    Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK)
        .login(&app, &browser, "restarted", PASSWORD)
        .await;
    let sid = browser.cookie(&app, "gatehouse_session").unwrap();
    app.stop().await;

    // A new process (same Redis, database and keys) on another port.
    let app = TestApp::spawn(&ws).await;
    assert_eq!(verify(&app, Some(&sid)).await.status(), 200);

    // Past the absolute lifetime (12h) the session is gone, however active.
    app.clock.advance(12 * 3600 + 1);
    assert_eq!(verify(&app, Some(&sid)).await.status(), 401);
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_of_the_account() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("many.devices").await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        sids.push(signed_in(&app, "many.devices").await);
    }
    let sessions = &app.state.provider.sessions;
    assert_eq!(sessions.count_for_account(account.id.as_str()).await.unwrap(), 3);
    // Redis holds the three sessions and no per-account structure: the
    // index is a SQL table.
    let session_keys = redis::shared().cmd(&["KEYS", &format!("{}session:*", ws.prefix)]);
    assert_eq!(session_keys.matches("session:").count(), 3, "{session_keys}");
    let all = redis::shared().cmd(&["KEYS", &format!("{}*", ws.prefix)]);
    assert!(!all.contains(account.id.as_str()), "no key names the account: {all}");
    // A session that idled out of Redis drops out of the count, but keeps
    // its index row: the refresh tokens started under it still need ending.
    let first = format!("{}session:{}", ws.prefix, gatehouse::crypto::token_digest(&sids[0]));
    assert!(redis::shared().cmd(&["DEL", &first]).starts_with(":1"));
    assert_eq!(sessions.count_for_account(account.id.as_str()).await.unwrap(), 2);
    assert_eq!(
        app.state
            .sql
            .indexed_sessions(account.id.as_str(), 0)
            .await
            .unwrap()
            .len(),
        3
    );
    // A session written by an earlier release: long field names, indexed in
    // a Redis set. It still works, and "end every session" still reaches it.
    let legacy_sid = "L".repeat(43);
    let legacy_digest = gatehouse::crypto::token_digest(&legacy_sid);
    let now = app.clock.now_for_test();
    let legacy = serde_json::json!({
        "account_id": account.id.as_str(), "username": "many.devices",
        "email": "many.devices@northside.example", "account_type": "provider",
        "org": "northside-clinic", "roles": ["clinician"], "amr": ["pwd"], "aal": 1,
        "mfa": false, "acr": "urn:gatehouse:loa:1", "auth_time": now, "created_at": now,
    });
    let legacy_key = format!("{}session:{legacy_digest}", ws.prefix);
    redis::shared().cmd(&["SET", &legacy_key, &legacy.to_string(), "EX", "600"]);
    let legacy_index = format!("{}account-sessions:{}", ws.prefix, account.id.as_str());
    redis::shared().cmd(&["SADD", &legacy_index, &legacy_digest]);
    let r = verify(&app, Some(&legacy_sid)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-gatehouse-user"], "many.devices");
    assert_eq!(sessions.count_for_account(account.id.as_str()).await.unwrap(), 3);

    let ended = app
        .state
        .provider
        .sessions
        .delete_all_for_account(account.id.as_str())
        .await
        .unwrap();
    let (live, handles) = ended;
    assert_eq!(live, 3, "two in SQL and the legacy one were live");
    assert_eq!(handles.len(), 4, "three indexed in SQL (one idled out) and one legacy");
    assert_eq!(verify(&app, Some(&legacy_sid)).await.status(), 401);
    assert!(redis::shared().cmd(&["EXISTS", &legacy_index]).starts_with(":0"));
    for sid in &sids {
        assert_eq!(verify(&app, Some(sid)).await.status(), 401);
    }
    // The rows stay (retention ages them out): ending again reaches the
    // same sessions, so a revocation that failed can be retried.
    assert_eq!(
        app.state
            .sql
            .indexed_sessions(account.id.as_str(), 0)
            .await
            .unwrap()
            .len(),
        3
    );
    let again = sessions.delete_all_for_account(account.id.as_str()).await.unwrap();
    assert_eq!((again.0, again.1.len()), (0, 3), "nothing live the second time");
}

#[tokio::test]
async fn redis_outage_is_reported_and_recovers_by_itself() {
    let mut own = RedisServer::start();
    let ws = Workspace::with_redis(own.url());
    let app = TestApp::spawn(&ws).await;
    app.provider_account("outage").await;
    let b = Browser::new();
    assert_eq!(b.get(&app.url("/readyz")).await.status, 200);

    own.stop();
    let ready = b.get(&app.url("/readyz")).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["session_store"]["backend"], "redis");
    // The login page says the service is unavailable (not a 500, no hang).
    let r = b
        .get(&authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error_code().as_deref(), Some("service_unavailable"));
    // Token endpoint and forward-auth answer in their own shapes.
    let t = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), 503);
    assert_eq!(
        t.json::<serde_json::Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    assert_eq!(
        verify(&app, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            .await
            .status(),
        503
    );

    own.restart();
    // Recovery needs no restart of the gateway: poll (bounded) until ready.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if b.get(&app.url("/readyz")).await.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "gateway did not recover");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = b
        .login(
            &app,
            &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
            "outage",
            PASSWORD,
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with(PORTAL_CALLBACK));
}

/// A record this release cannot read (written by another release, after a
/// rollback or in a mixed deploy) signs its holder out; it is not reported
/// as a store outage.
#[tokio::test]
async fn an_unreadable_session_record_signs_out_instead_of_failing() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let sid = "U".repeat(43);
    let key = format!("{}session:{}", ws.prefix, gatehouse::crypto::token_digest(&sid));
    redis::shared().cmd(&["SET", &key, r#"{"shape":"from another release"}"#, "EX", "600"]);
    assert_eq!(verify(&app, Some(&sid)).await.status(), 401);
    assert!(
        redis::shared().cmd(&["EXISTS", &key]).starts_with(":0"),
        "the record is removed"
    );
}

/// A re-authentication that finishes after every session of the account was
/// ended (an admin, "sign out everywhere") does not bring its session back,
/// and one that follows a role change keeps the new roles.
#[tokio::test]
async fn a_reauthentication_never_writes_over_an_ended_or_changed_session() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("racing.reauth").await;
    let sid = signed_in(&app, "racing.reauth").await;
    let id = gatehouse::session::SessionId::parse(&sid).unwrap();
    let sessions = &app.state.provider.sessions;
    let (handle, before) = sessions.get(&id).await.unwrap().unwrap();

    // Roles change while the user types their password; the re-authentication
    // lands after and keeps them.
    sessions
        .set_roles(account.id.as_str(), &["billing".to_string()], &[])
        .await
        .unwrap();
    app.clock.advance(60);
    assert!(
        sessions
            .reauthenticated(&handle, app.clock.now_for_test())
            .await
            .unwrap()
    );
    let (_, after) = sessions.get(&id).await.unwrap().unwrap();
    assert_eq!(after.roles, ["billing"]);
    assert_eq!(after.auth_time, before.auth_time + 60);

    // Every session ended; a re-authentication finishing afterwards is told
    // so, and writes nothing.
    sessions.delete_all_for_account(account.id.as_str()).await.unwrap();
    assert!(
        !sessions
            .reauthenticated(&handle, app.clock.now_for_test())
            .await
            .unwrap()
    );
    assert_eq!(verify(&app, Some(&sid)).await.status(), 401);
    let key = format!("{}session:{}", ws.prefix, handle.0);
    assert!(redis::shared().cmd(&["EXISTS", &key]).starts_with(":0"));
}

/// Index rows are kept past their session (for its portal tokens) and
/// dropped once past retention: the absolute lifetime plus the code,
/// refresh and access lifetimes (12 h + 60 s + 12 h + 10 min by default).
#[tokio::test]
async fn index_rows_outlive_their_session_then_age_out() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("long.gone").await;
    let first = signed_in(&app, "long.gone").await;
    let rows = || async { app.state.sql.indexed_sessions(account.id.as_str(), 0).await.unwrap() };
    // Past the absolute lifetime the session is over, its row is not.
    app.clock.advance(13 * 3600);
    assert_eq!(verify(&app, Some(&first)).await.status(), 401);
    signed_in(&app, "long.gone").await;
    assert_eq!(rows().await.len(), 2);
    // Past retention, the next login drops it.
    app.clock.advance(12 * 3600);
    signed_in(&app, "long.gone").await;
    let left = rows().await;
    assert_eq!(left.len(), 2, "the first row is gone: {left:?}");
    assert!(!left.contains(&gatehouse::crypto::token_digest(&first)));
}
