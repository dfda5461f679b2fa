//! One-time codes sent by SMS or email: six digits, alive `code_lifetime`
//! (5 minutes by default), `code_attempts` tries per code, a resend
//! cool-down, a per-account hourly cap and a per-IP hourly cap. A resend
//! does not reset the factor's failure count. Challenges live in the
//! ephemeral store under the account and method; only the code's MAC is
//! kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Error, Kind, MAX_FAILURES, Mfa, mask};
use crate::crypto;
use crate::store::keys;
use crate::store::sql::MfaMethodRecord;

#[derive(Debug, Clone)]
pub struct Limits {
    pub lifetime: Duration,
    pub attempts: u32,
    pub cooldown: Duration,
    pub per_hour: u32,
    pub per_ip_hour: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Challenge {
    code_mac: String,
    expires_at: i64,
    attempts: u32,
}

impl Mfa {
    fn code_mac(&self, account_id: &str, method_id: &str, code: &str) -> String {
        self.mac.sign("otp", &format!("{account_id}:{method_id}:{code}"))
    }

    /// Starts enrolling an out-of-band method: the code sent now confirms it.
    pub async fn begin_oob(
        &self,
        account_id: &str,
        kind: Kind,
        target: &str,
        ip: Option<&str>,
    ) -> Result<(String, String), Error> {
        let method_id = crypto::hex(&crypto::random_bytes::<16>());
        let record = MfaMethodRecord {
            id: method_id.clone(),
            account_id: account_id.to_string(),
            kind: kind.as_str().into(),
            label: match kind {
                Kind::Sms => "Text message".into(),
                _ => "Email".into(),
            },
            secret: None,
            target: Some(target.to_string()),
            confirmed: false,
            preferred: false,
            last_step: None,
            failures: 0,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        self.sql.insert_mfa_method(&record).await?;
        let masked = self.send(&record, ip).await?;
        Ok((method_id, masked))
    }

    /// Sends a fresh code for a method (enrolled or being enrolled).
    pub async fn send_code(&self, account_id: &str, method_id: &str, ip: Option<&str>) -> Result<String, Error> {
        let m = self
            .sql
            .mfa_methods(account_id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id && m.confirmed && matches!(Kind::parse(&m.kind), Some(Kind::Sms | Kind::Email)))
            .ok_or(Error::NotEnrolled)?;
        if m.failures >= MAX_FAILURES {
            return Err(Error::Locked { failures: m.failures });
        }
        self.send(&m, ip).await
    }

    async fn send(&self, m: &MfaMethodRecord, ip: Option<&str>) -> Result<String, Error> {
        let cooldown = keys::otp_cooldown(&m.account_id, &m.id);
        if let Some(left) = self.kv.ttl(&cooldown).await? {
            return Err(Error::RateLimited {
                retry_after: left.max(1),
                limit: "resend cool-down",
            });
        }
        let hour = Duration::from_secs(3600);
        let sent = self.kv.incr_window(&keys::otp_hourly(&m.account_id), hour).await?;
        if sent > self.limits.per_hour as i64 {
            let left = self.kv.ttl(&keys::otp_hourly(&m.account_id)).await?.unwrap_or(3600);
            return Err(Error::RateLimited {
                retry_after: left.max(1),
                limit: "codes per hour for this account",
            });
        }
        if let Some(ip) = ip {
            let n = self.kv.incr_window(&keys::otp_ip_hourly(ip), hour).await?;
            if n > self.limits.per_ip_hour as i64 {
                let left = self.kv.ttl(&keys::otp_ip_hourly(ip)).await?.unwrap_or(3600);
                return Err(Error::RateLimited {
                    retry_after: left.max(1),
                    limit: "codes per hour from this network address",
                });
            }
        }
        let code = crypto::six_digit_code();
        let challenge = Challenge {
            code_mac: self.code_mac(&m.account_id, &m.id, &code),
            expires_at: self.clock.now() + self.limits.lifetime.as_secs() as i64,
            attempts: 0,
        };
        let json = serde_json::to_string(&challenge).map_err(|e| crate::store::Error::Corrupt(e.to_string()))?;
        // Kept a little past its lifetime so an expired code is told apart
        // from a wrong one.
        self.kv
            .set_ex(
                &keys::otp_challenge(&m.account_id, &m.id),
                &json,
                self.limits.lifetime * 3,
            )
            .await?;
        self.kv.set_ex(&cooldown, "1", self.limits.cooldown).await?;
        let target = m.target.as_deref().unwrap_or("");
        let minutes = self.limits.lifetime.as_secs().div_ceil(60);
        let result = match Kind::parse(&m.kind) {
            Some(Kind::Sms) => {
                self.delivery
                    .sms(target, &format!("{code} is your sign-in code. It expires in {minutes} minutes. Never share it."))
                    .await
            }
            _ => {
                self.delivery
                    .email(
                        target,
                        "Your sign-in code",
                        &format!(
                            "Your sign-in code is {code}\n\nIt expires in {minutes} minutes. If you did not try to sign in, ignore this message and tell your access manager.\n"
                        ),
                    )
                    .await
            }
        };
        if let Err(answer) = result {
            // No usable code went out: let the user ask again at once.
            self.kv
                .del(&[cooldown, keys::otp_challenge(&m.account_id, &m.id)])
                .await?;
            return Err(Error::DeliveryFailed {
                channel: if m.kind == "sms" { "sms" } else { "email" },
                answer,
            });
        }
        Ok(mask(target))
    }

    /// Checks a code for `method_id`: a confirmed method at login, or (with
    /// `enrolling`) the method being enrolled, which it then confirms.
    pub async fn verify_code(
        &self,
        account_id: &str,
        method_id: &str,
        code: &str,
        enrolling: bool,
    ) -> Result<Kind, Error> {
        let m = self
            .sql
            .mfa_methods(account_id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id && m.confirmed != enrolling)
            .ok_or(Error::NotEnrolled)?;
        let kind = Kind::parse(&m.kind)
            .filter(|k| matches!(k, Kind::Sms | Kind::Email))
            .ok_or(Error::NotEnrolled)?;
        if m.failures >= MAX_FAILURES {
            return Err(Error::Locked { failures: m.failures });
        }
        let key = keys::otp_challenge(account_id, method_id);
        let Some(json) = self.kv.get(&key).await? else {
            return Err(Error::CodeExpired);
        };
        let mut ch: Challenge = serde_json::from_str(&json).map_err(|e| crate::store::Error::Corrupt(e.to_string()))?;
        if self.clock.now() >= ch.expires_at {
            self.kv.del(&[key]).await?;
            return Err(Error::CodeExpired);
        }
        let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
        if crypto::constant_time_eq(
            self.code_mac(account_id, method_id, &digits).as_bytes(),
            ch.code_mac.as_bytes(),
        ) {
            // Single use: the challenge is gone whatever happens next.
            if self.kv.get_del(&key).await?.is_none() {
                return Err(Error::Replayed);
            }
            if m.confirmed {
                self.sql.mfa_used(&m.id, self.clock.now()).await?;
            } else {
                self.sql
                    .confirm_mfa_method(&m.id, account_id, 0, self.clock.now())
                    .await?;
            }
            return Ok(kind);
        }
        let failures = self.sql.mfa_failure(&m.id).await?;
        // Tries are counted with an atomic increment, so parallel guesses
        // cannot share one count; the last allowed try kills the code.
        let tries = self
            .kv
            .incr_window(
                &keys::otp_tries(account_id, method_id, ch.expires_at),
                self.limits.lifetime * 3,
            )
            .await?;
        ch.attempts = u32::try_from(tries).unwrap_or(u32::MAX);
        if ch.attempts >= self.limits.attempts {
            self.kv.del(&[key]).await?;
        }
        if failures >= MAX_FAILURES {
            return Err(Error::Locked { failures });
        }
        Err(Error::CodeInvalid {
            attempts_left: (self.limits.attempts - ch.attempts.min(self.limits.attempts)) as i64,
            detail: if ch.attempts >= self.limits.attempts {
                "too many wrong tries for this code: request a new one"
            } else {
                "the code does not match"
            },
        })
    }
}
