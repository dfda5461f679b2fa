//! Time as an injected dependency: lockout windows, token expiry and session
//! lifetimes are decided against a `Clock`, so tests can move time forward
//! without sleeping. Nothing else in the crate reads the system time for a
//! policy decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> i64;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. Starts at the real time so that
/// tokens it stamps are plausible to external clients.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(SystemClock.now()),
        })
    }

    /// The current manual time (for tests that compute codes "now").
    pub fn now_for_test(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    pub fn set(&self, unix: i64) {
        self.now.store(unix, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// Formats unix seconds as RFC 3339 UTC, for pages, logs and JSON.
pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Formats unix seconds as `HH:MM UTC`, the form users see on lockout pages.
pub fn hh_mm_utc(unix: i64) -> String {
    let secs_of_day = unix.rem_euclid(86_400);
    format!("{:02}:{:02} UTC", secs_of_day / 3600, (secs_of_day % 3600) / 60)
}
