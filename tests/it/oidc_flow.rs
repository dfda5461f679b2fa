//! The authorization code flow end to end, validated by the `openidconnect`
//! crate acting as the portal.

use gatehouse::config::AccountType;
use openidconnect::core::CoreJwsSigningAlgorithm;

use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::rp::Rp;
use crate::support::{authorize_url, pkce};

#[tokio::test]
async fn full_login_code_flow_is_validated_by_the_client_library() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let account = app.provider_account("dr.jones").await;
    let browser = Browser::new();

    let login = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK)
        .login(&app, &browser, "Dr.Jones", PASSWORD)
        .await;
    let c = &login.claims;
    assert_eq!(c["sub"], account.id.as_str());
    assert_eq!(c["iss"], app.base.as_str());
    assert_eq!(c["aud"], PORTAL);
    assert_eq!(c["account_type"], "provider");
    assert_eq!(c["org"], "northside-clinic");
    assert_eq!(c["roles"], serde_json::json!(["billing", "clinician"]));
    assert_eq!(c["amr"], serde_json::json!(["pwd"]));
    assert!(c["acr"].is_string());
    assert!(c["auth_time"].as_i64().unwrap() <= c["iat"].as_i64().unwrap());

    // userinfo answers for the access token, with the same identity.
    let r = browser
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: serde_json::Value = r.json().await.unwrap();
    assert_eq!(info["sub"], account.id.as_str());
    assert_eq!(info["email"], "dr.jones@northside.example");
    assert_eq!(info["roles"], serde_json::json!(["billing", "clinician"]));

    // The success is in the audit trail.
    let events = app.recent_events().await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "login_success" && e.account_id.as_deref() == Some(account.id.as_str()))
    );
}

#[tokio::test]
async fn rs256_portals_get_rs256_tokens_and_public_clients_use_pkce_only() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("rsa.user").await;

    let mut rp = Rp::confidential(RSA_PORTAL, "rsa-portal-secret-0123456789", RSA_CALLBACK);
    rp.alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    let login = rp.login(&app, &Browser::new(), "rsa.user", PASSWORD).await;
    let header = login.id_token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&gatehouse::crypto::b64url_decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");

    let public = Rp::public(PUBLIC_PORTAL, PUBLIC_CALLBACK)
        .login(&app, &Browser::new(), "rsa.user", PASSWORD)
        .await;
    assert_eq!(public.claims["aud"], PUBLIC_PORTAL);
}

#[tokio::test]
async fn an_existing_session_answers_the_second_authorization_without_a_password() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.create_account("both.types", AccountType::Provider, Some("northside-clinic"), &[])
        .await;
    let browser = Browser::new();
    let first = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK)
        .login(&app, &browser, "both.types", PASSWORD)
        .await;

    // Same browser, another portal that accepts the account type: straight
    // back with a code, no login page.
    let (_, challenge) = pkce();
    let r = browser
        .get(&authorize_url(&app, PUBLIC_PORTAL, PUBLIC_CALLBACK, &challenge, &[]))
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with(PUBLIC_CALLBACK), "{}", r.location());
    assert!(r.location_param("code").is_some());

    // prompt=login forces the password again.
    let r = browser
        .get(&authorize_url(
            &app,
            PUBLIC_PORTAL,
            PUBLIC_CALLBACK,
            &challenge,
            &[("prompt", "login")],
        ))
        .await;
    assert!(r.location().starts_with("/login?tx="));

    // max_age: once the authentication is older than max_age, log in again.
    app.clock.advance(120);
    let r = browser
        .get(&authorize_url(
            &app,
            PUBLIC_PORTAL,
            PUBLIC_CALLBACK,
            &challenge,
            &[("max_age", "60")],
        ))
        .await;
    assert!(r.location().starts_with("/login?tx="));
    let r = browser
        .get(&authorize_url(
            &app,
            PUBLIC_PORTAL,
            PUBLIC_CALLBACK,
            &challenge,
            &[("max_age", "3600")],
        ))
        .await;
    assert!(r.location().starts_with(PUBLIC_CALLBACK));

    // A portal that does not accept this account type does not get the
    // session silently; with prompt=none it gets login_required.
    let r = browser
        .get(&authorize_url(
            &app,
            MEMBER_PORTAL,
            MEMBER_CALLBACK,
            &challenge,
            &[("prompt", "none")],
        ))
        .await;
    assert!(r.location().starts_with(MEMBER_CALLBACK));
    assert_eq!(r.location_param("error").as_deref(), Some("login_required"));
    assert_eq!(r.location_param("state").as_deref(), Some("st-123"));

    // A browser without a session and prompt=none: login_required.
    let r = Browser::new()
        .get(&authorize_url(
            &app,
            PORTAL,
            PORTAL_CALLBACK,
            &challenge,
            &[("prompt", "none")],
        ))
        .await;
    assert_eq!(r.location_param("error").as_deref(), Some("login_required"));

    // The SSO code carries the original authentication time.
    assert!(first.claims["auth_time"].is_i64());
}

#[tokio::test]
async fn a_member_account_at_the_provider_portal_is_sent_to_the_member_portal() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let member = app.create_account("member.mary", AccountType::Member, None, &[]).await;
    let (_, challenge) = pkce();
    let browser = Browser::new();
    let r = browser
        .login(
            &app,
            &authorize_url(&app, PORTAL, PORTAL_CALLBACK, &challenge, &[]),
            "member.mary",
            PASSWORD,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code().as_deref(), Some("wrong_portal"));
    assert!(
        r.body
            .replace("&#x2f;", "/")
            .contains("href=\"http://127.0.0.1:9/member/\""),
        "links the right portal: {}",
        r.body
    );
    let events = app.events(&r.reference().unwrap()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].account_id.as_deref(), Some(member.id.as_str()));
    assert!(
        events[0].detail.contains("\"portal_accepts\":\"provider\""),
        "{}",
        events[0].detail
    );
    // No session was created for the wrong portal.
    assert!(browser.cookie(&app, "gatehouse_session").is_none());
}

#[tokio::test]
async fn discovery_and_jwks_describe_exactly_what_is_supported() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let b = Browser::new();
    let d = b.get(&app.url("/.well-known/openid-configuration")).await.json();
    assert_eq!(d["issuer"], app.base.as_str());
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["jwks_uri"], app.url("/oauth2/jwks"));
    let jwks = b.get(&app.url("/oauth2/jwks")).await.json();
    let keys = jwks["keys"].as_array().unwrap();
    // ES256 by default, RS256 because one portal asked for it.
    assert!(keys.iter().any(|k| k["alg"] == "ES256" && k["crv"] == "P-256"));
    assert!(keys.iter().any(|k| k["alg"] == "RS256" && k["kty"] == "RSA"));
    assert!(keys.iter().all(|k| k.get("d").is_none()), "no private parts published");
}
