//! Delegated organization administration through the console's real pages:
//! an access manager invites someone (real SMTP sink) who activates and
//! signs in; roles granted and revoked show in the next ID token (real OIDC
//! client) and the forward-auth headers; the delegation history and its
//! CSV; the access review; the organization boundary; shared logins.

use serde_json::Value;

use crate::support::admin;
use crate::support::app::*;
use crate::support::browser::{Browser, Page};
use crate::support::rp::Rp;
use crate::support::sinks::SmtpSink;
use crate::support::{authorize_url, pkce};

const ORG: &str = "harbor-health";
const TIN_A: &str = "12-3456789";
const TIN_B: &str = "98-7654321";
const NEW_PASSWORD: &str = "harbor-new-hire-passphrase-7";

fn extra(smtp: &SmtpSink, concurrent: &str) -> String {
    format!(
        r#"
[[portal]]
client_id = "billing-portal"
name = "Billing Portal"
client_secret = "billing-portal-secret-0123456789"
redirect_uris = ["http://127.0.0.1:9/billing/callback"]
account_types = ["provider"]
roles = ["billing"]

[[portal]]
client_id = "care-portal"
name = "Care Portal"
client_secret = "care-portal-secret-0123456789"
redirect_uris = ["http://127.0.0.1:9/care/callback"]
account_types = ["provider"]
roles = ["care_coordinator"]

[[org]]
id = "{ORG}"
name = "Harbor Health"
tins = ["{TIN_A}", "{TIN_B}"]
email_domains = ["harbor.example"]
mfa = "portal"
roles = ["care_coordinator"]
concurrent_sessions = "{concurrent}"

[email]
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "none"
from = "Sign-in <no-reply@gatehouse.test>"
"#,
        port = smtp.port
    )
}

/// Submits one of the people page's forms (the one for `action` and, when
/// given, `username`).
async fn act(b: &Browser, app: &TestApp, page: &Page, fields: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", page.field("csrf")), ("org", ORG.to_string())];
    form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(&app.url("/admin/people"), &form).await
}

fn roles(claims: &Value) -> Vec<String> {
    serde_json::from_value(claims["roles"].clone()).unwrap_or_default()
}

#[tokio::test]
async fn an_access_manager_runs_their_organization_and_every_step_is_on_record() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&smtp, "allow")).await;
    let ann = admin::console(&app, "ann.harbor", Some(ORG), &["access_manager"]).await;
    app.create_account(
        "nils.north",
        gatehouse::config::AccountType::Provider,
        Some("northside-clinic"),
        &["billing"],
    )
    .await;
    let people = ann.get(&app.url("/admin/people")).await;
    assert_eq!(people.status, 200, "{}", people.body);
    assert!(people.body.contains("People of Harbor Health"));
    assert!(
        !people.body.contains("nils.north"),
        "only the manager's organization is listed"
    );

    // Invitation → email → activation → first sign-in, roles in the token.
    let sent = act(
        &ann,
        &app,
        &people,
        &[
            ("action", "invite"),
            ("email", "new.hire@harbor.example"),
            ("role", "billing"),
            ("tin", TIN_A),
            ("reason", "new hire"),
        ],
    )
    .await;
    assert!(
        sent.body.contains("Invitation sent to new.hire@harbor.example"),
        "{}",
        sent.body
    );
    assert!(sent.body.contains("data-invitation=\"new.hire@harbor.example\""));
    let mail = smtp.wait_for(1).await;
    let body = mail["body"].as_str().unwrap();
    let path = body[body.find("/activate/invite?t=").unwrap()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let hire = Browser::new();
    let opened = hire.get(&app.url(&path)).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let form = hire.get(&app.url(&opened.location())).await;
    let made = hire
        .post(
            &app.url("/activate/account"),
            &[
                ("a", &form.field("a")),
                ("csrf", &form.field("csrf")),
                ("username", "new.hire"),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let rp = Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK);
    let pending = rp.begin(&app).await;
    let done = hire.login(&app, &pending.url, "new.hire", NEW_PASSWORD).await;
    let login = rp.finish(&app, pending, done).await;
    assert_eq!(roles(&login.claims), ["billing"]);
    // The invitation limited the role to its TIN, and the token says so.
    assert_eq!(
        login.claims["tin_roles"],
        serde_json::json!([format!("billing@{TIN_A}")])
    );
    let verify = |b: &Browser| {
        let b = b.http.clone();
        let url = app.url("/auth/verify");
        async move {
            b.get(url).send().await.unwrap().headers()["x-gatehouse-roles"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(verify(&hire).await, "billing");

    // A grant shows in the next ID token and at once in forward-auth.
    let people = ann.get(&app.url("/admin/people")).await;
    let granted = act(
        &ann,
        &app,
        &people,
        &[
            ("action", "grant"),
            ("username", "new.hire"),
            ("role", "care_coordinator"),
            ("reason", "covers discharge planning"),
        ],
    )
    .await;
    assert!(
        granted.body.contains("new.hire now holds care_coordinator"),
        "{}",
        granted.body
    );
    let (claims, refresh) = rp.refresh_id_token(&app, &login.refresh_token).await;
    assert_eq!(roles(&claims), ["billing", "care_coordinator"]);
    assert_eq!(verify(&hire).await, "billing,care_coordinator");
    // A revocation too.
    let revoked = act(
        &ann,
        &app,
        &granted,
        &[
            ("action", "revoke"),
            ("username", "new.hire"),
            ("role", "billing"),
            ("tin", TIN_A),
            ("reason", "moved to care team"),
        ],
    )
    .await;
    assert!(
        revoked.body.contains("billing revoked from new.hire"),
        "{}",
        revoked.body
    );
    let (claims, _) = rp.refresh_id_token(&app, &refresh).await;
    assert_eq!(roles(&claims), ["care_coordinator"]);
    assert_eq!(verify(&hire).await, "care_coordinator");
    // A portal that requires billing no longer lets them in.
    let billing = hire
        .login(
            &app,
            &authorize_url(
                &app,
                "billing-portal",
                "http://127.0.0.1:9/billing/callback",
                &pkce().1,
                &[("prompt", "login")],
            ),
            "new.hire",
            NEW_PASSWORD,
        )
        .await;
    assert_eq!(
        billing.error_code().as_deref(),
        Some("role_required"),
        "{}",
        billing.body
    );

    // What an access manager may not do: grant gatehouse_admin, act on
    // another organization, skip the reason.
    let page = ann.get(&app.url("/admin/people")).await;
    let admin_grant = act(
        &ann,
        &app,
        &page,
        &[
            ("action", "grant"),
            ("username", "new.hire"),
            ("role", "gatehouse_admin"),
            ("reason", "x"),
        ],
    )
    .await;
    assert_eq!(admin_grant.error_code().as_deref(), Some("not_permitted"));
    let other = act(
        &ann,
        &app,
        &page,
        &[("action", "disable"), ("username", "nils.north"), ("reason", "x")],
    )
    .await;
    assert_eq!(other.error_code().as_deref(), Some("not_permitted"));
    let other_org = ann.get(&app.url("/admin/people?org=northside-clinic")).await;
    assert_eq!(other_org.error_code().as_deref(), Some("not_permitted"));
    assert_eq!(
        ann.get(&app.url("/api/admin/people?org=northside-clinic")).await.status,
        403
    );
    let forged_org = ann
        .post(
            &app.url("/admin/people"),
            &[
                ("csrf", &page.field("csrf")),
                ("org", "northside-clinic"),
                ("action", "unlock"),
                ("username", "nils.north"),
            ],
        )
        .await;
    assert_eq!(forged_org.error_code().as_deref(), Some("not_permitted"));
    // A gateway admin who is also a member is the operator's to manage.
    app.create_account(
        "gate.harbor",
        gatehouse::config::AccountType::Provider,
        Some(ORG),
        &["gatehouse_admin"],
    )
    .await;
    for action in ["disable", "reset_mfa"] {
        let r = act(
            &ann,
            &app,
            &page,
            &[("action", action), ("username", "gate.harbor"), ("reason", "x")],
        )
        .await;
        assert_eq!(r.error_code().as_deref(), Some("not_permitted"), "{action}");
    }
    let r = act(
        &ann,
        &app,
        &page,
        &[
            ("action", "revoke"),
            ("username", "gate.harbor"),
            ("role", "gatehouse_admin"),
            ("reason", "x"),
        ],
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("not_permitted"));
    let no_reason = act(
        &ann,
        &app,
        &page,
        &[("action", "reset_mfa"), ("username", "new.hire"), ("reason", " ")],
    )
    .await;
    assert_eq!(no_reason.error_code().as_deref(), Some("invalid_request"));
    let no_csrf = ann
        .post(
            &app.url("/admin/people"),
            &[("org", ORG), ("action", "unlock"), ("username", "new.hire")],
        )
        .await;
    assert_eq!(no_csrf.error_code().as_deref(), Some("csrf_invalid"));
    let nils = app.state.provider.accounts.find("nils.north").await.unwrap().unwrap();
    assert_eq!(
        nils.status.as_str(),
        "active",
        "the other organization's member is untouched"
    );

    // The delegation history: every step, who, whom, role, TIN, why.
    let history = ann.get(&app.url("/admin/history?person=new.hire")).await;
    assert_eq!(history.status, 200, "{}", history.body);
    for want in [
        "invitation_accepted",
        "grant",
        "revoke",
        "covers discharge planning",
        "moved to care team",
        TIN_A,
    ] {
        assert!(history.body.contains(want), "history lacks {want}:\n{}", history.body);
    }
    let csv = ann.get(&app.url("/admin/history.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "time,organization,action,actor,subject,role,tin,reason");
    let invite_line = lines.iter().find(|l| l.contains(",invite,")).unwrap();
    assert!(
        invite_line.contains(&format!(
            "{ORG},invite,ann.harbor,new.hire@harbor.example,billing,{TIN_A},new hire"
        )),
        "{invite_line}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",grant,ann.harbor,new.hire,care_coordinator,,covers discharge planning"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",revoke,ann.harbor,new.hire,billing,12-3456789,moved to care team"))
    );
    // Filtered by date: nothing before today.
    let before = ann.get(&app.url("/api/admin/history?to=2000-01-01")).await;
    let v: Value = serde_json::from_str(&before.body).unwrap();
    assert_eq!(v["history"], serde_json::json!([]));
    let bad = ann.get(&app.url("/admin/history?from=yesterday")).await;
    assert_eq!(bad.error_code().as_deref(), Some("invalid_request"));

    // The access review, 100 days on: new.hire has not signed in and never
    // used care_coordinator; one step revokes it.
    app.clock.advance(100 * 86_400);
    let ann = admin::console(&app, "ann.harbor2", Some(ORG), &["access_manager"]).await;
    let review = ann.get(&app.url("/admin/review?days=90")).await;
    assert_eq!(review.status, 200, "{}", review.body);
    assert!(review.body.contains("data-review=\"new.hire\""), "{}", review.body);
    assert!(review.body.contains("new.hire|care_coordinator|"), "{}", review.body);
    let done = ann
        .post(
            &app.url("/admin/review"),
            &[
                ("csrf", &review.field("csrf")),
                ("org", ORG),
                ("days", "90"),
                ("revoke", "new.hire|care_coordinator|"),
                ("reason", "access review: unused for 90 days"),
            ],
        )
        .await;
    assert!(done.body.contains("1 role(s) revoked"), "{}", done.body);
    let hire_now = app.state.provider.accounts.find("new.hire").await.unwrap().unwrap();
    assert!(hire_now.roles().is_empty());
    let (_, api) = {
        let p = ann.get(&app.url("/api/admin/history?person=new.hire")).await;
        (p.status, serde_json::from_str::<Value>(&p.body).unwrap())
    };
    let last = api["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "revoke");
    assert_eq!(last["reason"], "access review: unused for 90 days");
}

#[tokio::test]
async fn shared_logins_are_reported_and_refused_where_the_organization_says_so() {
    let smtp = SmtpSink::start();
    let ws = Workspace::new();
    let app = TestApp::spawn_with(&ws, &extra(&smtp, "refuse")).await;
    app.create_account(
        "desk.one",
        gatehouse::config::AccountType::Provider,
        Some(ORG),
        &["clinician"],
    )
    .await;
    app.provider_account("solo.north").await; // northside allows concurrent sessions

    let url = || authorize_url(&app, PORTAL, PORTAL_CALLBACK, &pkce().1, &[("prompt", "login")]);
    // Allowed (northside): both logins succeed, the second is reported.
    let a = Browser::new();
    assert_eq!(a.login(&app, &url(), "solo.north", PASSWORD).await.status, 303);
    let b = Browser::with_user_agent("Mozilla/5.0 (Windows NT 10.0) other-device");
    assert_eq!(b.login(&app, &url(), "solo.north", PASSWORD).await.status, 303);
    let events = app.recent_events().await;
    let shared = events
        .iter()
        .find(|e| e.kind == "shared_login_suspected" && e.username.as_deref() == Some("solo.north"))
        .expect("a shared-login event");
    assert!(shared.detail.contains("\"policy\":\"allow\""), "{}", shared.detail);
    // The same browser signing in again is not a second device.
    let again = a.login(&app, &url(), "solo.north", PASSWORD).await;
    assert_eq!(again.status, 303);

    // The organization's people page shows it.
    let nora = admin::console(&app, "nora.north", Some("northside-clinic"), &["access_manager"]).await;
    let page = nora.get(&app.url("/admin/people")).await;
    let row = &page.body[page.body.find("data-member=\"solo.north\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("data-shared-login"), "{row}");

    // Refused (harbor): the second device is turned away while the first
    // session lives, with a reference.
    let one = Browser::new();
    assert_eq!(one.login(&app, &url(), "desk.one", PASSWORD).await.status, 303);
    let two = Browser::with_user_agent("Mozilla/5.0 (Macintosh) second-device");
    let refused = two.login(&app, &url(), "desk.one", PASSWORD).await;
    assert_eq!(
        refused.error_code().as_deref(),
        Some("concurrent_session"),
        "{}",
        refused.body
    );
    assert!(refused.reference().is_some());
    // After the first signs out (its session ends), the second may.
    let account = app.state.provider.accounts.find("desk.one").await.unwrap().unwrap();
    app.state
        .provider
        .sessions
        .delete_all_for_account(account.id.as_str())
        .await
        .unwrap();
    assert_eq!(two.login(&app, &url(), "desk.one", PASSWORD).await.status, 303);
}
