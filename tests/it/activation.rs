//! Activation against imported identity records, through the real pages.

use gatehouse::accounts::records::RecordKind;

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::sinks::{SmtpSink, code_in};
use crate::support::{authorize_url, pkce};

fn extra(smtp: &SmtpSink) -> String {
    format!(
        r#"
[[org]]
id = "eastside-group"
name = "Eastside Group"
tins = ["98-7654321"]

[email]
smtp_host = "127.0.0.1"
smtp_port = {}
tls = "none"
from = "Sign-in <no-reply@gatehouse.test>"
"#,
        smtp.port
    )
}

const MEMBERS: &str = "member_id,date_of_birth,name,email,phone\n\
    W123-456,1984-07-12,Maria Lopez,maria@example.org,\n\
    W999000,1970-01-30,Tom Ng,tom@example.org,\n";
const PROVIDERS: &str = "npi,tin,name,email,phone\n1234567893,987654321,Dr. Ada Park,ada@eastside.example,\n";
const NEW: &str = "my-own-new-passphrase-5";

async fn member_attempt(b: &Browser, app: &TestApp, member_id: &str, dob: &str) -> Page {
    let form = b.get(&app.url("/activate")).await;
    b.post(
        &app.url("/activate/member"),
        &[
            ("csrf", &form.field("csrf")),
            ("member_id", member_id),
            ("date_of_birth", dob),
        ],
    )
    .await
}

async fn choose(b: &Browser, app: &TestApp, form: &Page, username: &str, password: &str) -> Page {
    b.post(
        &app.url("/activate/account"),
        &[
            ("a", &form.field("a")),
            ("csrf", &form.field("csrf")),
            ("username", username),
            ("new_password", password),
            ("confirm_password", password),
        ],
    )
    .await
}

#[tokio::test]
async fn members_and_providers_activate_only_with_matching_identity_data() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&smtp)).await;
    let accounts = &app.state.provider.accounts;
    assert_eq!(accounts.import_records(RecordKind::Member, MEMBERS).await.unwrap().0, 2);
    assert_eq!(
        accounts
            .import_records(RecordKind::Provider, PROVIDERS)
            .await
            .unwrap()
            .0,
        1
    );
    app.provider_account("taken.name").await;
    let b = Browser::new();

    // Wrong date of birth and unknown member id: the same answer.
    let wrong = member_attempt(&b, &app, "W123456", "1984-07-13").await;
    let unknown = member_attempt(&b, &app, "Z000000", "1984-07-12").await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(wrong.error_code().as_deref(), Some("activation_mismatch"));
    assert!(wrong.body.contains("member ID card"), "{}", wrong.body);
    // Same page but for the reference and the time beside it.
    let normalized = |p: &Page| {
        let body = p.body.replace(&p.reference().unwrap(), "REF");
        match (body.find("<time>"), body.find("</time>")) {
            (Some(a), Some(b)) => format!("{}{}", &body[..a], &body[b..]),
            _ => body,
        }
    };
    assert!(wrong.body.contains("<time>"), "failure pages show the time");
    assert_eq!(normalized(&wrong), normalized(&unknown));
    let ev = &app.events(&wrong.reference().unwrap()).await[0];
    assert!(ev.detail.contains("\"identifier_known\":true"), "{}", ev.detail);
    let ev = &app.events(&unknown.reference().unwrap()).await[0];
    assert!(ev.detail.contains("\"identifier_known\":false"), "{}", ev.detail);

    // Without the CSRF token nothing is checked.
    let forged = b
        .post(
            &app.url("/activate/member"),
            &[("member_id", "W123456"), ("date_of_birth", "1984-07-12")],
        )
        .await;
    assert_eq!(forged.error_code().as_deref(), Some("csrf_invalid"));

    // The right data (typed with a dash) leads to choosing credentials.
    let ok = member_attempt(&b, &app, "w123-456", "1984-07-12").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.location().starts_with("/activate/account?a="), "{}", ok.location());
    let form = b.get(&app.url(&ok.location())).await;
    assert!(form.body.contains("Welcome, Maria Lopez"), "{}", form.body);
    // Another browser cannot use the link.
    let other = Browser::new().get(&app.url(&ok.location())).await;
    assert_eq!(other.error_code().as_deref(), Some("activation_expired"));

    let weak = choose(&b, &app, &form, "maria.lopez", "password").await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.contains("at least 12 characters"), "{}", weak.body);
    let taken = choose(&b, &app, &form, "taken.name", NEW).await;
    assert!(taken.body.contains("is taken"), "{}", taken.body);
    let done = choose(&b, &app, &form, "maria.lopez", NEW).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("maria.lopez"));
    let replay = choose(&b, &app, &form, "maria.again", NEW).await;
    assert_eq!(replay.error_code().as_deref(), Some("activation_expired"));

    // The new member signs in to the member portal.
    let (_, challenge) = pkce();
    let url = authorize_url(&app, MEMBER_PORTAL, MEMBER_CALLBACK, &challenge, &[]);
    let signed_in = b.login(&app, &url, "maria.lopez", NEW).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(signed_in.location().starts_with(MEMBER_CALLBACK));
    let maria = accounts.find("maria.lopez").await.unwrap().unwrap();
    assert_eq!(maria.email, "maria@example.org");

    // The same person cannot activate twice.
    let twice = member_attempt(&b, &app, "W123456", "1984-07-12").await;
    assert_eq!(
        (twice.status, twice.error_code().as_deref()),
        (409, Some("already_activated"))
    );

    // Guessing a birth date is bounded per member id: after five wrong
    // tries even the right date is refused for now.
    for day in 1..=5 {
        let r = member_attempt(&b, &app, "W999000", &format!("1970-01-0{day}")).await;
        assert_eq!(r.error_code().as_deref(), Some("activation_mismatch"));
    }
    let blocked = member_attempt(&b, &app, "W999000", "1970-01-30").await;
    assert_eq!(
        (blocked.status, blocked.error_code().as_deref()),
        (429, Some("activation_rate_limited"))
    );
    assert!(blocked.body.contains("Try again after"), "{}", blocked.body);

    // A provider: NPI + TIN, then the code sent to the email on file.
    let start = b.get(&app.url("/activate")).await;
    let code_page = b
        .post(
            &app.url("/activate/provider"),
            &[
                ("csrf", &start.field("csrf")),
                ("npi", "1234567893"),
                ("tin", "98-7654321"),
            ],
        )
        .await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], serde_json::json!(["ada@eastside.example"]));
    let code = code_in(mail["body"].as_str().unwrap());
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let post_code = |c: String| {
        let a = code_page.field("a");
        let csrf = code_page.field("csrf");
        let b = &b;
        let app = &app;
        async move {
            b.post(
                &app.url("/activate/verify"),
                &[("a", &a), ("csrf", &csrf), ("code", &c)],
            )
            .await
        }
    };
    let bad = post_code(wrong_code.to_string()).await;
    assert_eq!(bad.error_code().as_deref(), Some("activation_code_invalid"));
    // Credentials cannot be chosen before the code.
    let early = b
        .get(&app.url(&format!("/activate/account?a={}", code_page.field("a"))))
        .await;
    assert_eq!(early.status, 303);
    let good = post_code(code).await;
    assert_eq!(good.status, 303, "{}", good.body);
    let form = b.get(&app.url(&good.location())).await;
    let done = choose(&b, &app, &form, "dr.park", NEW).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let ada = accounts.find("dr.park").await.unwrap().unwrap();
    assert_eq!(ada.org(), Some("eastside-group"), "the TIN names the organization");
    assert_eq!(ada.account_type, gatehouse::config::AccountType::Provider);
}

#[tokio::test]
async fn an_invitation_link_creates_one_account_with_the_invited_roles() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let accounts = &app.state.provider.accounts;
    let invite = |email: &str| gatehouse::accounts::Invitation {
        email: email.into(),
        account_type: gatehouse::config::AccountType::Provider,
        org: Some("northside-clinic".into()),
        roles: vec!["billing".into()],
        tin: None,
        invited_by: "ann.manager".into(),
        valid_for: std::time::Duration::from_secs(7 * 86_400),
    };
    let token = accounts
        .invite(&invite("new.hire@northside.example"), &app.state.provider.cfg.orgs)
        .await
        .unwrap();
    let b = Browser::new();

    let opened = b.get(&app.url(&format!("/activate/invite?t={token}"))).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert!(opened.location().starts_with("/activate/account?a="));
    let form = b.get(&app.url(&opened.location())).await;
    assert!(form.body.contains("new.hire@northside.example"), "{}", form.body);
    let done = choose(&b, &app, &form, "new.hire", NEW).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let hire = accounts.find("new.hire").await.unwrap().unwrap();
    assert_eq!(hire.org(), Some("northside-clinic"));
    assert_eq!(hire.email, "new.hire@northside.example");
    assert_eq!(hire.roles(), vec!["billing".to_string()]);

    // Once only; a mangled link and an old one are refused with what to do.
    let again = b.get(&app.url(&format!("/activate/invite?t={token}"))).await;
    assert_eq!(again.error_code().as_deref(), Some("already_activated"));
    let mangled = b.get(&app.url(&format!("/activate/invite?t={}", &token[..20]))).await;
    assert_eq!(mangled.error_code().as_deref(), Some("activation_expired"));
    let old = accounts
        .invite(&invite("late@northside.example"), &app.state.provider.cfg.orgs)
        .await
        .unwrap();
    app.clock.advance(8 * 86_400);
    let late = b.get(&app.url(&format!("/activate/invite?t={old}"))).await;
    assert_eq!(late.error_code().as_deref(), Some("activation_expired"));
    assert!(late.body.contains("send a new invitation"), "{}", late.body);
}

#[tokio::test]
async fn an_access_manager_invites_by_email_into_their_own_organization() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&smtp)).await;
    app.create_account(
        "ann.manager",
        gatehouse::config::AccountType::Provider,
        Some("northside-clinic"),
        &["access_manager"],
    )
    .await;
    let m = Browser::new();
    let (_, challenge) = pkce();
    let url = authorize_url(&app, PORTAL, PORTAL_CALLBACK, &challenge, &[]);
    assert_eq!(m.login(&app, &url, "ann.manager", PASSWORD).await.status, 303);
    let people = m.get(&app.url("/account/people")).await;
    let csrf = people.field("csrf");

    let bad_role = m
        .post(
            &app.url("/account/people/invite"),
            &[("csrf", &csrf), ("email", "x@northside.example"), ("role", "superuser")],
        )
        .await;
    assert_eq!(bad_role.error_code().as_deref(), Some("invalid_request"));
    let sent = m
        .post(
            &app.url("/account/people/invite"),
            &[
                ("csrf", &csrf),
                ("email", "billing.clerk@northside.example"),
                ("role", "billing"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("Invitation sent to billing.clerk@northside.example"));

    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], serde_json::json!(["billing.clerk@northside.example"]));
    let body = mail["body"].as_str().unwrap();
    let path = &body[body.find("/activate/invite?t=").unwrap()..];
    let path = path.split_whitespace().next().unwrap();
    let clerk = Browser::new();
    let opened = clerk.get(&app.url(path)).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let form = clerk.get(&app.url(&opened.location())).await;
    assert_eq!(choose(&clerk, &app, &form, "billing.clerk", NEW).await.status, 200);
    let account = app
        .state
        .provider
        .accounts
        .find("billing.clerk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.org(), Some("northside-clinic"));
    assert_eq!(account.roles(), vec!["billing".to_string()]);
}
