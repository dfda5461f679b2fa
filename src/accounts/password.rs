//! Password hashing with argon2id. Hashing runs on the blocking pool (it is
//! deliberately slow); verification of an unknown username runs against a
//! dummy hash with the same parameters so both answers take the same time.
//!
//! At most one hash per core runs at a time; the rest wait their turn. Each
//! hash holds `argon2_memory_kib` (19 MiB by default) while it runs, and the
//! allocator keeps a freed block in the arena of the thread that used it: an
//! unbounded burst of logins (8 a.m.) would otherwise cost that much per
//! concurrent login, and more threads would not finish the work sooner.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config;

/// A password as typed. `Debug` redacts it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("argon2 parameters rejected: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("hashing task did not complete")]
    Join,
}

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    dummy: String,
    turns: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Hashes allowed to run at once: one per core.
fn concurrent_hashes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish()
    }
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

impl Hasher {
    pub fn new(cfg: &config::Password) -> Result<Self, Error> {
        let params = Params::new(
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            cfg.argon2_parallelism,
            None,
        )
        .map_err(|e| Error::Params(e.to_string()))?;
        let dummy = hash_with(&params, "gatehouse-dummy-password-for-timing")?;
        let turns = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrent_hashes()));
        Ok(Self { params, dummy, turns })
    }

    pub fn describe(&self) -> String {
        format!(
            "argon2id m={} KiB, t={}, p={}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )
    }

    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let params = self.params.clone();
        let pw = password.clone();
        // The turn moves into the task: it ends when the hash does, even if
        // the request that asked for it has gone.
        let turn = self.turns.clone().acquire_owned().await.map_err(|_| Error::Join)?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            hash_with(&params, pw.expose())
        })
        .await
        .map_err(|_| Error::Join)?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (then always false, in the same time).
    pub async fn verify(&self, stored: Option<&str>, password: &Password) -> bool {
        let (target, real) = match stored {
            Some(h) => (h.to_string(), true),
            None => (self.dummy.clone(), false),
        };
        let pw = password.clone();
        let Ok(turn) = self.turns.clone().acquire_owned().await else {
            return false;
        };
        let ok = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            PasswordHash::new(&target)
                .ok()
                .map(|parsed| {
                    // Verification uses the parameters recorded in the hash.
                    Argon2::default()
                        .verify_password(pw.expose().as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && real
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, Error> {
    argon(params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hasher() -> Hasher {
        let cfg = crate::config::Config::from_toml_str(
            "test.toml",
            "[password]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
            Vec::new(),
        )
        .unwrap();
        Hasher::new(&cfg.password).unwrap()
    }

    #[tokio::test]
    async fn hashes_wait_their_turn_when_every_core_is_hashing() {
        let h = hasher();
        let pw = Password::new("correct horse battery staple");
        let stored = h.hash(&pw).await.unwrap();
        // Every turn taken: a verification waits instead of starting.
        let all = h
            .turns
            .clone()
            .acquire_many_owned(concurrent_hashes() as u32)
            .await
            .unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(300), h.verify(Some(&stored), &pw)).await;
        assert!(waiting.is_err(), "a hash ran without a turn");
        drop(all);
        let done = tokio::time::timeout(Duration::from_secs(10), h.verify(Some(&stored), &pw)).await;
        assert_eq!(done.ok(), Some(true));
        assert_eq!(
            h.turns.available_permits(),
            concurrent_hashes(),
            "every turn is given back"
        );
    }
}
