//! The state a resource server reads or writes per request: the provider's revoked token ids
//! and the DPoP proof ids it has already accepted. Both are traits so a resource server can
//! keep them where it likes; the implementations here use the provider's hot store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::store::hot::{key, HotStore, HotStoreError};
use idp_verify::store::revoked_key;

/// A store that could not answer. The verifier fails closed on it (503), never "valid".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<HotStoreError> for StoreError {
    fn from(error: HotStoreError) -> Self {
        Self(error.to_string())
    }
}

/// Revoked access-token ids (`jti`), as `POST /revoke` records them.
#[async_trait]
pub trait RevocationList: Send + Sync + std::fmt::Debug + 'static {
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
}

/// Reads the revoked set the provider writes ([`revoked_key`]): for a resource server that
/// shares the provider's Redis (same URL and `redis_prefix`), or the provider itself.
#[derive(Debug, Clone)]
pub struct HotStoreRevocationList {
    hot: Arc<dyn HotStore>,
}

impl HotStoreRevocationList {
    pub fn new(hot: Arc<dyn HotStore>) -> Self {
        Self { hot }
    }
}

#[async_trait]
impl RevocationList for HotStoreRevocationList {
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.hot.get(&revoked_key(jti)).await?.is_some())
    }
}

/// Remembers DPoP proof ids (RFC 9449 §11.1) so each proof is accepted once.
#[async_trait]
pub trait ReplayCache: Send + Sync + std::fmt::Debug + 'static {
    /// Records `id` for `ttl`; `true` when this call recorded it (first use), `false` when it
    /// was already there.
    async fn first_use(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;
}

/// Proof ids in the hot store, so every node of a resource server sees them.
#[derive(Debug, Clone)]
pub struct HotStoreReplayCache {
    hot: Arc<dyn HotStore>,
}

impl HotStoreReplayCache {
    pub fn new(hot: Arc<dyn HotStore>) -> Self {
        Self { hot }
    }
}

#[async_trait]
impl ReplayCache for HotStoreReplayCache {
    async fn first_use(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.hot.put_if_absent(&key("rs-dpop-jti", id), b"1", ttl).await?)
    }
}

/// Proof ids in this process: the default, right for a resource server of one node. Expired
/// ids are swept every [`MemoryReplayCache::SWEEP_EVERY`] insertions; no background task.
#[derive(Debug, Default)]
pub struct MemoryReplayCache {
    seen: DashMap<String, Instant>,
    inserts: AtomicUsize,
}

impl MemoryReplayCache {
    pub const SWEEP_EVERY: usize = 1024;
}

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn first_use(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        if self.inserts.fetch_add(1, Ordering::Relaxed) % Self::SWEEP_EVERY == Self::SWEEP_EVERY - 1 {
            self.seen.retain(|_, expires_at| *expires_at > now);
        }
        let first = match self.seen.entry(id.to_owned()) {
            Entry::Occupied(mut entry) if *entry.get() <= now => {
                entry.insert(now + ttl);
                true
            }
            Entry::Occupied(_) => false,
            Entry::Vacant(entry) => {
                entry.insert(now + ttl);
                true
            }
        };
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::hot::MemoryStore;

    #[tokio::test]
    async fn memory_replay_cache_accepts_an_id_once_until_it_expires() {
        let cache = MemoryReplayCache::default();
        assert!(cache.first_use("a", Duration::from_secs(60)).await.unwrap());
        assert!(!cache.first_use("a", Duration::from_secs(60)).await.unwrap());
        assert!(cache.first_use("b", Duration::ZERO).await.unwrap());
        assert!(cache.first_use("b", Duration::from_secs(60)).await.unwrap(), "expired ids may come again");
        for i in 0..MemoryReplayCache::SWEEP_EVERY {
            cache.first_use(&format!("x{i}"), Duration::ZERO).await.unwrap();
        }
        assert!(cache.seen.len() < MemoryReplayCache::SWEEP_EVERY, "expired ids are swept");
    }

    #[tokio::test]
    async fn hot_store_revocation_list_reads_what_revoke_writes() {
        let hot: Arc<dyn HotStore> = Arc::new(MemoryStore::new());
        let list = HotStoreRevocationList::new(hot.clone());
        assert!(!list.is_revoked("j1").await.unwrap());
        hot.put(&revoked_key("j1"), b"1", Duration::from_secs(60)).await.unwrap();
        assert!(list.is_revoked("j1").await.unwrap());
        assert!(!list.is_revoked("j2").await.unwrap());
    }
}
