//! The login pages from the attacker's and the confused user's side.

use gatehouse::config::AccountType;

use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::{authorize_url, pkce};

/// A fresh login at the provider portal (prompt=login: the browser may
/// already hold a session from an earlier step of the test).
fn portal_url(app: &TestApp) -> String {
    let (_, challenge) = pkce();
    authorize_url(app, PORTAL, PORTAL_CALLBACK, &challenge, &[("prompt", "login")])
}

#[tokio::test]
async fn untrusted_authorization_requests_stay_on_the_gateway() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let (_, challenge) = pkce();
    let b = Browser::new();

    for (url, code) in [
        (
            authorize_url(&app, "no-such-portal", PORTAL_CALLBACK, &challenge, &[]),
            "unknown_client",
        ),
        (
            authorize_url(&app, PORTAL, "https://evil.example/callback", &challenge, &[]),
            "redirect_uri_mismatch",
        ),
        (
            authorize_url(&app, PORTAL, &format!("{PORTAL_CALLBACK}/"), &challenge, &[]),
            "redirect_uri_mismatch",
        ),
    ] {
        let r = b.get(&url).await;
        assert_eq!(r.status, 400, "{url}");
        assert!(
            r.headers.get("location").is_none(),
            "never redirect to an unverified URI"
        );
        assert_eq!(r.error_code().as_deref(), Some(code));
        let reference = r.reference().unwrap();
        assert!(
            r.body.contains(&reference) && r.body.contains(code),
            "code and reference are shown"
        );
        let events = app.events(&reference).await;
        assert_eq!(events[0].code.as_deref(), Some(code));
    }

    // Missing PKCE with a valid client and redirect goes back to the portal.
    let r = b.get(&authorize_url(&app, PORTAL, PORTAL_CALLBACK, "", &[])).await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with(PORTAL_CALLBACK));
    assert_eq!(r.location_param("error").as_deref(), Some("invalid_request"));
    assert_eq!(r.location_param("state").as_deref(), Some("st-123"));
}

#[tokio::test]
async fn every_form_post_needs_the_csrf_token_of_this_browser() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("csrf.target").await;
    let b = Browser::new();
    let page = b.start(&app, &portal_url(&app)).await;
    let tx = page.field("tx");

    // No token.
    let r = b
        .post(&app.url("/login/identify"), &[("tx", &tx), ("username", "csrf.target")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code().as_deref(), Some("csrf_invalid"));
    // A forged token.
    let r = b
        .post(
            &app.url("/login/identify"),
            &[("tx", &tx), ("csrf", "forged"), ("username", "csrf.target")],
        )
        .await;
    assert_eq!(r.error_code().as_deref(), Some("csrf_invalid"));

    // Another browser cannot use this transaction, even with its own valid
    // CSRF token (the transaction is bound to the browser that started it).
    let other = Browser::new();
    let own = other.start(&app, &portal_url(&app)).await;
    let r = other
        .post(
            &app.url("/login/identify"),
            &[("tx", &tx), ("csrf", &own.field("csrf")), ("username", "csrf.target")],
        )
        .await;
    assert_eq!(r.error_code().as_deref(), Some("login_expired"));
    let events = app.events(&r.reference().unwrap()).await;
    assert!(events[0].detail.contains("another browser"), "{}", events[0].detail);

    // Malformed body.
    let r = b
        .http
        .post(app.url("/login/password"))
        .header("content-type", "text/plain")
        .body("tx=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Unknown transaction.
    let r = b
        .get(&app.url("/login?tx=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(r.error_code().as_deref(), Some("login_expired"));
    let r = b.get(&app.url("/login")).await;
    assert_eq!(r.error_code().as_deref(), Some("login_expired"));
}

#[tokio::test]
async fn wrong_passwords_explain_themselves_and_lock_without_revealing_usernames() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await; // lockout: 3 failures in 10 min, 15 min lock
    app.provider_account("real.user").await;
    let b = Browser::new();

    let page = b.start(&app, &portal_url(&app)).await;
    let r = b.submit_credentials(&app, &page, "real.user", "wrong password!").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code().as_deref(), Some("invalid_credentials"));
    assert!(r.body.contains("Forgot your password?"));
    assert!(!r.body.contains("wrong password!"), "the password is never echoed");
    let ev = &app.events(&r.reference().unwrap()).await[0];
    assert!(
        ev.detail.contains("\"unknown_user\":false") && ev.detail.contains("\"attempts_left\":2"),
        "{}",
        ev.detail
    );
    assert!(!ev.detail.contains("wrong password!"), "the password is never logged");

    // An unknown username answers exactly the same to the user...
    let page = b.start(&app, &portal_url(&app)).await;
    let ghost = b.submit_credentials(&app, &page, "ghost.user", "wrong password!").await;
    assert_eq!(ghost.status, 401);
    assert_eq!(ghost.error_code().as_deref(), Some("invalid_credentials"));
    // The whole page is the same but for what the user typed and the
    // per-request values (transaction, reference, time).
    let normalize = |p: &crate::support::browser::Page, user: &str| {
        let mut body = p
            .body
            .replace(user, "USER")
            .replace(&p.field("tx"), "TX")
            .replace(&p.reference().unwrap(), "REF");
        if let (Some(a), Some(b)) = (body.find("<time>"), body.find("</time>")) {
            body = format!("{}{}", &body[..a], &body[b..]);
        }
        body
    };
    assert_eq!(normalize(&r, "real.user"), normalize(&ghost, "ghost.user"));
    // ...while the admin's event says which it was.
    let ev = &app.events(&ghost.reference().unwrap()).await[0];
    assert!(ev.detail.contains("\"unknown_user\":true"), "{}", ev.detail);

    // Two more failures lock the real account; the right password no longer
    // works and the page says until when.
    for _ in 0..2 {
        let page = b.start(&app, &portal_url(&app)).await;
        b.submit_credentials(&app, &page, "real.user", "still wrong").await;
    }
    let page = b.start(&app, &portal_url(&app)).await;
    let locked = b.submit_credentials(&app, &page, "real.user", PASSWORD).await;
    assert_eq!(locked.status, 423);
    assert_eq!(locked.error_code().as_deref(), Some("account_locked"));
    assert!(
        locked.body.contains("Locked until") && locked.body.contains("UTC"),
        "{}",
        locked.body
    );

    // The unknown username locks the same way (same code, same status).
    for _ in 0..2 {
        let page = b.start(&app, &portal_url(&app)).await;
        b.submit_credentials(&app, &page, "ghost.user", "wrong").await;
    }
    let page = b.start(&app, &portal_url(&app)).await;
    let ghost_locked = b.submit_credentials(&app, &page, "ghost.user", "wrong").await;
    assert_eq!(
        (ghost_locked.status, ghost_locked.error_code()),
        (locked.status, locked.error_code())
    );

    // The lock runs out by itself (injected clock).
    app.clock.advance(16 * 60);
    let page = b.start(&app, &portal_url(&app)).await;
    let ok = b.submit_credentials(&app, &page, "real.user", PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.location().starts_with(PORTAL_CALLBACK));

    // An admin unlock clears a lock at once.
    for _ in 0..3 {
        let page = b.start(&app, &portal_url(&app)).await;
        b.submit_credentials(&app, &page, "real.user", "wrong again").await;
    }
    assert!(app.state.provider.accounts.unlock("real.user").await.unwrap());
    let page = b.start(&app, &portal_url(&app)).await;
    assert_eq!(
        b.submit_credentials(&app, &page, "real.user", PASSWORD).await.status,
        303
    );
}

#[tokio::test]
async fn disabled_accounts_and_bad_usernames() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let a = app.provider_account("leaver").await;
    app.state
        .provider
        .accounts
        .set_status(&a.id, gatehouse::accounts::Status::Disabled)
        .await
        .unwrap();
    let b = Browser::new();
    let page = b.start(&app, &portal_url(&app)).await;
    let r = b.submit_credentials(&app, &page, "leaver", PASSWORD).await;
    assert_eq!(r.error_code().as_deref(), Some("account_disabled"));

    // A username that cannot exist is answered on the form, not with a 500.
    let page = b.start(&app, &portal_url(&app)).await;
    let r = b
        .post(
            &app.url("/login/identify"),
            &[
                ("tx", &page.field("tx")),
                ("csrf", &page.field("csrf")),
                ("username", "<script>alert(1)</script>"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("<script>alert(1)"), "input is escaped");
    assert!(r.body.contains("&lt;script&gt;"));

    // Member accounts exist and log in at the member portal.
    app.create_account("member.m", AccountType::Member, None, &[]).await;
    let (_, challenge) = pkce();
    let r = b
        .login(
            &app,
            &authorize_url(&app, MEMBER_PORTAL, MEMBER_CALLBACK, &challenge, &[]),
            "member.m",
            PASSWORD,
        )
        .await;
    assert!(r.location().starts_with(MEMBER_CALLBACK));
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    let b = Browser::new();
    let page = b.start(&app, &portal_url(&app)).await;
    let h = &page.headers;
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("x-request-id"));
    // The CSRF cookie is HttpOnly and SameSite.
    let r = b.http.get(portal_url(&app)).send().await.unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert!(set.is_empty() || set.iter().all(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax")));
    let fresh = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = fresh.get(portal_url(&app)).send().await.unwrap();
    let c = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        c.starts_with("gatehouse_csrf=") && c.contains("HttpOnly") && c.contains("SameSite=Lax"),
        "{c}"
    );
}

#[tokio::test]
async fn an_expired_password_must_be_changed_to_a_good_new_one_before_the_portal() {
    let ws = Workspace::new();
    let bound = TestApp::bind().await;
    let mut cfg = ws.config(bound.port, "");
    cfg.password.max_age = Some(std::time::Duration::from_secs(90 * 86_400));
    let app = TestApp::start_config(bound, cfg).await;
    app.provider_account("aging.user").await;
    let b = Browser::new();

    // Within the maximum age the login goes straight through.
    let page = b.start(&app, &portal_url(&app)).await;
    let ok = b.submit_credentials(&app, &page, "aging.user", PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.location().starts_with(PORTAL_CALLBACK));

    // 91 days later the right password leads to the change page, not the portal.
    app.clock.advance(91 * 86_400);
    let page = b.start(&app, &portal_url(&app)).await;
    let r = b.submit_credentials(&app, &page, "aging.user", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().starts_with("/login/password/change?tx="),
        "{}",
        r.location()
    );
    let change = b.get(&app.url(&r.location())).await;
    assert_eq!(change.status, 200);
    assert_eq!(change.error_code().as_deref(), Some("password_expired"));
    let expired = app.recent_events().await;
    assert!(
        expired.iter().any(|e| e.code.as_deref() == Some("password_expired")
            && e.detail.contains("\"password_age_days\":91")
            && e.detail.contains("\"max_age_days\":90")),
        "the admin sees why"
    );

    // The portal cannot be reached by skipping the form: the sign-in is
    // parked until the password changes.
    let tx = change.field("tx");
    let csrf = change.field("csrf");
    let skip = b.get(&app.url(&format!("/mfa?tx={tx}"))).await;
    assert_ne!(skip.status, 303, "{}", skip.body);

    // Without the CSRF token nothing changes.
    let no_csrf = b
        .post(
            &app.url("/login/password/change"),
            &[
                ("tx", &tx),
                ("new_password", "a-brand-new-passphrase-42"),
                ("confirm_password", "a-brand-new-passphrase-42"),
            ],
        )
        .await;
    assert_eq!(no_csrf.error_code().as_deref(), Some("csrf_invalid"));

    // A weak new password is refused with every problem listed at once.
    let weak = b
        .post(
            &app.url("/login/password/change"),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("new_password", "password"),
                ("confirm_password", "password"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400, "{}", weak.body);
    assert!(weak.body.contains("at least 12 characters"), "{}", weak.body);
    assert!(weak.body.contains("commonly used"), "{}", weak.body);
    assert!(
        !weak.body.contains("value=\"password\""),
        "the password is never echoed"
    );

    // Mismatched confirmation, then the current password again: both refused.
    let csrf = weak.field("csrf");
    let mismatch = b
        .post(
            &app.url("/login/password/change"),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("new_password", "a-brand-new-passphrase-42"),
                ("confirm_password", "a-brand-new-passphrase-43"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body.contains("differ"), "{}", mismatch.body);
    let reused = b
        .post(
            &app.url("/login/password/change"),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reused.status, 400);
    assert!(reused.body.contains("last 5 passwords"), "{}", reused.body);

    // A good one continues the same sign-in to the portal.
    let done = b
        .post(
            &app.url("/login/password/change"),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("new_password", "a-brand-new-passphrase-42"),
                ("confirm_password", "a-brand-new-passphrase-42"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location().starts_with(PORTAL_CALLBACK), "{}", done.location());

    // The form cannot be replayed for this sign-in.
    let replay = b
        .post(
            &app.url("/login/password/change"),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("new_password", "another-new-passphrase-7"),
                ("confirm_password", "another-new-passphrase-7"),
            ],
        )
        .await;
    assert_ne!(replay.status, 303);

    // The old password no longer works; the new one does, with no change asked.
    let page = b.start(&app, &portal_url(&app)).await;
    let old = b.submit_credentials(&app, &page, "aging.user", PASSWORD).await;
    assert_eq!(old.error_code().as_deref(), Some("invalid_credentials"));
    let page = b.start(&app, &portal_url(&app)).await;
    let new = b
        .submit_credentials(&app, &page, "aging.user", "a-brand-new-passphrase-42")
        .await;
    assert_eq!(new.status, 303, "{}", new.body);
    assert!(new.location().starts_with(PORTAL_CALLBACK), "{}", new.location());
}

#[tokio::test]
async fn one_address_spraying_many_usernames_is_stopped_without_locking_anyone() {
    let ws = Workspace::new();
    let bound = TestApp::bind().await;
    let mut cfg = ws.config(bound.port, "");
    cfg.lockout.per_ip_failures = 4;
    let app = TestApp::start_config(bound, cfg).await;
    app.provider_account("victim.one").await;
    let b = Browser::new();

    // One wrong guess each at four names (real or not): no account locks...
    for name in ["victim.one", "ghost.a", "ghost.b", "ghost.c"] {
        let r = b.login(&app, &portal_url(&app), name, "Summer2026!").await;
        assert_eq!(r.error_code().as_deref(), Some("invalid_credentials"), "{name}");
    }
    // ...but the address is refused before any password is checked, even
    // a right one, and the page says the account is not the problem.
    let blocked = b.login(&app, &portal_url(&app), "victim.one", PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert_eq!(blocked.error_code().as_deref(), Some("too_many_attempts"));
    assert!(blocked.body.contains("Try again after"), "{}", blocked.body);
    let ev = &app.events(&blocked.reference().unwrap()).await[0];
    assert!(
        ev.detail.contains("\"ip_failures\":4") && ev.detail.contains("\"password_checked\":false"),
        "{}",
        ev.detail
    );
    // The victim's own account is not locked (one failure of five).
    let username = gatehouse::accounts::Username::parse("victim.one").unwrap();
    let ok = app
        .state
        .provider
        .accounts
        .authenticate(&username, &gatehouse::accounts::Password::new(PASSWORD))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn an_organization_can_tighten_the_password_policy_for_its_own_accounts() {
    let ws = Workspace::new();
    let app = TestApp::spawn_with(
        &ws,
        r#"
[[org]]
id = "strict-clinic"
name = "Strict Clinic"
mfa = "portal"
password = { min_length = 16, max_age = "30d" }
"#,
    )
    .await;
    app.create_account("strict.user", AccountType::Provider, Some("strict-clinic"), &[])
        .await;
    app.provider_account("relaxed.user").await;
    app.clock.advance(31 * 86_400);
    let b = Browser::new();

    // The global policy has no maximum age: the other organization's user
    // goes straight through...
    let page = b.start(&app, &portal_url(&app)).await;
    let relaxed = b.submit_credentials(&app, &page, "relaxed.user", PASSWORD).await;
    assert!(relaxed.location().starts_with(PORTAL_CALLBACK), "{}", relaxed.body);

    // ...while the strict clinic's user must change a 31-day-old password,
    // to one of at least 16 characters.
    let page = b.start(&app, &portal_url(&app)).await;
    let r = b.submit_credentials(&app, &page, "strict.user", PASSWORD).await;
    assert!(r.location().starts_with("/login/password/change"), "{}", r.location());
    let change = b.get(&app.url(&r.location())).await;
    assert!(change.body.contains("at least 16 characters"), "{}", change.body);
    let form = |pw: &'static str| {
        [
            ("tx", change.field("tx")),
            ("csrf", change.field("csrf")),
            ("new_password", pw.to_string()),
            ("confirm_password", pw.to_string()),
        ]
    };
    let short = form("fourteen-chars");
    let short: Vec<(&str, &str)> = short.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post(&app.url("/login/password/change"), &short).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("Use at least 16 characters"), "{}", refused.body);
    let long = form("sixteen-plus-characters");
    let long: Vec<(&str, &str)> = long.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ok = b.post(&app.url("/login/password/change"), &long).await;
    assert!(ok.location().starts_with(PORTAL_CALLBACK), "{}", ok.body);
}

#[tokio::test]
async fn an_access_manager_unlocks_people_of_their_own_organization_only() {
    let ws = Workspace::new();
    let app = TestApp::spawn_with(
        &ws,
        r#"
[[org]]
id = "other-org"
name = "Other Org"
mfa = "portal"
"#,
    )
    .await;
    app.create_account(
        "ann.manager",
        AccountType::Provider,
        Some("northside-clinic"),
        &["access_manager"],
    )
    .await;
    app.provider_account("locked.staff").await;
    app.provider_account("plain.staff").await;
    app.create_account("outsider", AccountType::Provider, Some("other-org"), &[])
        .await;
    let attacker = Browser::new();
    for who in ["locked.staff", "outsider"] {
        for _ in 0..3 {
            attacker.login(&app, &portal_url(&app), who, "wrong guess").await;
        }
    }

    // A person without the role is refused the page.
    let plain = Browser::new();
    plain.login(&app, &portal_url(&app), "plain.staff", PASSWORD).await;
    let refused = plain.get(&app.url("/account/people")).await;
    assert_eq!(
        (refused.status, refused.error_code().as_deref()),
        (403, Some("not_permitted"))
    );

    let m = Browser::new();
    let signed_in = m.login(&app, &portal_url(&app), "ann.manager", PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let page = m.get(&app.url("/account/people")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("locked.staff") && page.body.contains("Locked until"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("outsider"),
        "only the manager's organization is listed"
    );

    // CSRF, and the organization boundary.
    let forged = m
        .post(&app.url("/account/people/unlock"), &[("username", "locked.staff")])
        .await;
    assert_eq!(forged.error_code().as_deref(), Some("csrf_invalid"));
    let csrf = page.field("csrf");
    let foreign = m
        .post(
            &app.url("/account/people/unlock"),
            &[("csrf", &csrf), ("username", "outsider")],
        )
        .await;
    assert_eq!(foreign.error_code().as_deref(), Some("not_permitted"));
    let out = attacker.login(&app, &portal_url(&app), "outsider", PASSWORD).await;
    assert_eq!(out.error_code().as_deref(), Some("account_locked"));

    let done = m
        .post(
            &app.url("/account/people/unlock"),
            &[("csrf", &csrf), ("username", "locked.staff")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("locked.staff is unlocked"), "{}", done.body);
    let back = Browser::new()
        .login(&app, &portal_url(&app), "locked.staff", PASSWORD)
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        app.recent_events()
            .await
            .iter()
            .any(|e| e.kind == "account_unlocked" && e.detail.contains("ann.manager")),
        "the unlock is recorded with who did it"
    );
}

#[tokio::test]
async fn an_organization_lockout_applies_to_its_addresses_whether_or_not_they_exist() {
    let ws = Workspace::new();
    let app = TestApp::spawn_with(
        &ws,
        r#"
[[org]]
id = "tight-clinic"
name = "Tight Clinic"
email_domains = ["tight.example"]
mfa = "portal"
lockout = { max_failures = 2 }
"#,
    )
    .await;
    app.create_account("nurse@tight.example", AccountType::Provider, Some("tight-clinic"), &[])
        .await;
    let b = Browser::new();
    // Real and unknown addresses of the domain both lock after two failures.
    for who in ["nurse@tight.example", "nobody@tight.example"] {
        let first = b.login(&app, &portal_url(&app), who, "wrong guess").await;
        assert_eq!(first.error_code().as_deref(), Some("invalid_credentials"), "{who}");
        let second = b.login(&app, &portal_url(&app), who, "wrong guess").await;
        assert_eq!(second.error_code().as_deref(), Some("account_locked"), "{who}");
    }
}
