//! The hot store: short-lived shared state (codes, PAR handles, DPoP `jti`s and nonces, revoked
//! token ids, rate-limit counters, sessions) behind one small contract, kept in Redis in
//! production and in process memory for the embedded single-node default, which writes the
//! keyspaces a restart must not forget through to the database ([`journal`]).
//!
//! Every key belongs to one of the [`keyspaces`], read and written through a typed [`Keyspace`];
//! a part in braces (`dpop-jti:{abc}`) is the Redis Cluster hash tag.

mod journal;
mod keyspace;
pub mod keyspaces;
mod memory;
mod redis;
mod verifier;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use tokio::sync::broadcast;

pub use self::journal::Opener;
pub use self::keyspace::{Counter, HashedKey, KeyId, Keyspace, Marker, RateCell};
pub use self::memory::MemoryStore;
pub use self::redis::{RedisOptions, RedisSafety, RedisStore};
pub use self::verifier::{HotStoreReplayCache, HotStoreRevocationList};

#[derive(Debug, thiserror::Error)]
pub enum HotStoreError {
    #[error("hot store unavailable: {0}")]
    Unavailable(String),
    #[error("hot store answered unexpectedly: {0}")]
    Protocol(String),
    #[error("an entry of `{keyspace}` could not be read or written: {cause}")]
    Corrupt { keyspace: &'static str, cause: String },
}

#[async_trait]
pub trait HotStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `value` under `key` for `ttl`, replacing what was there.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), HotStoreError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError>;
    /// Reads and removes in one atomic step: of two concurrent takes, one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError>;
    /// Stores only if nothing live is there; `true` when this call stored it.
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, HotStoreError>;
    /// `true` when something was removed.
    async fn delete(&self, key: &str) -> Result<bool, HotStoreError>;
    /// Adds one and returns the new count; the first increment starts the `ttl` window.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, HotStoreError>;
    /// A generic cell rate algorithm step at `key`: takes as many of `cost` units as the
    /// limit has left (none when it has none), atomically across nodes; `cost` 0 only reads.
    async fn take_rate(&self, key: &str, limit: RateCells, cost: u32) -> Result<RateTaken, HotStoreError>;
    /// Tells every node's subscribers of `channel` (including this node's).
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), HotStoreError>;
    /// A feed of what is published on `channel` from now on. Messages may be lost while the
    /// store is unreachable, so subscribers also re-read their source of truth periodically.
    fn subscribe(&self, channel: &str) -> broadcast::Receiver<Vec<u8>>;
    /// Readiness: the store answers.
    async fn ping(&self) -> Result<(), HotStoreError>;
    fn kind(&self) -> &'static str;
    /// Whether other processes (other nodes, the CLI) read and write this same store at once.
    /// The in-process store is this process's: a command's change to one of its durable
    /// keyspaces reaches the running node through the database within half a
    /// second, and an ephemeral one never does.
    fn is_shared(&self) -> bool;
}

/// A rate limit in GCRA terms: one unit comes back every `interval_micros`, and at most
/// `burst` are held (`burst` = `interval_micros` × the quota, so quota units fit at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCells {
    pub interval_micros: u64,
    pub quota: u32,
}

impl RateCells {
    pub fn burst_micros(&self) -> u64 {
        self.interval_micros.saturating_mul(u64::from(self.quota))
    }

    /// The GCRA step on a theoretical arrival time (`tat`, microseconds on the store's clock):
    /// what is taken and the new `tat`, so both stores compute exactly the same thing.
    pub fn step(&self, now: u64, tat: Option<u64>, cost: u32) -> (RateTaken, u64) {
        let burst = self.burst_micros();
        let tat = tat.unwrap_or(now).max(now);
        let available = (now + burst).saturating_sub(tat) / self.interval_micros;
        let granted = u64::from(cost).min(available);
        let tat = tat + granted * self.interval_micros;
        let remaining = (now + burst).saturating_sub(tat) / self.interval_micros;
        let retry_after = if remaining == 0 { (tat + self.interval_micros).saturating_sub(now + burst) } else { 0 };
        let taken = RateTaken {
            granted: granted as u32,
            remaining: remaining.min(u64::from(u32::MAX)) as u32,
            retry_after: Duration::from_micros(retry_after),
            full_after: Duration::from_micros(tat - now),
        };
        (taken, tat)
    }
}

/// What a [`HotStore::take_rate`] step took and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateTaken {
    pub granted: u32,
    /// Units left after this step.
    pub remaining: u32,
    /// Until one unit is back, when none is left (else zero).
    pub retry_after: Duration,
    /// Until the limit is whole again.
    pub full_after: Duration,
}

/// An entry of the in-process store (its journal re-reads entries into the same map).
#[derive(Debug)]
struct Item {
    value: Vec<u8>,
    expires_at: Instant,
}

impl Item {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

type Items = DashMap<String, Item>;

/// `kind:{id}`: the id is the hash tag, so one logical item maps to one Redis Cluster slot.
pub(crate) fn key(kind: &str, id: &str) -> String {
    format!("{kind}:{{{id}}}")
}

fn ttl_millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}
