//! The ephemeral key-value store: strings and sets with native expiry.
//!
//! Two backends behind one enum (no trait objects, no boxing on the hot
//! path): Redis through a reconnecting `ConnectionManager`, and a process-
//! local map for the single-node quick start. Both honour the same contract,
//! and the integration tests run the domains against real Redis.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use super::Error;

/// One write of a `Kv::write_all` batch.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    Set {
        key: &'a str,
        value: &'a str,
        ttl: Duration,
    },
    SetAdd {
        key: &'a str,
        member: &'a str,
        ttl: Duration,
    },
}

#[derive(Clone)]
pub struct Kv {
    prefix: Arc<str>,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Redis(ConnectionManager),
    Memory(Arc<Mutex<MemoryMap>>),
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv")
            .field("backend", &self.backend_name())
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn unavailable(e: redis::RedisError) -> Error {
    Error::KvUnavailable(Box::new(e))
}

/// GETDEL the secret, and leave a marker holding its value.
static CONSUME_LEAVING_MARKER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local v = redis.call('GETDEL', KEYS[1]) \
         if v then redis.call('SET', KEYS[2], v, 'EX', ARGV[1]) end \
         return v",
    )
});

/// Compare-and-set: KEYS[1] becomes ARGV[2] only while it still holds
/// ARGV[1]; ARGV[3] is the new TTL in seconds, or 0 to keep the current one.
static REPLACE_IF_UNCHANGED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end \
         if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') \
         else redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end \
         return 1",
    )
});

/// KEYS[1] the guard, then one key per write; ARGV three per write: kind
/// (`s` set, `a` set-add), value or member, TTL in seconds.
static GUARDED_WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
         for i = 2, #KEYS do \
           local j = (i - 2) * 3 \
           if ARGV[j + 1] == 's' then \
             redis.call('SET', KEYS[i], ARGV[j + 2], 'EX', ARGV[j + 3]) \
           else \
             redis.call('SADD', KEYS[i], ARGV[j + 2]) \
             redis.call('EXPIRE', KEYS[i], ARGV[j + 3], 'NX') \
             redis.call('EXPIRE', KEYS[i], ARGV[j + 3], 'GT') \
           end \
         end \
         return 1",
    )
});

fn ttl_secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

impl Kv {
    /// Connects lazily: the gateway starts (and `/readyz` reports the
    /// problem) even when Redis is down, and every command after Redis comes
    /// back succeeds without a restart.
    pub fn redis(url: &str, prefix: &str, timeout: Duration) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        Ok(Self {
            prefix: prefix.into(),
            backend: Backend::Redis(manager),
        })
    }

    pub fn memory(prefix: &str) -> Self {
        Self {
            prefix: prefix.into(),
            backend: Backend::Memory(Arc::new(Mutex::new(MemoryMap::default()))),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Redis(_) => "redis",
            Backend::Memory(_) => "memory",
        }
    }

    fn k(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub async fn ping(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let _: String = redis::cmd("PING").query_async(&mut c).await.map_err(unavailable)?;
                Ok(())
            }
            Backend::Memory(_) => Ok(()),
        }
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let _: () = c.set_ex(key, value, ttl_secs(ttl)).await.map_err(unavailable)?;
                Ok(())
            }
            Backend::Memory(m) => {
                m.lock().await.put(key, Slot::Str(value.to_string()), ttl);
                Ok(())
            }
        }
    }

    /// A batch on the in-process store, under one lock (atomic, like MULTI).
    fn apply(&self, m: &mut MemoryMap, writes: &[Write<'_>]) {
        for w in writes {
            match w {
                Write::Set { key, value, ttl } => m.put(self.k(key), Slot::Str(value.to_string()), *ttl),
                Write::SetAdd { key, member, ttl } => m.set_add(self.k(key), member, *ttl),
            }
        }
    }

    /// Several writes in one atomic round trip, made only while `guard`
    /// exists; `false` (nothing written) when it does not. A refresh
    /// rotates its family this way, so a revocation that lands between
    /// reading the token and writing its successor cannot be undone by it.
    pub async fn write_all_if_exists(&self, guard: &str, writes: &[Write<'_>]) -> Result<bool, Error> {
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let mut call = GUARDED_WRITE.key(self.k(guard));
                for w in writes {
                    match w {
                        Write::Set { key, value, ttl } => {
                            call.key(self.k(key)).arg("s").arg(*value).arg(ttl_secs(*ttl));
                        }
                        Write::SetAdd { key, member, ttl } => {
                            call.key(self.k(key)).arg("a").arg(*member).arg(ttl_secs(*ttl));
                        }
                    }
                }
                let done: i64 = call.invoke_async(&mut c).await.map_err(unavailable)?;
                Ok(done == 1)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                if m.get(&self.k(guard)).is_none() {
                    return Ok(false);
                }
                self.apply(&mut m, writes);
                Ok(true)
            }
        }
    }

    /// Several writes in one atomic round trip (MULTI/EXEC): what a token
    /// issue stores, so it costs one round trip instead of one per key.
    pub async fn write_all(&self, writes: &[Write<'_>]) -> Result<(), Error> {
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let mut pipe = redis::pipe();
                pipe.atomic();
                for w in writes {
                    match w {
                        Write::Set { key, value, ttl } => {
                            pipe.set_ex(self.k(key), *value, ttl_secs(*ttl)).ignore();
                        }
                        Write::SetAdd { key, member, ttl } => {
                            let key = self.k(key);
                            let secs = ttl_secs(*ttl);
                            pipe.sadd(&key, *member)
                                .ignore()
                                .cmd("EXPIRE")
                                .arg(&key)
                                .arg(secs)
                                .arg("NX")
                                .ignore()
                                .cmd("EXPIRE")
                                .arg(&key)
                                .arg(secs)
                                .arg("GT")
                                .ignore();
                        }
                    }
                }
                let _: () = pipe.query_async(&mut c).await.map_err(unavailable)?;
                Ok(())
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                self.apply(&mut m, writes);
                Ok(())
            }
        }
    }

    /// Replaces `key`'s value only while it still is `expected` (nothing
    /// changed it, nothing deleted it since it was read); `false` otherwise.
    /// `ttl`: a new expiry, or `None` to keep the remaining one.
    pub async fn replace_if_unchanged(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let done: i64 = REPLACE_IF_UNCHANGED
                    .key(&key)
                    .arg(expected)
                    .arg(value)
                    .arg(ttl.map_or(0, ttl_secs))
                    .invoke_async(&mut c)
                    .await
                    .map_err(unavailable)?;
                Ok(done == 1)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                if m.get(&key).and_then(Slot::as_str).as_deref() != Some(expected) {
                    return Ok(false);
                }
                match ttl {
                    Some(ttl) => m.put(key, Slot::Str(value.to_string()), ttl),
                    None => {
                        if let Some((slot, _)) = m.entries.get_mut(&key) {
                            *slot = Slot::Str(value.to_string());
                        }
                    }
                }
                Ok(true)
            }
        }
    }

    /// Sets only when absent; `true` when this call created the key.
    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let r: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl_secs(ttl))
                    .query_async(&mut c)
                    .await
                    .map_err(unavailable)?;
                Ok(r.is_some())
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                if m.get(&key).is_some() {
                    return Ok(false);
                }
                m.put(key, Slot::Str(value.to_string()), ttl);
                Ok(true)
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                c.get(key).await.map_err(unavailable)
            }
            Backend::Memory(m) => Ok(m.lock().await.get(&key).and_then(Slot::as_str)),
        }
    }

    /// Reads and resets the expiry in one round trip (GETEX): sliding idle
    /// timeouts without a second command.
    pub async fn get_touch(&self, key: &str, ttl: Duration) -> Result<Option<String>, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                redis::cmd("GETEX")
                    .arg(&key)
                    .arg("EX")
                    .arg(ttl_secs(ttl))
                    .query_async(&mut c)
                    .await
                    .map_err(unavailable)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                let v = m.get(&key).and_then(Slot::as_str);
                if v.is_some() {
                    m.touch(&key, ttl);
                }
                Ok(v)
            }
        }
    }

    /// Atomically reads and deletes `key` and, when it existed, leaves a
    /// marker holding the consumed value (for `ttl`): a replay arriving a
    /// moment later finds the marker, never a gap where the secret looks
    /// merely unknown.
    pub async fn consume_leaving_marker(
        &self,
        key: &str,
        marker: &str,
        ttl: Duration,
    ) -> Result<Option<String>, Error> {
        let (key, marker) = (self.k(key), self.k(marker));
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                CONSUME_LEAVING_MARKER
                    .key(&key)
                    .key(&marker)
                    .arg(ttl_secs(ttl))
                    .invoke_async(&mut c)
                    .await
                    .map_err(unavailable)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                let v = m.remove(&key).and_then(|s| s.as_str());
                if let Some(v) = &v {
                    m.put(marker, Slot::Str(v.clone()), ttl);
                }
                Ok(v)
            }
        }
    }

    /// Atomically reads and deletes: the primitive behind every single-use
    /// secret (authorization codes, refresh tokens).
    pub async fn get_del(&self, key: &str) -> Result<Option<String>, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                redis::cmd("GETDEL")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .map_err(unavailable)
            }
            Backend::Memory(m) => Ok(m.lock().await.remove(&key).and_then(|s| s.as_str())),
        }
    }

    pub async fn del(&self, keys: &[String]) -> Result<(), Error> {
        self.del_counting(keys).await.map(|_| ())
    }

    /// `del`, returning how many of the keys existed.
    pub async fn del_counting(&self, keys: &[String]) -> Result<usize, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = keys.iter().map(|k| self.k(k)).collect();
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let n: usize = c.del(keys).await.map_err(unavailable)?;
                Ok(n)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                Ok(keys.iter().filter(|k| m.remove(k).is_some()).count())
            }
        }
    }

    /// Several values in one round trip (MGET), in the order asked.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.k(k)).collect();
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut c)
                    .await
                    .map_err(unavailable)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                Ok(keys.iter().map(|k| m.get(k).and_then(Slot::as_str)).collect())
            }
        }
    }

    /// Increments a counter, starting its expiry with the first increment
    /// (a fixed window); returns the new value.
    pub async fn incr_window(&self, key: &str, window: Duration) -> Result<i64, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let (n,): (i64,) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(ttl_secs(window))
                    .arg("NX")
                    .ignore()
                    .query_async(&mut c)
                    .await
                    .map_err(unavailable)?;
                Ok(n)
            }
            Backend::Memory(m) => {
                let mut m = m.lock().await;
                let current = m.get(&key).and_then(Slot::as_str).and_then(|v| v.parse::<i64>().ok());
                let n = current.unwrap_or(0) + 1;
                if current.is_some() {
                    if let Some(Slot::Str(v)) = m.get_mut(&key) {
                        *v = n.to_string();
                    }
                } else {
                    m.put(key, Slot::Str(n.to_string()), window);
                }
                Ok(n)
            }
        }
    }

    /// Seconds until `key` expires, if it exists.
    pub async fn ttl(&self, key: &str) -> Result<Option<i64>, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let t: i64 = c.ttl(&key).await.map_err(unavailable)?;
                Ok((t >= 0).then_some(t))
            }
            Backend::Memory(m) => {
                let m = m.lock().await;
                Ok(m.entries
                    .get(&key)
                    .map(|(_, exp)| exp.saturating_duration_since(Instant::now()).as_secs() as i64))
            }
        }
    }

    /// Adds a member to a set; the set's expiry only ever grows (EXPIRE NX,
    /// then GT: a longer-lived member is never cut short by a shorter one).
    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), Error> {
        self.write_all(&[Write::SetAdd { key, member, ttl }]).await
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                let _: () = c.srem(key, member).await.map_err(unavailable)?;
                Ok(())
            }
            Backend::Memory(m) => {
                if let Some(Slot::Set(s)) = m.lock().await.get_mut(&key) {
                    s.remove(member);
                }
                Ok(())
            }
        }
    }

    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, Error> {
        let key = self.k(key);
        match &self.backend {
            Backend::Redis(c) => {
                let mut c = c.clone();
                c.smembers(key).await.map_err(unavailable)
            }
            Backend::Memory(m) => Ok(match m.lock().await.get(&key) {
                Some(Slot::Set(s)) => s.iter().cloned().collect(),
                _ => Vec::new(),
            }),
        }
    }
}

#[derive(Clone, Debug)]
enum Slot {
    Str(String),
    Set(HashSet<String>),
}

impl Slot {
    fn as_str(&self) -> Option<String> {
        match self {
            Slot::Str(s) => Some(s.clone()),
            Slot::Set(_) => None,
        }
    }
}

/// Process-local map with lazy expiry, swept on writes so it cannot grow
/// without bound under a stream of short-lived entries.
#[derive(Default)]
struct MemoryMap {
    entries: HashMap<String, (Slot, Instant)>,
    writes: u64,
}

impl MemoryMap {
    fn get(&mut self, key: &str) -> Option<&Slot> {
        self.get_mut(key).map(|s| &*s)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Slot> {
        let now = Instant::now();
        if self.entries.get(key).is_some_and(|(_, exp)| *exp <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key).map(|(s, _)| s)
    }

    fn put(&mut self, key: String, slot: Slot, ttl: Duration) {
        self.sweep();
        self.entries
            .insert(key, (slot, Instant::now() + ttl.max(Duration::from_secs(1))));
    }

    fn touch(&mut self, key: &str, ttl: Duration) {
        if let Some((_, exp)) = self.entries.get_mut(key) {
            *exp = Instant::now() + ttl.max(Duration::from_secs(1));
        }
    }

    fn remove(&mut self, key: &str) -> Option<Slot> {
        let now = Instant::now();
        match self.entries.remove(key) {
            Some((s, exp)) if exp > now => Some(s),
            _ => None,
        }
    }

    fn set_add(&mut self, key: String, member: &str, ttl: Duration) {
        self.sweep();
        let expires = Instant::now() + ttl.max(Duration::from_secs(1));
        let exists = self.get(&key).is_some();
        if !exists {
            self.entries.insert(key.clone(), (Slot::Set(HashSet::new()), expires));
        }
        if let Some((slot, exp)) = self.entries.get_mut(&key) {
            if let Slot::Set(s) = slot {
                s.insert(member.to_string());
            }
            if *exp < expires {
                *exp = expires;
            }
        }
    }

    fn sweep(&mut self) {
        self.writes += 1;
        if self.writes.is_multiple_of(1024) {
            let now = Instant::now();
            self.entries.retain(|_, (_, exp)| *exp > now);
        }
    }
}
