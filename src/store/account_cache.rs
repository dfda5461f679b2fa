//! A short-lived copy of accounts with their memberships, as the token
//! endpoints read them on every refresh and userinfo call (and nothing
//! else: logins and administration read the database).
//!
//! Each SQLite query is a hand-off to the connection's worker thread, and
//! those hand-offs dominated the refresh and userinfo profiles. The cache
//! lives inside `Sql`, so every write this process makes to an account or
//! its memberships forgets the entry before it returns; a write made by
//! another process (the command line) is seen within the TTL. A read that
//! raced a write is not kept: every forget moves a generation counter, and
//! an entry is only stored if the counter has not moved since its read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::sql::{AccountRecord, MembershipRecord};

pub type Entry = (AccountRecord, Vec<MembershipRecord>);

/// Entries kept at most; past it, expired entries go, then everything.
const CAPACITY: usize = 50_000;

#[derive(Default)]
pub struct AccountCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (Instant, Entry)>>,
}

/// Counts only: the entries hold email addresses and password hashes.
impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map_or(0, |e| e.len());
        f.debug_struct("AccountCache")
            .field("ttl", &self.ttl)
            .field("entries", &n)
            .finish()
    }
}

impl AccountCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, ..Self::default() }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The generation to hand back to `put` after reading from SQL.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, id: &str) -> Option<Entry> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, e)| e.clone())
    }

    /// Keeps `entry` if nothing was forgotten since `generation` was read.
    pub fn put(&self, id: &str, entry: &Entry, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock that `forget` also takes: a forget either
        // happened before (the counter moved) or comes after (and removes).
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(id.to_string(), (Instant::now(), entry.clone()));
    }

    /// Forgets one account (`Some`) or every account (`None`).
    pub fn forget(&self, id: Option<&str>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        match id {
            Some(id) => {
                entries.remove(id);
            }
            None => entries.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str) -> Entry {
        (
            AccountRecord {
                id: "a1".into(),
                username: "dr.adams".into(),
                email: "dr.adams@northside.example".into(),
                phone: None,
                account_type: "provider".into(),
                status: status.into(),
                password_hash: None,
                password_changed_at: None,
                created_at: 0,
                last_login_at: None,
            },
            vec![],
        )
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = AccountCache::new(Duration::from_secs(60));
        let before = cache.generation();
        // A reader fetched the old row; a writer changed it and forgot.
        cache.forget(Some("a1"));
        cache.put("a1", &entry("active"), before);
        assert!(cache.get("a1").is_none(), "the stale read must not be cached");
        // A read after the write is kept until the next forget.
        cache.put("a1", &entry("disabled"), cache.generation());
        assert_eq!(cache.get("a1").unwrap().0.status, "disabled");
        cache.forget(None);
        assert!(cache.get("a1").is_none());
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_keeps_nothing() {
        let cache = AccountCache::new(Duration::from_millis(30));
        cache.put("a1", &entry("active"), cache.generation());
        assert!(cache.get("a1").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("a1").is_none());
        let off = AccountCache::new(Duration::ZERO);
        off.put("a1", &entry("active"), off.generation());
        assert!(off.get("a1").is_none());
    }
}
