//! SAML 2.0 federation end to end: portal → gateway → pysaml2 IdP
//! (HTTP-Redirect AuthnRequest, HTTP-POST Response) → gateway → portal; the
//! login-CSRF guard; replay; metadata rotation without restart.

use std::sync::{Arc, Mutex};

use base64::Engine;
use gatehouse::federation::saml::sp::SpIdentity;
use serde_json::{Value, json};

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::rp::Rp;
use crate::support::saml_idp::SamlIdp;
use crate::support::{authorize_url, pkce};

pub(crate) const ORG: &str = "riverside-clinic";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

fn org_toml(metadata_url: &str, extra_conn: &str) -> String {
    org_toml_with(metadata_url, "", extra_conn)
}

/// The Riverside organization; `extra_org` lands among the org's own keys.
fn org_toml_with(metadata_url: &str, extra_org: &str, extra_conn: &str) -> String {
    format!(
        r#"
[[org]]
id = "{ORG}"
name = "Riverside Clinic"
email_domains = ["riverside.example"]
jit_provisioning = true
default_roles = ["clinician"]
mfa = "portal"
{extra_org}
[org.connection]
kind = "saml"
idp_metadata_url = "{metadata_url}"
nameid_format = "{EMAIL_FORMAT}"
required_attributes = ["mail"]
{extra_conn}
[org.connection.attributes]
email = "mail"
name = "displayName"
roles = "eduPersonAffiliation"
"#
    )
}

pub(crate) struct Saml {
    pub(crate) app: TestApp,
    pub(crate) idp: SamlIdp,
    pub(crate) ws: Workspace,
}

/// The gateway's SP key is made first (in the workspace's key folder) so
/// its metadata can be handed to the IdP before either starts.
async fn setup(users: Value, sign: &str) -> Saml {
    setup_with(users, sign, false).await
}

async fn setup_with(users: Value, sign: &str, encrypt: bool) -> Saml {
    setup_custom(users, sign, encrypt, "", "").await
}

/// A pysaml2 IdP for Riverside; `extra_org` adds keys to the org,
/// `extra_toml` whole sections after it.
pub(crate) async fn setup_custom(users: Value, sign: &str, encrypt: bool, extra_org: &str, extra_toml: &str) -> Saml {
    let ws = Workspace::new();
    let bound = TestApp::bind().await;
    let base = format!("http://127.0.0.1:{}", bound.port);
    let sp = SpIdentity::load_or_generate(&ws.dir.path().join("certs"), &base).unwrap();
    let sp_md = ws.dir.path().join("sp-metadata.xml");
    std::fs::write(
        &sp_md,
        sp.metadata(
            &format!("{base}/sso/saml/{ORG}/metadata"),
            &format!("{base}/sso/saml/{ORG}/acs"),
            EMAIL_FORMAT,
            false,
            false,
        ),
    )
    .unwrap();
    let idp = SamlIdp::start(&sp_md, &users, sign, encrypt);
    let toml = format!("{}\n{extra_toml}", org_toml_with(&idp.metadata_url(), extra_org, ""));
    let app = TestApp::start(&ws, bound, &toml).await;
    Saml { app, idp, ws }
}

fn users() -> Value {
    json!({ "carol@riverside.example": { "name": "Carol Diaz", "groups": ["billing"] } })
}

/// Follows the browser to the IdP's auto-POST form and returns it.
pub(crate) async fn to_idp_form(app: &TestApp, browser: &Browser, authorize: &str, email: &str) -> Page {
    let page = browser.login_federated(app, authorize, email, "http://never/").await;
    assert_eq!(page.status, 200, "expected the IdP's POST form: {}", page.body);
    assert!(page.body.contains("SAMLResponse"), "{}", page.body);
    page
}

fn form_action(page: &Page) -> String {
    let start = page.body.find("action=\"").unwrap() + 8;
    page.body[start..].split('"').next().unwrap().replace("&amp;", "&")
}

/// Submits the IdP's form (as the browser's script would) and follows the
/// gateway's redirects back towards `stop`.
pub(crate) async fn post_form(app: &TestApp, browser: &Browser, form: &Page, stop: &str) -> Page {
    let r = browser
        .post(
            &form_action(form),
            &[
                ("SAMLResponse", &form.field("SAMLResponse")),
                ("RelayState", &form.field("RelayState")),
            ],
        )
        .await;
    browser.follow(r, &app.base, stop).await
}

async fn detail_of(app: &TestApp, page: &Page) -> Value {
    let events = app
        .events(
            &page
                .reference()
                .unwrap_or_else(|| panic!("no reference: {}", page.body)),
        )
        .await;
    serde_json::from_str(&events[0].detail).unwrap()
}

#[tokio::test]
async fn a_saml_login_through_pysaml2_reaches_the_portal_with_mapped_claims() {
    let s = setup(users(), "response").await;
    let browser = Browser::new();
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let pending = rp.begin(&s.app).await;
    let form = to_idp_form(&s.app, &browser, &pending.url, "carol@riverside.example").await;
    let done = post_form(&s.app, &browser, &form, PORTAL_CALLBACK).await;
    let login = rp.finish(&s.app, pending, done).await;
    let c = &login.claims;
    assert_eq!(c["org"], ORG);
    assert_eq!(c["email"], "carol@riverside.example");
    assert_eq!(c["account_type"], "provider");
    assert_eq!(c["roles"], json!(["billing", "clinician"]));
    assert_eq!(c["amr"], json!(["fed", "pwd"]));

    // The same response posted again is a replay.
    let again = browser
        .post(
            &form_action(&form),
            &[
                ("SAMLResponse", &form.field("SAMLResponse")),
                ("RelayState", &form.field("RelayState")),
            ],
        )
        .await;
    assert_eq!(again.error_code().as_deref(), Some("sso_replay"), "{}", again.body);
    let d = detail_of(&s.app, &again).await;
    assert_eq!(d["expected"], "an assertion ID not seen before");
    assert!(
        !d["actual"].as_str().unwrap().is_empty(),
        "names the replayed assertion ID: {d}"
    );

    // A second portal gets SSO without another trip to the IdP.
    let r = browser
        .get(&authorize_url(&s.app, PUBLIC_PORTAL, PUBLIC_CALLBACK, &pkce().1, &[]))
        .await;
    assert!(r.location().starts_with(PUBLIC_CALLBACK), "{}", r.location());

    // The SP metadata the IdP admin needs.
    let md = browser.get(&s.app.url(&format!("/sso/saml/{ORG}/metadata"))).await;
    assert_eq!(md.status, 200);
    assert!(
        md.body
            .contains(&format!("entityID=\"{}/sso/saml/{ORG}/metadata\"", s.app.base))
    );
    assert!(
        md.body
            .contains(&format!("Location=\"{}/sso/saml/{ORG}/acs\"", s.app.base))
    );
}

#[tokio::test]
async fn assertion_only_signatures_from_pysaml2_are_accepted() {
    let s = setup(users(), "assertion").await;
    let browser = Browser::new();
    let (_, challenge) = pkce();
    let form = to_idp_form(
        &s.app,
        &browser,
        &authorize_url(&s.app, PORTAL, PORTAL_CALLBACK, &challenge, &[]),
        "carol@riverside.example",
    )
    .await;
    let done = post_form(&s.app, &browser, &form, PORTAL_CALLBACK).await;
    assert!(done.location().starts_with(PORTAL_CALLBACK), "{}", done.body);
}

#[tokio::test]
async fn encrypted_assertions_from_pysaml2_are_decrypted_with_the_sp_key() {
    let s = setup_with(users(), "response", true).await;
    let browser = Browser::new();
    let form = to_idp_form(
        &s.app,
        &browser,
        &authorize_url(&s.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
        "carol@riverside.example",
    )
    .await;
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(form.field("SAMLResponse"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        xml.contains("EncryptedAssertion") && !xml.contains("carol@riverside.example"),
        "the IdP really encrypted it"
    );
    let done = post_form(&s.app, &browser, &form, PORTAL_CALLBACK).await;
    assert!(done.location().starts_with(PORTAL_CALLBACK), "{}", done.body);
}

#[tokio::test]
async fn a_missing_attribute_is_named_with_the_ones_that_arrived() {
    let s = setup(
        json!({ "dave@riverside.example": { "name": "Dave", "omit_mail": true } }),
        "response",
    )
    .await;
    let browser = Browser::new();
    let form = to_idp_form(
        &s.app,
        &browser,
        &authorize_url(&s.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
        "dave@riverside.example",
    )
    .await;
    let page = post_form(&s.app, &browser, &form, PORTAL_CALLBACK).await;
    assert_eq!(
        page.error_code().as_deref(),
        Some("sso_attribute_missing"),
        "{}",
        page.body
    );
    let d = detail_of(&s.app, &page).await;
    assert_eq!(d["expected"], "mail");
    assert!(d["actual"].to_string().contains("displayName"), "{d}");
}

#[tokio::test]
async fn a_response_posted_into_another_browser_does_not_log_it_in() {
    let s = setup(users(), "response").await;
    let attacker = Browser::new();
    let form = to_idp_form(
        &s.app,
        &attacker,
        &authorize_url(&s.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
        "carol@riverside.example",
    )
    .await;
    // The victim's browser (with its own gateway cookie) is made to submit
    // the attacker's response.
    let victim = Browser::new();
    victim
        .get(&authorize_url(&s.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]))
        .await;
    let page = post_form(&s.app, &victim, &form, PORTAL_CALLBACK).await;
    assert_eq!(
        page.error_code().as_deref(),
        Some("sso_state_mismatch"),
        "{}",
        page.body
    );
    assert!(
        detail_of(&s.app, &page).await["actual"]
            .as_str()
            .unwrap()
            .contains("different browser")
    );
    assert!(victim.cookie(&s.app, "gatehouse_session").is_none());
}

/// Metadata served over HTTP by the test, swappable.
pub(crate) async fn metadata_server(initial: String) -> (String, Arc<Mutex<String>>) {
    let content = Arc::new(Mutex::new(initial));
    let served = content.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().unwrap().clone() }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, content)
}

pub(crate) fn fixture(name: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/").to_string() + name).unwrap()
}

/// Metadata listing the given fixture certificates.
pub(crate) fn metadata_with(certs: &[&str]) -> String {
    let full = fixture("idp-metadata.xml");
    let keys: Vec<String> = certs
        .iter()
        .map(|c| {
            let pem = fixture(&format!("{c}.crt"));
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        })
        .collect();
    let start = full.find("<md:KeyDescriptor").unwrap();
    let end = full.rfind("</md:KeyDescriptor>").unwrap() + "</md:KeyDescriptor>".len();
    format!("{}{}{}", &full[..start], keys.join(""), &full[end..])
}

#[tokio::test]
async fn metadata_refresh_picks_up_a_rotated_certificate_without_restart() {
    let (url, content) = metadata_server(metadata_with(&["idp-signing"])).await;
    let ws = Workspace::new();
    let conn = concat!(
        "metadata_refresh = \"1s\"\n",
        "sp_entity_id = \"https://gatehouse.example/sso/saml/lakeside-health/metadata\"\n",
        "acs_url = \"https://gatehouse.example/sso/saml/lakeside-health/acs\"\n",
    );
    let app = TestApp::spawn_with(
        &ws,
        &org_toml(&url, conn).replace("required_attributes = [\"mail\"]", "required_attributes = [\"email\"]"),
    )
    .await;
    // Judge the corpus at its own instant.
    app.clock.set(
        humantime::parse_rfc3339("2026-06-01T12:00:30Z")
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let post = |name: &str| {
        let body = base64::engine::general_purpose::STANDARD.encode(fixture(&format!("{name}.xml")));
        let b = Browser::new();
        let url = app.url(&format!("/sso/saml/{ORG}/acs"));
        async move { b.post(&url, &[("SAMLResponse", &body)]).await }
    };

    // Before the rotation is published: the new key is a stranger.
    let page = post("valid_rotated_key").await;
    assert_eq!(page.error_code().as_deref(), Some("sso_cert_not_in_metadata"));
    let d = detail_of(&app, &page).await;
    assert!(d["actual"]["subject"].as_str().unwrap().contains("idp-rotated"), "{d}");
    assert!(
        d["expected"][0]["subject"].as_str().unwrap().contains("idp-signing"),
        "{d}"
    );

    // The IdP publishes both certificates; the scheduled refresh picks them
    // up (bounded wait). Past the certificate check, these fixtures stop at
    // InResponseTo (no sign-in was started here) — the signature passed.
    *content.lock().unwrap() = metadata_with(&["idp-signing", "idp-rotated"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let page = post("valid_rotated_key").await;
        if page.error_code().as_deref() == Some("sso_in_response_to_mismatch") {
            break;
        }
        assert_eq!(page.error_code().as_deref(), Some("sso_cert_not_in_metadata"));
        assert!(std::time::Instant::now() < deadline, "rotation never picked up");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let old = post("valid_response_signed").await;
    assert_eq!(
        old.error_code().as_deref(),
        Some("sso_in_response_to_mismatch"),
        "the old key is still accepted"
    );
}

#[tokio::test]
async fn an_unsigned_response_with_a_cbc_encrypted_assertion_is_refused_before_decryption() {
    // pysaml2 signs only the assertion, then encrypts it (3DES-CBC): the
    // ciphertext itself is unauthenticated, which would make the gateway a
    // decryption oracle. Refused without decrypting.
    let s = setup_with(users(), "assertion", true).await;
    let browser = Browser::new();
    let form = to_idp_form(
        &s.app,
        &browser,
        &authorize_url(&s.app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[]),
        "carol@riverside.example",
    )
    .await;
    let page = post_form(&s.app, &browser, &form, PORTAL_CALLBACK).await;
    assert_eq!(
        page.error_code().as_deref(),
        Some("sso_signature_invalid"),
        "{}",
        page.body
    );
    assert!(
        detail_of(&s.app, &page).await["actual"]
            .as_str()
            .unwrap()
            .contains("AES-GCM")
    );
}
