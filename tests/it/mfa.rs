//! The MFA domain on a real database and an injected clock: TOTP enrollment
//! and verification as an authenticator app would use it (the `totp-rs`
//! crate computing codes from the enrolled secret), backup codes, and
//! remembered devices.

use std::sync::Arc;

use gatehouse::app::Components;
use gatehouse::clock::ManualClock;
use gatehouse::config::AccountType;
use gatehouse::crypto::Mac;
use gatehouse::mfa::delivery::Delivery;
use gatehouse::mfa::otp::Limits;
use gatehouse::mfa::{Error, MAX_FAILURES, Mfa, Sealer};

use crate::support::app::{PASSWORD, Workspace};

struct Fixture {
    mfa: Mfa,
    components: Components,
    clock: Arc<ManualClock>,
    account_id: String,
    _ws: Workspace,
}

async fn fixture() -> Fixture {
    let ws = Workspace::new();
    let clock = ManualClock::new();
    let components = Components::open(ws.config(0, ""), clock.clone()).await.unwrap();
    let account = components
        .accounts
        .create(
            gatehouse::accounts::NewAccount {
                username: "mfa.user".into(),
                email: "mfa.user@northside.example".into(),
                phone: None,
                account_type: AccountType::Provider,
                org: None,
                roles: vec![],
                password: gatehouse::accounts::Password::new(PASSWORD),
            },
            &[],
            "test",
        )
        .await
        .unwrap();
    let mfa = Mfa::new(
        components.sql.clone(),
        components.kv.clone(),
        Delivery::default(),
        Limits {
            lifetime: std::time::Duration::from_secs(300),
            attempts: 5,
            cooldown: std::time::Duration::from_secs(30),
            per_hour: 5,
            per_ip_hour: 20,
        },
        Sealer::new(&[7u8; 32]),
        Mac::new(b"test-mac-key-0123456789abcdef0123"),
        clock.clone(),
        "gatehouse-test".into(),
    );
    Fixture {
        mfa,
        components,
        clock,
        account_id: account.id.as_str().to_string(),
        _ws: ws,
    }
}

#[tokio::test]
async fn totp_enrolls_verifies_once_per_step_and_counts_failures() {
    let f = fixture().await;
    assert!(!f.mfa.enrolled(&f.account_id).await.unwrap().any());
    let e = f.mfa.begin_totp(&f.account_id, "mfa.user").await.unwrap();
    assert!(
        e.uri.starts_with("otpauth://totp/") && e.uri.contains("issuer=gatehouse-test"),
        "{}",
        e.uri
    );
    assert!(e.qr_svg.contains("<svg"), "QR code rendered as SVG");
    // Not usable before it is confirmed.
    assert!(matches!(
        f.mfa.verify_totp(&f.account_id, "000000").await,
        Err(Error::NotEnrolled)
    ));

    let now = f.clock.now_for_test();
    let first = crate::support::totp_code(&e.secret_base32, now);
    f.mfa.confirm_totp(&f.account_id, &e.method_id, &first).await.unwrap();
    assert!(f.mfa.enrolled(&f.account_id).await.unwrap().totp);

    // The enrollment code cannot be replayed at login.
    assert!(matches!(
        f.mfa.verify_totp(&f.account_id, &first).await,
        Err(Error::Replayed)
    ));
    // The next step's code works, once.
    f.clock.advance(30);
    let next = crate::support::totp_code(&e.secret_base32, now + 30);
    f.mfa.verify_totp(&f.account_id, &next).await.unwrap();
    assert!(matches!(
        f.mfa.verify_totp(&f.account_id, &next).await,
        Err(Error::Replayed)
    ));
    // A code one step old is still inside the ±1 window but already beaten
    // by a newer used step: refused as a replay of an older step.
    f.clock.advance(30);
    let old = crate::support::totp_code(&e.secret_base32, now + 30);
    assert!(matches!(
        f.mfa.verify_totp(&f.account_id, &old).await,
        Err(Error::Replayed)
    ));

    // A wrong code counts; a code from two minutes away hints at the clock.
    let far = crate::support::totp_code(&e.secret_base32, now + 60 + 120);
    match f.mfa.verify_totp(&f.account_id, &far).await {
        Err(Error::CodeInvalid { detail, attempts_left }) => {
            assert!(detail.contains("clock"), "{detail}");
            assert!(attempts_left < MAX_FAILURES);
        }
        other => panic!("{other:?}"),
    }
    let wrong = if far == "123456" { "654321" } else { "123456" };
    let before = match f.mfa.verify_totp(&f.account_id, wrong).await {
        Err(Error::CodeInvalid { attempts_left, .. }) => attempts_left,
        other => panic!("{other:?}"),
    };
    match f.mfa.verify_totp(&f.account_id, wrong).await {
        Err(Error::CodeInvalid { attempts_left, .. }) => assert_eq!(attempts_left, before - 1),
        other => panic!("{other:?}"),
    }

    // The seed is sealed at rest.
    let rows = f.components.sql.mfa_methods(&f.account_id).await.unwrap();
    let stored = rows[0].secret.clone().unwrap();
    assert!(!stored.contains(&e.secret_base32));
}

#[tokio::test]
async fn a_factor_locks_after_one_hundred_consecutive_failures() {
    let f = fixture().await;
    let e = f.mfa.begin_totp(&f.account_id, "mfa.user").await.unwrap();
    let now = f.clock.now_for_test();
    f.mfa
        .confirm_totp(
            &f.account_id,
            &e.method_id,
            &crate::support::totp_code(&e.secret_base32, now),
        )
        .await
        .unwrap();
    let wrong = |at: i64| {
        let good = crate::support::totp_code(&e.secret_base32, at);
        if good == "000000" {
            "111111".to_string()
        } else {
            "000000".to_string()
        }
    };
    let mut locked = false;
    for _ in 0..MAX_FAILURES {
        if let Err(Error::Locked { failures }) = f.mfa.verify_totp(&f.account_id, &wrong(now)).await {
            assert_eq!(failures, MAX_FAILURES);
            locked = true;
            break;
        }
    }
    assert!(locked, "locked at the hundredth failure");
    // Even the right code is refused now.
    f.clock.advance(30);
    assert!(matches!(
        f.mfa
            .verify_totp(&f.account_id, &crate::support::totp_code(&e.secret_base32, now + 30))
            .await,
        Err(Error::Locked { .. })
    ));
}

#[tokio::test]
async fn backup_codes_are_single_use_and_remembered_devices_end_when_methods_change() {
    let f = fixture().await;
    let v0 = f.mfa.version(&f.account_id).await.unwrap();
    let codes = f.mfa.new_backup_codes(&f.account_id).await.unwrap();
    assert_eq!(codes.len(), 10);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    let v1 = f.mfa.version(&f.account_id).await.unwrap();
    assert!(v1 > v0, "new codes change the MFA version");

    // Typed loosely (lower case, no dash), a code works once.
    let loose = codes[0].to_lowercase().replace('-', "");
    assert_eq!(f.mfa.use_backup_code(&f.account_id, &loose).await.unwrap(), 9);
    assert!(f.mfa.use_backup_code(&f.account_id, &codes[0]).await.is_err());
    assert!(f.mfa.use_backup_code(&f.account_id, "NOT-A-CODE").await.is_err());

    // A remembered device holds until the methods change or it expires.
    let now = f.clock.now_for_test();
    let token = f.mfa.remember_token(&f.account_id, v1, now + 86_400, 2);
    assert_eq!(f.mfa.remembers(&token, &f.account_id, v1), Some(2));
    assert!(f.mfa.remembers(&token, "someone-else", v1).is_none());
    assert!(
        f.mfa
            .remembers(&token.replace(&format!(".{v1}."), ".999."), &f.account_id, 999)
            .is_none(),
        "tampering breaks it"
    );
    f.mfa.new_backup_codes(&f.account_id).await.unwrap();
    let v2 = f.mfa.version(&f.account_id).await.unwrap();
    assert!(
        f.mfa.remembers(&token, &f.account_id, v2).is_none(),
        "revoked when methods change"
    );
    let token = f.mfa.remember_token(&f.account_id, v2, now + 60, 2);
    f.clock.advance(61);
    assert!(f.mfa.remembers(&token, &f.account_id, v2).is_none(), "expires");
    // The old codes died with the new set.
    assert!(f.mfa.use_backup_code(&f.account_id, &codes[1]).await.is_err());
}
