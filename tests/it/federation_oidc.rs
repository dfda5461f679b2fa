//! Federation with an organization's OpenID Connect IdP: the whole chain
//! portal → gateway → upstream OP → gateway → portal, through npm
//! `oidc-provider`; and one test per failure code, proving the code, the
//! user's page and the admin's expected-vs-actual detail.

use serde_json::{Value, json};

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::fake_op::{FakeOp, Fault};
use crate::support::op::{self, Op, OpOptions};
use crate::support::rp::Rp;
use crate::support::{authorize_url, pkce};

pub(crate) const ORG: &str = "lakeside-health";
pub(crate) const DOMAIN: &str = "lakeside.example";

pub(crate) struct Fed {
    pub(crate) app: TestApp,
    pub(crate) op: Op,
    pub(crate) ws: Workspace,
}

pub(crate) async fn setup(extra_org: &str, extra_conn: &str, clock_offset: i64) -> Fed {
    let ws = Workspace::new();
    let bound = TestApp::bind().await;
    let op = Op::start(&OpOptions {
        port: 0,
        clients: json!([op::client(bound.port, ORG)]),
        accounts: op::accounts(),
        clock_offset,
    });
    let app = TestApp::start(
        &ws,
        bound,
        &op::org_toml(ORG, DOMAIN, &op.issuer(), extra_org, extra_conn),
    )
    .await;
    Fed { app, op, ws }
}

fn portal_url(app: &TestApp) -> String {
    authorize_url(app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[])
}

/// The admin's detail of the event behind a failure page.
async fn detail_of(app: &TestApp, page: &Page) -> Value {
    let reference = page
        .reference()
        .unwrap_or_else(|| panic!("no reference on page: {}", page.body));
    let events = app.events(&reference).await;
    assert_eq!(events.len(), 1, "one event per reference");
    serde_json::from_str(&events[0].detail).unwrap()
}

fn assert_failure(page: &Page, code: &str) {
    assert_eq!(
        page.error_code().as_deref(),
        Some(code),
        "status {}: {}",
        page.status,
        page.body
    );
    assert!(
        page.body.contains(code) && page.body.contains(&page.reference().unwrap()),
        "code and reference shown"
    );
    assert!(page.headers.get("location").is_none());
}

#[tokio::test]
async fn federated_login_through_the_real_op_maps_claims_and_gives_sso_to_a_second_portal() {
    let f = setup("jit_provisioning = true\ndefault_roles = [\"clinician\"]", "", 0).await;
    let browser = Browser::new();
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let pending = rp.begin(&f.app).await;
    let done = browser
        .login_federated(&f.app, &pending.url, "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    let login = rp.finish(&f.app, pending, done).await;
    let c = &login.claims;
    assert_eq!(c["org"], ORG);
    assert_eq!(c["account_type"], "provider");
    assert_eq!(c["email"], "alice@lakeside.example");
    assert_eq!(c["amr"], json!(["fed", "pwd", "mfa"]), "upstream amr kept");
    // The gateway's own assurance: the IdP's MFA is not trusted by this
    // org's policy (`portal`), so one factor as far as the gateway knows.
    assert_eq!(c["acr"], "urn:gatehouse:loa:1");
    // Default role from the org, and the IdP's group.
    assert_eq!(c["roles"], json!(["billing", "clinician"]));
    let info: Value = reqwest::Client::new()
        .get(f.app.url("/oauth2/userinfo"))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["roles"],
        json!(["billing", "clinician"]),
        "userinfo agrees with the ID token"
    );
    let events = f.app.recent_events().await;
    let success = events.iter().find(|e| e.kind == "login_success").unwrap();
    assert!(
        success.detail.contains("\"provisioned\":true") && success.detail.contains("alice-001"),
        "{}",
        success.detail
    );

    // A second portal gets a code at once: no second trip to the IdP.
    let r = browser
        .get(&authorize_url(&f.app, PUBLIC_PORTAL, PUBLIC_CALLBACK, &pkce().1, &[]))
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with(PUBLIC_CALLBACK), "{}", r.location());

    // The same person again (new browser) is linked, not provisioned twice.
    let again = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let pending = again.begin(&f.app).await;
    let b2 = Browser::new();
    let done = b2
        .login_federated(&f.app, &pending.url, "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    let second = again.finish(&f.app, pending, done).await;
    assert_eq!(second.claims["sub"], login.claims["sub"]);

    // Deep links: `org=` or a login_hint in the org's domain go straight to
    // the IdP, without the identify page.
    for extra in [[("org", ORG)], [("login_hint", "someone@lakeside.example")]] {
        let r = Browser::new()
            .get(&authorize_url(&f.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &extra))
            .await;
        assert_eq!(r.status, 303);
        assert!(r.location().starts_with(&f.op.issuer()), "{}", r.location());
    }
    let r = Browser::new()
        .get(&authorize_url(
            &f.app,
            PORTAL,
            PORTAL_CALLBACK,
            &pkce().1,
            &[("org", "no-such-org")],
        ))
        .await;
    assert_eq!(r.location_param("error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn private_key_jwt_client_authentication_is_accepted_by_the_real_op() {
    let ws = Workspace::new();
    let bound = TestApp::bind().await;
    let port = bound.port;
    let op = Op::start(&OpOptions {
        port: 0,
        clients: json!([{
            "client_id": op::OP_CLIENT_ID,
            "redirect_uris": [format!("http://127.0.0.1:{port}/sso/oidc/{ORG}/callback")],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks_uri": format!("http://127.0.0.1:{port}/oauth2/jwks"),
        }]),
        accounts: op::accounts(),
        clock_offset: 0,
    });
    let app = TestApp::start(
        &ws,
        bound,
        &op::org_toml(
            ORG,
            DOMAIN,
            &op.issuer(),
            "jit_provisioning = true",
            "token_endpoint_auth = \"private_key_jwt\"",
        ),
    )
    .await;
    let r = Browser::new()
        .login_federated(&app, &portal_url(&app), "bob@lakeside.example", PORTAL_CALLBACK)
        .await;
    if r.status != 303 {
        panic!("private_key_jwt login failed: {}", detail_of(&app, &r).await);
    }
    assert!(r.location().starts_with(PORTAL_CALLBACK));
}

#[tokio::test]
async fn sso_unknown_user_when_provisioning_is_off() {
    let f = setup("jit_provisioning = false", "", 0).await;
    let page = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert_failure(&page, "sso_unknown_user");
    let d = detail_of(&f.app, &page).await;
    assert_eq!(d["actual"]["subject"], "alice-001");
    assert!(d["reason"].as_str().unwrap().contains("jit_provisioning is off"), "{d}");

    // An existing member of the org with that email is linked instead.
    f.app
        .create_account(
            "alice@lakeside.example",
            gatehouse::config::AccountType::Provider,
            Some(ORG),
            &["office_admin"],
        )
        .await;
    let ok = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert!(ok.location().starts_with(PORTAL_CALLBACK), "{}", ok.body);
}

#[tokio::test]
async fn sso_attribute_missing_names_the_claim() {
    let f = setup("jit_provisioning = true", "", 0).await;
    let page = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "noemail@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert_failure(&page, "sso_attribute_missing");
    let d = detail_of(&f.app, &page).await;
    assert_eq!(d["expected"], "email");
    assert!(d["actual"].as_array().unwrap().contains(&json!("sub")), "{d}");
}

#[tokio::test]
async fn sso_idp_error_carries_the_idps_own_words() {
    let f = setup("", "", 0).await;
    let page = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "ghost@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert_failure(&page, "sso_idp_error");
    let d = detail_of(&f.app, &page).await;
    assert_eq!(d["idp_error"], "access_denied");
    assert!(
        d["idp_error_description"]
            .as_str()
            .unwrap()
            .contains("no user ghost@lakeside.example"),
        "{d}"
    );
}

/// Follows the round trip until the IdP sends the browser back to the
/// gateway's callback, and returns that callback URL undelivered.
async fn callback_url(app: &TestApp, browser: &Browser, email: &str) -> String {
    let stop = app.url("/sso/oidc/");
    let r = browser.login_federated(app, &portal_url(app), email, &stop).await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.location()
}

#[tokio::test]
async fn sso_state_mismatch_says_why() {
    let f = setup("jit_provisioning = true", "", 0).await;
    let browser = Browser::new();
    let callback = callback_url(&f.app, &browser, "alice@lakeside.example").await;

    // Delivered to another browser (which has its own gateway cookie).
    let other = Browser::new();
    other.get(&portal_url(&f.app)).await;
    let page = other.get(&callback).await;
    assert_failure(&page, "sso_state_mismatch");
    assert!(
        detail_of(&f.app, &page).await["actual"]
            .as_str()
            .unwrap()
            .contains("different browser")
    );

    // The state is now spent: the rightful browser replaying it is told so.
    let page = browser.get(&callback).await;
    assert_failure(&page, "sso_state_mismatch");
    assert!(
        detail_of(&f.app, &page).await["actual"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    // A browser that lost the gateway's cookie on the way.
    let callback = callback_url(&f.app, &browser, "alice@lakeside.example").await;
    let cookieless = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = cookieless.get(&callback).send().await.unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("sso_state_mismatch"));
    let reference = body
        .split("data-reference=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let ev = &f.app.events(reference).await[0];
    assert!(ev.detail.contains("did not send the gateway's cookie"), "{}", ev.detail);

    // No state at all, or a made-up one.
    let page = browser
        .get(&f.app.url(&format!("/sso/oidc/{ORG}/callback?code=abc")))
        .await;
    assert!(
        detail_of(&f.app, &page).await["actual"]
            .as_str()
            .unwrap()
            .contains("no state")
    );
    let page = browser
        .get(&f.app.url(&format!("/sso/oidc/{ORG}/callback?code=abc&state=made-up")))
        .await;
    assert_failure(&page, "sso_state_mismatch");
    assert!(
        detail_of(&f.app, &page).await["actual"]
            .as_str()
            .unwrap()
            .contains("unknown or expired")
    );
}

#[tokio::test]
async fn sso_clock_skew_reports_the_measured_offset() {
    let f = setup("jit_provisioning = true", "", 0).await;
    let browser = Browser::new();
    let callback = callback_url(&f.app, &browser, "alice@lakeside.example").await;
    // The gateway's clock runs 10 minutes ahead of the IdP's.
    f.app.clock.advance(600);
    let page = browser.get(&callback).await;
    assert_failure(&page, "sso_clock_skew");
    let d = detail_of(&f.app, &page).await;
    let offset = d["offset_seconds"].as_i64().unwrap();
    assert!((-610..=-590).contains(&offset), "{d}");
    assert!(d["measured_from"].as_str().unwrap().contains("Date header"));
    assert!(d["fix"].as_str().unwrap().contains("behind"));
}

#[tokio::test]
async fn sso_assertion_expired_when_the_idp_issues_stale_tokens() {
    // The OP's token clock runs 30 minutes behind while its HTTP clock is
    // right: its 5-minute ID tokens arrive already expired.
    let f = setup("jit_provisioning = true", "", -1800).await;
    let page = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert_failure(&page, "sso_assertion_expired");
    let d = detail_of(&f.app, &page).await;
    let ago = d["expired_seconds_ago"].as_i64().unwrap();
    assert!((1400..=1600).contains(&ago), "{d}");
}

#[tokio::test]
async fn sso_idp_unreachable_names_the_endpoint() {
    let ws = Workspace::new();
    // Nothing listens on port 1.
    let app = TestApp::spawn_with(&ws, &op::org_toml(ORG, DOMAIN, "http://127.0.0.1:1", "", "")).await;
    let page = Browser::new()
        .login_federated(&app, &portal_url(&app), "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert_failure(&page, "sso_idp_unreachable");
    let d = detail_of(&app, &page).await;
    assert!(
        d["endpoint"].as_str().unwrap().starts_with("http://127.0.0.1:1/"),
        "{d}"
    );
}

#[tokio::test]
async fn the_ops_key_rotation_is_picked_up_without_a_restart() {
    let mut f = setup("jit_provisioning = true", "", 0).await;
    let first = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert!(first.location().starts_with(PORTAL_CALLBACK));
    let old_kid = f.op.kid.clone();
    let port = f.op.port;
    f.op.stop();
    // The IdP comes back with a new signing key (new kid) at the same address.
    let port_for_client = f.app.base.rsplit(':').next().unwrap().parse().unwrap();
    let op2 = Op::start(&OpOptions {
        port,
        clients: json!([op::client(port_for_client, ORG)]),
        accounts: op::accounts(),
        clock_offset: 0,
    });
    assert_ne!(op2.kid, old_kid);
    let second = Browser::new()
        .login_federated(&f.app, &portal_url(&f.app), "alice@lakeside.example", PORTAL_CALLBACK)
        .await;
    assert_eq!(second.status, 303, "{}", second.body);
    assert!(second.location().starts_with(PORTAL_CALLBACK));
}

/// Faults only a hand-made stand-in produces (a real OP signs correctly):
/// runs one federated login against the stand-in with `fault` set.
async fn stand_in(fault: Fault) -> (TestApp, FakeOp, Page, Workspace) {
    let fake = FakeOp::start(op::OP_CLIENT_ID).await;
    let ws = Workspace::new();
    let app = TestApp::spawn_with(
        &ws,
        &op::org_toml("fake-org", "fake.example", &fake.issuer, "jit_provisioning = true", ""),
    )
    .await;
    fake.set_fault(fault);
    let page = Browser::new()
        .login_federated(&app, &portal_url(&app), "eve@fake.example", PORTAL_CALLBACK)
        .await;
    (app, fake, page, ws)
}

#[tokio::test]
async fn stand_in_idp_honest_answer_is_accepted() {
    let (_app, _fake, page, _ws) = stand_in(Fault::None).await;
    assert!(page.location().starts_with(PORTAL_CALLBACK), "{}", page.body);
}

#[tokio::test]
async fn stand_in_idp_sso_issuer_mismatch() {
    let (app, fake, page, _ws) = stand_in(Fault::WrongIssuer).await;
    assert_failure(&page, "sso_issuer_mismatch");
    let d = detail_of(&app, &page).await;
    assert_eq!(d["expected"], fake.issuer.as_str());
    assert_eq!(d["actual"], "https://login.someone-else.example");
}

#[tokio::test]
async fn stand_in_idp_sso_audience_mismatch() {
    let (app, _fake, page, _ws) = stand_in(Fault::WrongAudience).await;
    assert_failure(&page, "sso_audience_mismatch");
    let d = detail_of(&app, &page).await;
    assert_eq!(
        (d["expected"].as_str(), d["actual"].as_str()),
        (Some(op::OP_CLIENT_ID), Some("another-application"))
    );
}

#[tokio::test]
async fn stand_in_idp_sso_nonce_mismatch() {
    let (app, _fake, page, _ws) = stand_in(Fault::WrongNonce).await;
    assert_failure(&page, "sso_nonce_mismatch");
    assert_eq!(detail_of(&app, &page).await["actual"], "a-nonce-from-another-login");
}

#[tokio::test]
async fn stand_in_idp_sso_key_unknown_after_one_refresh() {
    let (app, _fake, page, _ws) = stand_in(Fault::UnpublishedKey).await;
    assert_failure(&page, "sso_key_unknown");
    let d = detail_of(&app, &page).await;
    assert_eq!(d["actual"], "unpublished-key");
    assert_eq!(d["expected"], json!(["published-key"]));
}

#[tokio::test]
async fn stand_in_idp_sso_weak_algorithm_for_none_and_hs256() {
    for (fault, alg) in [(Fault::AlgNone, "none"), (Fault::Hs256, "HS256")] {
        let (app, _fake, page, _ws) = stand_in(fault).await;
        assert_failure(&page, "sso_weak_algorithm");
        assert_eq!(detail_of(&app, &page).await["actual"], alg);
    }
}

#[tokio::test]
async fn stand_in_idp_sso_signature_invalid_for_a_tampered_token() {
    let (app, _fake, page, _ws) = stand_in(Fault::TamperedPayload).await;
    assert_failure(&page, "sso_signature_invalid");
    assert_eq!(detail_of(&app, &page).await["kid"], "published-key");
}
