//! "Remember this device": a signed cookie naming the account, the account's
//! MFA version at the time, and an expiry. Any change to the account's
//! methods bumps the version, which revokes every remembered device.

use super::Mfa;

impl Mfa {
    /// `aal`: the assurance the second factor reached when the device was
    /// remembered; a portal needing more still asks.
    pub fn remember_token(&self, account_id: &str, version: i64, expires: i64, aal: u8) -> String {
        let body = format!("{account_id}.{version}.{expires}.{aal}");
        format!("{body}.{}", self.mac.sign("remember-device", &body))
    }

    /// The assurance level `token` remembers for this account's device at
    /// its current MFA version, if it does.
    pub fn remembers(&self, token: &str, account_id: &str, version: i64) -> Option<u8> {
        let (body, tag) = token.rsplit_once('.')?;
        if !self.mac.verify("remember-device", body, tag) {
            return None;
        }
        let mut parts = body.split('.');
        let (Some(a), Some(v), Some(e), Some(aal), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let valid = a == account_id
            && v.parse::<i64>().ok() == Some(version)
            && e.parse::<i64>().is_ok_and(|e| e > self.clock.now());
        if valid { aal.parse().ok() } else { None }
    }
}
