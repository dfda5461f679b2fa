//! Second factors: what a user has enrolled, verifying a code, backup codes
//! and "remember this device". Each method declares the assurance it gives
//! (NIST SP 800-63B rev 4): TOTP and WebAuthn reach AAL2; a backup code is a
//! look-up secret (AAL2 as a recovery factor).
//!
//! TOTP seeds are sealed at rest (AES-256-GCM, key in `keys.dir`). A code is
//! accepted once: the matched time step must be newer than the last one used
//! (an atomic conditional UPDATE). After 100 consecutive failures a method is
//! locked until an admin resets it.

pub mod backup;
pub mod delivery;
pub mod device;
pub mod otp;
pub mod totp;
pub mod webauthn;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::clock::SharedClock;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::store::{self, sql::Sql};

/// After this many consecutive failures a factor is locked.
pub const MAX_FAILURES: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Totp,
    BackupCode,
    Sms,
    Email,
    WebAuthn,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Totp => "totp",
            Kind::BackupCode => "backup_code",
            Kind::Sms => "sms",
            Kind::Email => "email",
            Kind::WebAuthn => "webauthn",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(Kind::Totp),
            "backup_code" => Some(Kind::BackupCode),
            "sms" => Some(Kind::Sms),
            "email" => Some(Kind::Email),
            "webauthn" => Some(Kind::WebAuthn),
            _ => None,
        }
    }
    /// The authenticator assurance level this method can give (NIST SP
    /// 800-63B rev 4): OTP apps and backup codes reach AAL2; SMS is a
    /// restricted AAL2 authenticator; an email code is not an AAL2
    /// out-of-band authenticator.
    pub fn aal(self) -> u8 {
        match self {
            Kind::Totp | Kind::BackupCode | Kind::Sms => 2,
            // Phishing-resistant; AAL2 here (AAL3 needs attested hardware).
            Kind::WebAuthn => 2,
            Kind::Email => 1,
        }
    }
    pub fn restricted(self) -> bool {
        matches!(self, Kind::Sms)
    }
    /// RFC 8176 authentication method reference for the ID token's `amr`.
    pub fn amr(self) -> &'static str {
        match self {
            Kind::Totp => "otp",
            Kind::BackupCode => "kba",
            Kind::Sms => "sms",
            Kind::Email => "otp",
            Kind::WebAuthn => "hwk",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the code is not right ({attempts_left} attempts left)")]
    CodeInvalid { attempts_left: i64, detail: &'static str },
    #[error("the code was already used")]
    Replayed,
    #[error("this method is locked after {failures} failed attempts")]
    Locked { failures: i64 },
    #[error("no second factor is enrolled")]
    NotEnrolled,
    #[error("the code has expired")]
    CodeExpired,
    #[error("too many codes requested; retry in {retry_after}s")]
    RateLimited { retry_after: i64, limit: &'static str },
    #[error("the code could not be sent by {channel}: {answer}")]
    DeliveryFailed { channel: &'static str, answer: String },
    #[error("sealed secret unreadable")]
    Sealed,
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl Error {
    pub fn code(&self) -> FailureCode {
        match self {
            Error::CodeInvalid { .. } | Error::Replayed | Error::NotEnrolled | Error::Sealed => {
                FailureCode::MfaCodeInvalid
            }
            Error::Locked { .. } | Error::RateLimited { .. } => FailureCode::MfaRateLimited,
            Error::CodeExpired => FailureCode::MfaCodeExpired,
            Error::DeliveryFailed { .. } => FailureCode::MfaDeliveryFailed,
            Error::Store(_) => FailureCode::ServiceUnavailable,
        }
    }
}

/// Seals secrets at rest with AES-256-GCM (random 96-bit nonce per seal).
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256-GCM.
        #[allow(clippy::expect_used)]
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES key");
        Self {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
        }
    }

    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let nonce_bytes = crypto::random_bytes::<12>();
        let mut buf = plaintext.to_vec();
        let sealed = self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context.as_bytes()),
            &mut buf,
        );
        match sealed {
            Ok(()) => {
                let mut out = nonce_bytes.to_vec();
                out.extend_from_slice(&buf);
                crypto::b64url(&out)
            }
            Err(_) => String::new(),
        }
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, Error> {
        let raw = crypto::b64url_decode(sealed).ok_or(Error::Sealed)?;
        if raw.len() < 12 + 16 {
            return Err(Error::Sealed);
        }
        let (nonce, rest) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| Error::Sealed)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Sealed)?;
        Ok(plain.to_vec())
    }
}

/// The MFA domain service.
#[derive(Clone, Debug)]
pub struct Mfa {
    sql: Sql,
    kv: crate::store::kv::Kv,
    delivery: delivery::Delivery,
    limits: otp::Limits,
    sealer: Sealer,
    mac: crypto::Mac,
    clock: SharedClock,
    issuer: String,
}

/// What an account has enrolled, as the login pages need it.
#[derive(Debug, Clone, Default)]
pub struct Enrolled {
    pub totp: bool,
    pub webauthn: usize,
    pub backup_codes_left: i64,
    /// The kind of the method marked preferred, if any.
    pub preferred: Option<Kind>,
    /// Confirmed out-of-band methods (SMS, email), with masked targets.
    pub oob: Vec<(Kind, String, String)>,
}

impl Enrolled {
    pub fn any(&self) -> bool {
        self.totp || self.webauthn > 0 || self.backup_codes_left > 0 || !self.oob.is_empty()
    }
    /// Whether a method reaching `aal` is enrolled.
    pub fn any_at(&self, aal: u8) -> bool {
        self.totp || self.webauthn > 0 || self.backup_codes_left > 0 || self.oob.iter().any(|(k, _, _)| k.aal() >= aal)
    }
}

/// `j***@clinic.example`, `+1•••••••4567`: enough to recognise, not to harvest.
pub fn mask(target: &str) -> String {
    if let Some((local, domain)) = target.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = target.chars().collect();
    let n = digits.len();
    digits
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 2 || i + 4 >= n { *c } else { '•' })
        .collect()
}

impl Mfa {
    /// The code senders (also used by password recovery).
    pub fn delivery(&self) -> &delivery::Delivery {
        &self.delivery
    }

    /// The keyed MAC one-time codes are stored under.
    pub fn mac(&self) -> &crypto::Mac {
        &self.mac
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sql: Sql,
        kv: crate::store::kv::Kv,
        delivery: delivery::Delivery,
        limits: otp::Limits,
        sealer: Sealer,
        mac: crypto::Mac,
        clock: SharedClock,
        issuer: String,
    ) -> Self {
        Self {
            sql,
            kv,
            delivery,
            limits,
            sealer,
            mac,
            clock,
            issuer,
        }
    }

    pub async fn enrolled(&self, account_id: &str) -> Result<Enrolled, Error> {
        let methods = self.sql.mfa_methods(account_id).await?;
        Ok(Enrolled {
            totp: methods.iter().any(|m| m.confirmed && m.kind == Kind::Totp.as_str()),
            webauthn: methods
                .iter()
                .filter(|m| m.confirmed && m.kind == Kind::WebAuthn.as_str())
                .count(),
            preferred: methods
                .iter()
                .find(|m| m.confirmed && m.preferred)
                .and_then(|m| Kind::parse(&m.kind)),
            backup_codes_left: self.sql.backup_codes_left(account_id).await?,
            oob: methods
                .iter()
                .filter(|m| m.confirmed)
                .filter_map(|m| {
                    let kind = Kind::parse(&m.kind).filter(|k| matches!(k, Kind::Sms | Kind::Email))?;
                    Some((kind, m.id.clone(), mask(m.target.as_deref().unwrap_or(""))))
                })
                .collect(),
        })
    }

    /// Every confirmed method, for the account's security page.
    pub async fn methods(&self, account_id: &str) -> Result<Vec<crate::store::sql::MfaMethodRecord>, Error> {
        Ok(self
            .sql
            .mfa_methods(account_id)
            .await?
            .into_iter()
            .filter(|m| m.confirmed)
            .collect())
    }

    /// One method of the account (confirmed or not).
    pub async fn method(
        &self,
        account_id: &str,
        method_id: &str,
    ) -> Result<Option<crate::store::sql::MfaMethodRecord>, Error> {
        Ok(self
            .sql
            .mfa_methods(account_id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id))
    }

    pub async fn remove(&self, account_id: &str, method_id: &str) -> Result<bool, Error> {
        Ok(self.sql.delete_mfa_method(method_id, account_id).await?)
    }

    pub async fn set_preferred(&self, account_id: &str, method_id: &str) -> Result<bool, Error> {
        Ok(self.sql.set_preferred_mfa(method_id, account_id).await?)
    }

    pub async fn version(&self, account_id: &str) -> Result<i64, Error> {
        Ok(self.sql.mfa_version(account_id).await?)
    }
}
