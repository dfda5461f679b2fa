//! Certificate watch as pure functions: how long a certificate has left and
//! which warning threshold (days before notAfter) it has crossed.

use serde::Serialize;

/// What a certificate is used for, as shown on the admin page and in the
/// `use` label of `gatehouse_certificate_expiry_seconds`.
#[derive(Debug, Clone, Serialize)]
pub struct Watched {
    /// The organization, or `gatehouse` for the gateway's own keys.
    pub org: String,
    /// `idp-signing`, `sp-signing`, `token-signing`, ...
    pub usage: String,
    pub subject: String,
    pub serial: String,
    pub sha256: String,
    pub not_after: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Valid,
    /// Within the given number of days of notAfter (the smallest threshold
    /// crossed).
    Expiring {
        threshold_days: u32,
    },
    Expired,
}

/// `warn_days` in any order; the smallest threshold the certificate is
/// inside of decides.
pub fn standing(not_after: i64, now: i64, warn_days: &[u32]) -> Standing {
    if now >= not_after {
        return Standing::Expired;
    }
    let left = not_after - now;
    warn_days
        .iter()
        .copied()
        .filter(|d| left <= i64::from(*d) * 86_400)
        .min()
        .map_or(Standing::Valid, |threshold_days| Standing::Expiring { threshold_days })
}

impl Standing {
    /// A key that orders warnings: a warning is raised again only when this
    /// changes (crossing 30 → 7 → 1 → expired), never per check.
    pub fn level(self) -> String {
        match self {
            Standing::Valid => "valid".into(),
            Standing::Expiring { threshold_days } => format!("{threshold_days}d"),
            Standing::Expired => "expired".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_pick_the_smallest_crossed() {
        let day = 86_400;
        let w = [30, 7, 1];
        assert_eq!(standing(100 * day, 0, &w), Standing::Valid);
        assert_eq!(standing(20 * day, 0, &w), Standing::Expiring { threshold_days: 30 });
        assert_eq!(standing(5 * day, 0, &w), Standing::Expiring { threshold_days: 7 });
        assert_eq!(standing(day / 2, 0, &w), Standing::Expiring { threshold_days: 1 });
        assert_eq!(standing(0, 0, &w), Standing::Expired);
    }
}
