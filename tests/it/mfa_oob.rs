//! Codes by SMS (to an HTTP server speaking Twilio's Messages API) and by
//! email (to a real SMTP server): enrollment, login, cool-down, delivery
//! failure and time-out, and the assurance rule that keeps email codes out
//! of AAL2 portals.

use gatehouse::accounts::{NewAccount, Password};
use gatehouse::config::AccountType;

use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::sinks::{SmsMode, SmsSink, SmtpSink, code_in};
use crate::support::{authorize_url, pkce};

const LOW_PORTAL: &str = "scheduling-portal";
const LOW_CALLBACK: &str = "http://127.0.0.1:9/scheduling/callback";

fn extra(sms: &SmsSink, smtp: &SmtpSink) -> String {
    format!(
        r#"
[[portal]]
client_id = "{LOW_PORTAL}"
name = "Scheduling Portal"
redirect_uris = ["{LOW_CALLBACK}"]
account_types = ["provider"]
mfa = "required"
mfa_aal = 1

[mfa]
# Short, so a test can wait it out (bounded) instead of faking Redis time.
resend_cooldown = "1s"

[email]
smtp_host = "127.0.0.1"
smtp_port = {smtp}
tls = "none"
from = "Sign-in <no-reply@gatehouse.test>"

[sms]
provider = "twilio"
base_url = "{sms}"
account_sid = "AC0123456789"
auth_token = "sms-token-0123456789"
from = "+15550001111"
timeout = "1s"
"#,
        smtp = smtp.port,
        sms = sms.base_url
    )
}

async fn account_with_phone(app: &TestApp, username: &str) {
    app.state
        .provider
        .accounts
        .create(
            NewAccount {
                username: username.into(),
                email: format!("{username}@northside.example"),
                phone: Some("+15551234567".into()),
                account_type: AccountType::Provider,
                org: Some("northside-clinic".into()),
                roles: vec![],
                password: Password::new(PASSWORD),
            },
            &app.state.provider.cfg.orgs,
            "test",
        )
        .await
        .unwrap();
}

fn url(app: &TestApp, portal: &str, callback: &str) -> String {
    authorize_url(app, portal, callback, &pkce().1, &[("prompt", "login")])
}

async fn enrollment_page(app: &TestApp, b: &Browser, authorize: &str, user: &str) -> Page {
    let r = b.login(app, authorize, user, PASSWORD).await;
    assert!(r.location().starts_with("/mfa/enroll?tx="), "{}", r.location());
    b.get(&app.url(&r.location())).await
}

async fn post(app: &TestApp, b: &Browser, path: &str, page: &Page, more: &[(&str, &str)]) -> Page {
    let tx = page.field("tx");
    let csrf = page.field("csrf");
    let mut form = vec![("tx", tx.as_str()), ("csrf", csrf.as_str())];
    form.extend_from_slice(more);
    b.post(&app.url(path), &form).await
}

/// Asks for a code once the previous send's cool-down (1 s here) has
/// passed; bounded.
async fn send_when_allowed(app: &TestApp, b: &Browser, page: &Page, method_id: &str) -> Page {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sent = post(app, b, "/mfa/send", page, &[("method_id", method_id)]).await;
        if sent.error_code().as_deref() != Some("mfa_rate_limited") {
            return sent;
        }
        assert!(std::time::Instant::now() < deadline, "the cool-down never ended");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Backup codes page → done → the portal.
async fn finish(app: &TestApp, b: &Browser, codes_page: &Page, callback: &str) {
    assert_eq!(codes_page.status, 200, "{}", codes_page.body);
    assert!(codes_page.body.contains("<li><code>"));
    let done = post(app, b, "/mfa/done", codes_page, &[]).await;
    assert!(done.location().starts_with(callback), "{}", done.location());
}

#[tokio::test]
async fn sms_codes_enroll_and_log_in_with_a_resend_cool_down() {
    let sms = SmsSink::start().await;
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&sms, &smtp)).await;
    account_with_phone(&app, "sms.user").await;

    let b = Browser::new();
    let page = enrollment_page(&app, &b, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "sms.user").await;
    assert!(
        !page.body.contains("Email codes"),
        "email is not offered where AAL2 is required"
    );
    let sent = post(&app, &b, "/mfa/enroll/oob", &page, &[("kind", "sms")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("+1••••••4567"), "masked number shown: {}", sent.body);
    assert_eq!(sms.sent.lock().unwrap()[0].0, "+15551234567");
    let code = sms.last_code();
    let codes = post(&app, &b, "/mfa/enroll/oob/confirm", &sent, &[("code", &code)]).await;
    finish(&app, &b, &codes, SECURE_CALLBACK).await;

    // Next login: send a code by SMS and use it.
    let b2 = Browser::new();
    let r = b2
        .login(&app, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "sms.user", PASSWORD)
        .await;
    let page = b2.get(&app.url(&r.location())).await;
    let method_id = page.field("method_id");
    let sent = send_when_allowed(&app, &b2, &page, &method_id).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    // Asking again at once: the cool-down says when.
    let again = post(&app, &b2, "/mfa/send", &page, &[("method_id", &method_id)]).await;
    assert_eq!(again.error_code().as_deref(), Some("mfa_rate_limited"));
    assert!(again.body.contains("seconds"), "{}", again.body);
    // A code past its lifetime (5 minutes) is expired, not "wrong".
    let code = sms.last_code();
    app.clock.advance(6 * 60);
    let r = post(
        &app,
        &b2,
        "/mfa",
        &sent,
        &[("method", "sms"), ("method_id", &method_id), ("code", &code)],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_expired"), "{}", r.body);
    let sent = send_when_allowed(&app, &b2, &page, &method_id).await;
    // A wrong code counts; the right one works once.
    let code = sms.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = post(
        &app,
        &b2,
        "/mfa",
        &sent,
        &[("method", "sms"), ("method_id", &method_id), ("code", wrong)],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    let r = post(
        &app,
        &b2,
        "/mfa",
        &sent,
        &[("method", "sms"), ("method_id", &method_id), ("code", &code)],
    )
    .await;
    assert!(r.location().starts_with(SECURE_CALLBACK), "{}", r.body);
}

#[tokio::test]
async fn an_sms_provider_that_refuses_or_hangs_gives_mfa_delivery_failed() {
    let sms = SmsSink::start().await;
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&sms, &smtp)).await;
    account_with_phone(&app, "unlucky").await;
    let b = Browser::new();
    let page = enrollment_page(&app, &b, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "unlucky").await;

    sms.set_mode(SmsMode::Refuse);
    let r = post(&app, &b, "/mfa/enroll/oob", &page, &[("kind", "sms")]).await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_delivery_failed"), "{}", r.body);
    let ev = &app.events(&r.reference().unwrap()).await[0];
    assert!(
        ev.detail.contains("21211"),
        "the provider's answer is kept for the admin: {}",
        ev.detail
    );

    sms.set_mode(SmsMode::Hang);
    let page = enrollment_page(&app, &b, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "unlucky").await;
    let r = post(&app, &b, "/mfa/enroll/oob", &page, &[("kind", "sms")]).await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_delivery_failed"));
    let ev = &app.events(&r.reference().unwrap()).await[0];
    assert!(ev.detail.contains("no answer within"), "{}", ev.detail);
}

#[tokio::test]
async fn email_codes_work_where_aal1_is_enough_and_are_refused_at_aal2() {
    let sms = SmsSink::start().await;
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&sms, &smtp)).await;
    app.provider_account("mail.user").await;

    let b = Browser::new();
    let page = enrollment_page(&app, &b, &url(&app, LOW_PORTAL, LOW_CALLBACK), "mail.user").await;
    assert!(page.body.contains("Email codes"), "offered where AAL1 is enough");
    let sent = post(&app, &b, "/mfa/enroll/oob", &page, &[("kind", "email")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"][0], "mail.user@northside.example");
    assert_eq!(mail["subject"], "Your sign-in code");
    let codes = post(
        &app,
        &b,
        "/mfa/enroll/oob/confirm",
        &sent,
        &[("code", &code_in(mail["body"].as_str().unwrap()))],
    )
    .await;
    finish(&app, &b, &codes, LOW_CALLBACK).await;

    // Log in again at the AAL1 portal with an emailed code.
    let b2 = Browser::new();
    let r = b2
        .login(&app, &url(&app, LOW_PORTAL, LOW_CALLBACK), "mail.user", PASSWORD)
        .await;
    let page = b2.get(&app.url(&r.location())).await;
    let method_id = page.field("method_id");
    let sent = send_when_allowed(&app, &b2, &page, &method_id).await;
    let mail = smtp.wait_for(2).await;
    let r = post(
        &app,
        &b2,
        "/mfa",
        &sent,
        &[
            ("method", "email"),
            ("method_id", &method_id),
            ("code", &code_in(mail["body"].as_str().unwrap())),
        ],
    )
    .await;
    assert!(r.location().starts_with(LOW_CALLBACK), "{}", r.body);

    // At the AAL2 portal the email method is neither offered nor accepted:
    // the account has to enroll an AAL2 method.
    let b3 = Browser::new();
    let r = b3
        .login(&app, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "mail.user", PASSWORD)
        .await;
    assert!(r.location().starts_with("/mfa"), "{}", r.location());
    assert!(r.location().starts_with("/mfa?tx=") || r.location().starts_with("/mfa/enroll?tx="));
    let page = b3.get(&app.url(&r.location())).await;
    assert!(!page.body.contains("Email a code"), "{}", page.body);
}

/// From the attacker's side: a password alone must not open a way in
/// through enrollment, and a weak method must not pass as a strong one.
#[tokio::test]
async fn a_password_alone_cannot_enroll_past_mfa_nor_pass_email_off_as_sms() {
    let sms = SmsSink::start().await;
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&sms, &smtp)).await;
    app.provider_account("victim").await;

    // The victim enrolls an email method at the AAL1 portal.
    let b = Browser::new();
    let page = enrollment_page(&app, &b, &url(&app, LOW_PORTAL, LOW_CALLBACK), "victim").await;
    let sent = post(&app, &b, "/mfa/enroll/oob", &page, &[("kind", "email")]).await;
    let mail = smtp.wait_for(1).await;
    let codes = post(
        &app,
        &b,
        "/mfa/enroll/oob/confirm",
        &sent,
        &[("code", &code_in(mail["body"].as_str().unwrap()))],
    )
    .await;
    finish(&app, &b, &codes, LOW_CALLBACK).await;

    // That email-MFA session does not satisfy the AAL2 portal (step-up).
    let r = b
        .get(&authorize_url(&app, SECURE_PORTAL, SECURE_CALLBACK, &pkce().1, &[]))
        .await;
    assert!(r.location().starts_with("/login?tx="), "{}", r.location());

    // An attacker with the password reaches the MFA step of the AAL1 portal
    // and tries to enroll an authenticator of their own instead.
    let attacker = Browser::new();
    let r = attacker
        .login(&app, &url(&app, LOW_PORTAL, LOW_CALLBACK), "victim", PASSWORD)
        .await;
    assert!(r.location().starts_with("/mfa?tx="), "{}", r.location());
    let tx_page = attacker.get(&app.url(&r.location())).await;
    let tx = tx_page.field("tx");
    let r = attacker.get(&app.url(&format!("/mfa/enroll?tx={tx}"))).await;
    assert_eq!(
        r.error_code().as_deref(),
        Some("mfa_code_invalid"),
        "enrollment refused: {}",
        r.body
    );
    assert!(!r.body.contains("totp-secret"));
    let r = post(&app, &attacker, "/mfa/enroll/oob", &tx_page, &[("kind", "sms")]).await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    let r = post(&app, &attacker, "/mfa/webauthn/register/start", &tx_page, &[]).await;
    assert_ne!(r.status, 200, "no passkey registration options: {}", r.body);
    assert!(
        sms.sent.lock().unwrap().is_empty(),
        "nothing was sent to an attacker's phone"
    );

    // At the AAL2 portal the email method can neither be sent to nor passed
    // off as an SMS method (the victim's backup codes are the AAL2 way in),
    // and enrollment stays shut.
    let b2 = Browser::new();
    let r = b2
        .login(&app, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "victim", PASSWORD)
        .await;
    assert!(r.location().starts_with("/mfa?tx="), "{}", r.location());
    let page = b2.get(&app.url(&r.location())).await;
    assert!(!page.body.contains("Email a code"), "{}", page.body);
    let tx = page.field("tx");
    let r = b2.get(&app.url(&format!("/mfa/enroll?tx={tx}"))).await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    let victim = app.state.provider.accounts.find("victim").await.unwrap().unwrap();
    let email_method = app.state.provider.mfa.enrolled(victim.id.as_str()).await.unwrap().oob[0]
        .1
        .clone();
    let r = post(&app, &b2, "/mfa/send", &page, &[("method_id", &email_method)]).await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    let r = post(
        &app,
        &b2,
        "/mfa",
        &page,
        &[("method", "sms"), ("method_id", &email_method), ("code", "123456")],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("mfa_code_invalid"));
    assert!(r.body.contains("not accepted here"), "{}", r.body);
}

/// An account whose only method is too weak for a portal proves it first,
/// and only then enrolls a stronger one — no login on the weak code.
#[tokio::test]
async fn a_weak_method_unlocks_enrolling_a_strong_one_but_never_logs_in_at_aal2() {
    let sms = SmsSink::start().await;
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&sms, &smtp)).await;
    app.provider_account("weak.only").await;
    let b = Browser::new();
    let page = enrollment_page(&app, &b, &url(&app, LOW_PORTAL, LOW_CALLBACK), "weak.only").await;
    let sent = post(&app, &b, "/mfa/enroll/oob", &page, &[("kind", "email")]).await;
    let mail = smtp.wait_for(1).await;
    let codes = post(
        &app,
        &b,
        "/mfa/enroll/oob/confirm",
        &sent,
        &[("code", &code_in(mail["body"].as_str().unwrap()))],
    )
    .await;
    finish(&app, &b, &codes, LOW_CALLBACK).await;
    // No backup codes left: email is the only method.
    let account = app.state.provider.accounts.find("weak.only").await.unwrap().unwrap();
    app.state
        .sql
        .replace_backup_codes(account.id.as_str(), &[], 0)
        .await
        .unwrap();

    let b2 = Browser::new();
    let r = b2
        .login(&app, &url(&app, SECURE_PORTAL, SECURE_CALLBACK), "weak.only", PASSWORD)
        .await;
    assert!(
        r.location().starts_with("/mfa?tx="),
        "prove the weak method first: {}",
        r.location()
    );
    let page = b2.get(&app.url(&r.location())).await;
    let method_id = page.field("method_id");
    let sent = send_when_allowed(&app, &b2, &page, &method_id).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mail = smtp.wait_for(2).await;
    let r = post(
        &app,
        &b2,
        "/mfa",
        &sent,
        &[
            ("method", "email"),
            ("method_id", &method_id),
            ("code", &code_in(mail["body"].as_str().unwrap())),
        ],
    )
    .await;
    assert!(r.location().starts_with("/mfa/enroll?tx="), "{}", r.location());
    assert!(
        b2.cookie(&app, "gatehouse_session").is_none(),
        "no session on a weak code at AAL2"
    );
    let enroll = b2.get(&app.url(&r.location())).await;
    assert!(enroll.body.contains("totp-secret"), "{}", enroll.body);
}
