//! TOTP (RFC 6238): enrollment with an otpauth URI and an SVG QR code,
//! verification with ±1 step tolerance, no code accepted twice, and a hint
//! when a code matches a step farther away (the phone's clock is off).

use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::{Error, Kind, MAX_FAILURES, Mfa};
use crate::crypto;
use crate::store::sql::MfaMethodRecord;

const STEP: u64 = 30;

/// A TOTP method being enrolled: shown once to the user.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub method_id: String,
    pub secret_base32: String,
    pub uri: String,
    pub qr_svg: String,
}

fn totp(secret: &[u8], issuer: &str, account: &str, skew: u16) -> Result<Totp, Error> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(skew)
        .with_step_duration(STEP)
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(issuer.to_string()))
        .with_account_name(account.to_string())
        .build()
        .map_err(|_| Error::Sealed)
}

fn qr_svg(uri: &str) -> String {
    QrCode::new(uri.as_bytes())
        .map(|code| code.render::<svg::Color<'_>>().min_dimensions(200, 200).build())
        .unwrap_or_default()
}

fn sealed_context(method_id: &str) -> String {
    format!("totp:{method_id}")
}

impl Mfa {
    /// Starts a TOTP enrollment; the method counts once confirmed.
    pub async fn begin_totp(&self, account_id: &str, username: &str) -> Result<Enrollment, Error> {
        let secret = crypto::random_bytes::<20>();
        let method_id = crypto::hex(&crypto::random_bytes::<16>());
        let t = totp(&secret, &self.issuer, username, 1)?;
        let uri = t.to_url().map_err(|_| Error::Sealed)?;
        let qr_svg = qr_svg(&uri);
        let now = self.clock.now();
        self.sql
            .insert_mfa_method(&MfaMethodRecord {
                id: method_id.clone(),
                account_id: account_id.to_string(),
                kind: Kind::Totp.as_str().into(),
                label: "Authenticator app".into(),
                secret: Some(self.sealer.seal(&secret, &sealed_context(&method_id))),
                target: None,
                confirmed: false,
                preferred: false,
                last_step: None,
                failures: 0,
                created_at: now,
                last_used_at: None,
            })
            .await?;
        Ok(Enrollment {
            method_id,
            secret_base32: t.secret().to_base32(),
            uri,
            qr_svg,
        })
    }

    /// An enrollment in progress, shown again (after a mistyped code).
    pub async fn enrollment(&self, account_id: &str, username: &str, method_id: &str) -> Result<Enrollment, Error> {
        let methods = self.sql.mfa_methods(account_id).await?;
        let m = methods
            .iter()
            .find(|m| m.id == method_id && !m.confirmed)
            .ok_or(Error::NotEnrolled)?;
        let secret = self
            .sealer
            .open(m.secret.as_deref().ok_or(Error::Sealed)?, &sealed_context(&m.id))?;
        let t = totp(&secret, &self.issuer, username, 1)?;
        let uri = t.to_url().map_err(|_| Error::Sealed)?;
        Ok(Enrollment {
            method_id: method_id.to_string(),
            secret_base32: t.secret().to_base32(),
            qr_svg: qr_svg(&uri),
            uri,
        })
    }

    /// Confirms an enrollment with a first code from the app.
    pub async fn confirm_totp(&self, account_id: &str, method_id: &str, code: &str) -> Result<(), Error> {
        let methods = self.sql.mfa_methods(account_id).await?;
        let m = methods
            .iter()
            .find(|m| m.id == method_id && !m.confirmed)
            .ok_or(Error::NotEnrolled)?;
        let step = self.match_step(m, code)?;
        match step {
            Some(step) => {
                self.sql
                    .confirm_mfa_method(method_id, account_id, step as i64, self.clock.now())
                    .await?;
                Ok(())
            }
            None => Err(Error::CodeInvalid {
                attempts_left: MAX_FAILURES - m.failures,
                detail: "no match within ±1 step",
            }),
        }
    }

    fn match_step(&self, m: &MfaMethodRecord, code: &str) -> Result<Option<u64>, Error> {
        let sealed = m.secret.as_deref().ok_or(Error::Sealed)?;
        let secret = self.sealer.open(sealed, &sealed_context(&m.id))?;
        let t = totp(&secret, &self.issuer, "", 1)?;
        let code: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
        if code.len() != 6 {
            return Ok(None);
        }
        // `check` returns the matched step number.
        Ok(t.check(&code, self.clock.now().max(0) as u64))
    }

    /// Verifies a login code against the account's confirmed TOTP methods.
    pub async fn verify_totp(&self, account_id: &str, code: &str) -> Result<(), Error> {
        let methods: Vec<MfaMethodRecord> = self
            .sql
            .mfa_methods(account_id)
            .await?
            .into_iter()
            .filter(|m| m.confirmed && m.kind == Kind::Totp.as_str())
            .collect();
        let Some(first) = methods.first() else {
            return Err(Error::NotEnrolled);
        };
        if let Some(m) = methods.iter().find(|m| m.failures >= MAX_FAILURES) {
            return Err(Error::Locked { failures: m.failures });
        }
        for m in &methods {
            if let Some(step) = self.match_step(m, code)? {
                if self.sql.use_totp_step(&m.id, step as i64, self.clock.now()).await? {
                    return Ok(());
                }
                // The code is right but its step was already used.
                self.sql.mfa_failure(&m.id).await?;
                return Err(Error::Replayed);
            }
        }
        let failures = self.sql.mfa_failure(&first.id).await?;
        // A code that matches a step farther out means the phone's clock is
        // off: worth telling the user.
        let far = {
            let sealed = first.secret.as_deref().ok_or(Error::Sealed)?;
            let secret = self.sealer.open(sealed, &sealed_context(&first.id))?;
            let wide = totp(&secret, &self.issuer, "", 4)?;
            let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
            wide.check(&digits, self.clock.now().max(0) as u64).is_some()
        };
        if failures >= MAX_FAILURES {
            return Err(Error::Locked { failures });
        }
        Err(Error::CodeInvalid {
            attempts_left: MAX_FAILURES - failures,
            detail: if far {
                "the code belongs to a time more than 30 seconds away: the phone's clock is off"
            } else {
                "no match within ±1 step"
            },
        })
    }
}
