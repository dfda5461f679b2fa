//! Lockout ("regulation"): pure decisions over a failure record and the
//! current time. Recording attempts is the store's job; deciding bans is
//! this module's, so the rule can be tested without a database or a clock.

use crate::config::Lockout as Policy;
use crate::store::sql::FailureRecord;

/// The unix time until which the username is locked, if it is.
pub fn locked_until(rec: &FailureRecord, now: i64) -> Option<i64> {
    rec.locked_until.filter(|until| *until > now)
}

/// The record after one more failed attempt at `now`.
pub fn after_failure(rec: &FailureRecord, now: i64, policy: &Policy) -> FailureRecord {
    let window = policy.window.as_secs() as i64;
    // A failure outside the window, or after a lock has run out, starts a
    // fresh count: the user gets the full allowance again.
    let lock_expired = rec.locked_until.is_some_and(|u| u <= now);
    let fresh = rec.failures == 0 || now - rec.window_start >= window || lock_expired;
    let (failures, window_start) = if fresh {
        (1, now)
    } else {
        (rec.failures + 1, rec.window_start)
    };
    let locked_until = if failures >= policy.max_failures as i64 {
        Some(now + policy.duration.as_secs() as i64)
    } else {
        None
    };
    FailureRecord {
        failures,
        window_start,
        locked_until,
    }
}

/// Attempts left before the lock, for the admin's event.
pub fn attempts_left(rec: &FailureRecord, policy: &Policy) -> i64 {
    (policy.max_failures as i64 - rec.failures).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> Policy {
        Policy {
            max_failures: 3,
            per_ip_failures: 50,
            window: Duration::from_secs(600),
            duration: Duration::from_secs(900),
        }
    }

    #[test]
    fn locks_after_max_failures_within_window() {
        let p = policy();
        let mut r = FailureRecord::default();
        for i in 0..2 {
            r = after_failure(&r, 1000 + i, &p);
            assert_eq!(locked_until(&r, 1000 + i), None);
        }
        r = after_failure(&r, 1002, &p);
        assert_eq!(locked_until(&r, 1002), Some(1902));
        assert_eq!(locked_until(&r, 1902), None, "auto-unlocks when the lock runs out");
    }

    #[test]
    fn failures_outside_window_start_over() {
        let p = policy();
        let mut r = after_failure(&FailureRecord::default(), 0, &p);
        r = after_failure(&r, 1, &p);
        r = after_failure(&r, 700, &p);
        assert_eq!(r.failures, 1);
        assert_eq!(locked_until(&r, 700), None);
    }

    #[test]
    fn after_lock_expires_the_count_restarts() {
        let p = policy();
        let mut r = FailureRecord::default();
        for t in 0..3 {
            r = after_failure(&r, t, &p);
        }
        assert!(locked_until(&r, 3).is_some());
        r = after_failure(&r, 2000, &p);
        assert_eq!(r.failures, 1);
        assert_eq!(locked_until(&r, 2000), None);
    }
}
