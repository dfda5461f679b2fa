//! "Forgot password?" end to end: a real SMTP sink receives the code; the
//! attacker's side covers enumeration, guessing, replay and throttling.

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::redis;
use crate::support::rp::Rp;
use crate::support::sinks::{SmtpSink, code_in};
use crate::support::{authorize_url, pkce};

fn email_extra(smtp: &SmtpSink) -> String {
    format!(
        r#"
[email]
smtp_host = "127.0.0.1"
smtp_port = {}
tls = "none"
from = "Sign-in <no-reply@gatehouse.test>"
"#,
        smtp.port
    )
}

fn portal_url(app: &TestApp) -> String {
    let (_, challenge) = pkce();
    authorize_url(app, PORTAL, PORTAL_CALLBACK, &challenge, &[("prompt", "login")])
}

/// Asks for a reset for `who` from the request page; returns the code page.
async fn ask(b: &Browser, app: &TestApp, request_page: &Page, who: &str) -> Page {
    let r = b
        .post(
            &app.url("/recover"),
            &[
                ("csrf", &request_page.field("csrf")),
                ("tx", &request_page.field("tx")),
                ("who", who),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/recover/reset?r="), "{}", r.location());
    let page = b.get(&app.url(&r.location())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

async fn submit(b: &Browser, app: &TestApp, code_page: &Page, code: &str, new: &str) -> Page {
    b.post(
        &app.url("/recover/reset"),
        &[
            ("r", &code_page.field("r")),
            ("csrf", &code_page.field("csrf")),
            ("code", code),
            ("new_password", new),
            ("confirm_password", new),
        ],
    )
    .await
}

const NEW: &str = "a-fresh-start-passphrase-9";

#[tokio::test]
async fn a_reset_by_email_code_unlocks_ends_every_session_and_reveals_no_accounts() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &email_extra(&smtp)).await;
    app.provider_account("forgetful").await;

    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    // An earlier sign-in whose session has idled out of Redis; its portal
    // still holds a refresh token. (The login below lists the account's
    // live sessions, which must not forget this one.)
    let idle = Browser::new();
    let idle_login = rp.login(&app, &idle, "forgetful", PASSWORD).await;
    let idle_sid = idle.cookie(&app, "gatehouse_session").unwrap();
    let idle_key = format!("{}session:{}", ws.prefix, gatehouse::crypto::token_digest(&idle_sid));
    assert!(redis::shared().cmd(&["DEL", &idle_key]).starts_with(":1"));

    // Elsewhere the account is signed in, with a portal refresh token.
    let elsewhere = Browser::new();
    let login = rp.login(&app, &elsewhere, "forgetful", PASSWORD).await;
    assert_eq!(elsewhere.get(&app.url("/account/security")).await.status, 200);

    // Someone guesses until the account locks.
    let b = Browser::new();
    for _ in 0..3 {
        b.login(&app, &portal_url(&app), "forgetful", "not the password").await;
    }
    let locked = b.login(&app, &portal_url(&app), "forgetful", PASSWORD).await;
    assert_eq!(locked.error_code().as_deref(), Some("account_locked"));

    // The password page links to recovery, carrying the login along.
    let identify = b.start(&app, &portal_url(&app)).await;
    let tx = identify.field("tx");
    let r = b
        .post(
            &app.url("/login/identify"),
            &[
                ("tx", &tx),
                ("csrf", &identify.field("csrf")),
                ("username", "forgetful"),
            ],
        )
        .await;
    let pw = b.get(&app.url(&r.location())).await;
    assert!(pw.body.contains(&format!("href=\"/recover?tx={tx}\"")), "{}", pw.body);
    let request = b.get(&app.url(&format!("/recover?tx={tx}"))).await;
    assert_eq!(request.status, 200);

    // Without the CSRF token nothing is sent.
    let forged = b.post(&app.url("/recover"), &[("who", "forgetful")]).await;
    assert_eq!(forged.error_code().as_deref(), Some("csrf_invalid"));

    // An unknown name and a real one get the same page; only the real one
    // gets a message.
    let ghost_page = ask(&b, &app, &request, "nobody.here").await;
    let real_page = ask(&b, &app, &request, "forgetful").await;
    assert_eq!(
        ghost_page.body.replace(&ghost_page.field("r"), "R"),
        real_page.body.replace(&real_page.field("r"), "R"),
        "the code page must not tell whether the account exists"
    );
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], serde_json::json!(["forgetful@northside.example"]));
    let code = code_in(mail["body"].as_str().unwrap());
    assert!(!mail["body"].as_str().unwrap().contains(PASSWORD));

    // A wrong code answers the same for both.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let ghost_wrong = submit(&b, &app, &ghost_page, wrong, NEW).await;
    let real_wrong = submit(&b, &app, &real_page, wrong, NEW).await;
    assert_eq!(
        (ghost_wrong.status, ghost_wrong.error_code()),
        (401, Some("recovery_code_invalid".to_string()))
    );
    assert_eq!(
        (real_wrong.status, real_wrong.error_code()),
        (ghost_wrong.status, ghost_wrong.error_code())
    );
    assert!(real_wrong.body.contains("4 tries left"), "{}", real_wrong.body);
    // The admin's events say which was which.
    let ev = &app.events(&ghost_wrong.reference().unwrap()).await[0];
    assert!(ev.detail.contains("\"matched_account\":false"), "{}", ev.detail);
    assert!(!ev.detail.contains(wrong), "codes are never logged");

    // The reset is bound to this browser.
    let thief = Browser::new();
    let stolen = thief
        .get(&app.url(&format!("/recover/reset?r={}", real_page.field("r"))))
        .await;
    assert_eq!(stolen.error_code().as_deref(), Some("recovery_expired"));

    // The right code with a weak password: problems listed, code still good.
    let weak = submit(&b, &app, &real_page, &code, "password").await;
    assert_eq!(weak.status, 400, "{}", weak.body);
    assert!(
        weak.body.contains("at least 12 characters") && weak.body.contains("commonly used"),
        "{}",
        weak.body
    );

    let done = submit(&b, &app, &real_page, &code, NEW).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains(&format!("href=\"/login?tx={tx}\"")), "{}", done.body);

    // Single use.
    let replay = submit(&b, &app, &real_page, &code, "yet-another-passphrase-1").await;
    assert_eq!(replay.error_code().as_deref(), Some("recovery_expired"));

    // Every session ended and the portal's refresh token is dead.
    assert_ne!(elsewhere.get(&app.url("/account/security")).await.status, 200);
    assert_eq!(
        rp.refresh(&app, &login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    // So is the one started under the session that had idled out.
    assert_eq!(
        rp.refresh(&app, &idle_login.refresh_token).await.unwrap_err(),
        "invalid_grant"
    );
    let events = app.recent_events().await;
    assert!(
        events.iter().any(|e| e.kind == "password_reset"
            && e.detail.contains("\"sessions_ended\":1")
            && e.detail.contains("\"token_families_revoked\":2")),
        "{events:?}"
    );

    // The lock is gone: the same login goes on with the new password; the
    // old one is refused.
    let back = b.get(&app.url(&format!("/login?tx={tx}"))).await;
    let ok = b.submit_credentials(&app, &back, "forgetful", NEW).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.location().starts_with(PORTAL_CALLBACK), "{}", ok.location());
    let old = b.login(&app, &portal_url(&app), "forgetful", PASSWORD).await;
    assert_eq!(old.error_code().as_deref(), Some("invalid_credentials"));
    assert_eq!(smtp.messages().len(), 1, "no message for the unknown name");
}

#[tokio::test]
async fn reset_codes_cannot_be_guessed_or_requested_without_limit() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &email_extra(&smtp)).await;
    app.provider_account("target.user").await;
    let b = Browser::new();
    let request = b.get(&app.url("/recover")).await;

    // Five wrong codes void the reset: the right one no longer works.
    let page = ask(&b, &app, &request, "target.user").await;
    let code = code_in(smtp.wait_for(1).await["body"].as_str().unwrap());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for n in 1..=4 {
        let r = submit(&b, &app, &page, wrong, NEW).await;
        assert_eq!(r.error_code().as_deref(), Some("recovery_code_invalid"), "try {n}");
    }
    let fifth = submit(&b, &app, &page, wrong, NEW).await;
    assert_eq!(fifth.error_code().as_deref(), Some("recovery_expired"));
    assert!(fifth.body.contains("Too many wrong codes"), "{}", fifth.body);
    let late = submit(&b, &app, &page, &code, NEW).await;
    assert_eq!(late.error_code().as_deref(), Some("recovery_expired"));

    // Codes expire.
    ask(&b, &app, &request, "target.user").await;
    let page = ask(&b, &app, &request, "Target.User").await;
    let code = code_in(smtp.wait_for(3).await["body"].as_str().unwrap());
    app.clock.advance(16 * 60);
    let expired = submit(&b, &app, &page, &code, NEW).await;
    assert_eq!(expired.error_code().as_deref(), Some("recovery_expired"));

    // Three requests per name per hour (case does not matter), whether or
    // not the name exists: the fourth is refused with a time to come back.
    let r = b
        .post(
            &app.url("/recover"),
            &[("csrf", &request.field("csrf")), ("who", "TARGET.user")],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.error_code().as_deref(), Some("recovery_rate_limited"));
    assert!(r.body.contains("UTC"), "{}", r.body);
    for _ in 0..3 {
        ask(&b, &app, &request, "ghost.user").await;
    }
    let ghost = b
        .post(
            &app.url("/recover"),
            &[("csrf", &request.field("csrf")), ("who", "ghost.user")],
        )
        .await;
    assert_eq!((ghost.status, ghost.error_code()), (r.status, r.error_code()));
    // And the password never changed.
    let ok = b.login(&app, &portal_url(&app), "target.user", PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
}

async fn account_with_email(app: &TestApp, username: &str, email: &str) {
    use gatehouse::accounts::{NewAccount, Password};
    app.state
        .provider
        .accounts
        .create(
            NewAccount {
                username: username.into(),
                email: email.into(),
                phone: None,
                account_type: gatehouse::config::AccountType::Provider,
                org: None,
                roles: Vec::new(),
                password: Password::new(PASSWORD),
            },
            &app.state.provider.cfg.orgs,
            "test",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn forgotten_usernames_go_to_the_address_on_file_and_email_resets_pick_one_account() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &email_extra(&smtp)).await;
    account_with_email(&app, "sam.front.desk", "shared@clinic.example").await;
    account_with_email(&app, "sam.billing", "shared@clinic.example").await;
    account_with_email(&app, "solo.user", "solo@clinic.example").await;
    let b = Browser::new();

    // Forgot username: the same page whether or not the address is known.
    let form = b.get(&app.url("/recover/username")).await;
    let ask_names = |email: &'static str| {
        let csrf = form.field("csrf");
        let b = &b;
        let app = &app;
        async move {
            b.post(&app.url("/recover/username"), &[("csrf", &csrf), ("email", email)])
                .await
        }
    };
    let unknown = ask_names("nobody@clinic.example").await;
    let known = ask_names("Shared@clinic.example").await;
    assert_eq!((unknown.status, known.status), (200, 200));
    assert_eq!(
        unknown.body.replace("nobody@clinic.example", "E"),
        known.body.replace("Shared@clinic.example", "E")
    );
    let mail = smtp.wait_for(1).await;
    let body = mail["body"].as_str().unwrap();
    assert!(
        body.contains("sam.front.desk") && body.contains("sam.billing"),
        "{body}"
    );
    assert!(!body.contains("solo.user"));
    let forged = b
        .post(&app.url("/recover/username"), &[("email", "shared@clinic.example")])
        .await;
    assert_eq!(forged.error_code().as_deref(), Some("csrf_invalid"));

    // A reset asked for by email: one account behind it gets a code...
    let request = b.get(&app.url("/recover")).await;
    let page = ask(&b, &app, &request, "SOLO@clinic.example").await;
    let mail = smtp.wait_for(2).await;
    assert_eq!(mail["to"], serde_json::json!(["solo@clinic.example"]));
    let code = code_in(mail["body"].as_str().unwrap());
    assert_eq!(submit(&b, &app, &page, &code, NEW).await.status, 200);
    let ok = b.login(&app, &portal_url(&app), "solo.user", NEW).await;
    assert_eq!(ok.status, 303, "{}", ok.body);

    // ...several get their usernames (the user picks), and no code.
    let page = ask(&b, &app, &request, "shared@clinic.example").await;
    let mail = smtp.wait_for(3).await;
    let body = mail["body"].as_str().unwrap();
    assert!(body.contains("sam.billing") && !body.contains("reset code"), "{body}");
    let guess = submit(&b, &app, &page, "123456", NEW).await;
    assert_eq!(guess.error_code().as_deref(), Some("recovery_code_invalid"));
    assert_eq!(smtp.messages().len(), 3);
}
