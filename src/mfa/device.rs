//! "Remember this device": a signed cookie naming the account, the account's
//! MFA version at the time, and an expiry. Any change to the account's
//! methods bumps the version, which revokes every remembered device.

use super::Mfa;

impl Mfa {
    pub fn remember_token(&self, account_id: &str, version: i64, expires: i64) -> String {
        let body = format!("{account_id}.{version}.{expires}");
        format!("{body}.{}", self.mac.sign("remember-device", &body))
    }

    /// Whether `token` remembers this account's device at its current MFA
    /// version.
    pub fn remembers(&self, token: &str, account_id: &str, version: i64) -> bool {
        let Some((body, tag)) = token.rsplit_once('.') else {
            return false;
        };
        if !self.mac.verify("remember-device", body, tag) {
            return false;
        }
        let mut parts = body.split('.');
        let (Some(a), Some(v), Some(e), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        a == account_id
            && v.parse::<i64>().ok() == Some(version)
            && e.parse::<i64>().is_ok_and(|e| e > self.clock.now())
    }
}
