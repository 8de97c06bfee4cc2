//! The resource-server verifier's stores in the hot store: for the provider itself (userinfo
//! reads the same revoked set) and for a resource server built on this crate that shares the
//! provider's store. Keys are the verifier crate's names, so both sides agree.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use idp_verify::store::{replay_key, revoked_key};
use idp_verify::{ReplayCache, RevocationList, StoreError};

use super::{HotStore, HotStoreError};

fn unavailable(error: HotStoreError) -> StoreError {
    StoreError(error.to_string())
}

/// Reads the revoked set `POST /revoke` writes: for a resource server that shares the
/// provider's Redis (same URL and `redis_prefix`), or the provider itself.
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
        Ok(self.hot.get(&revoked_key(jti)).await.map_err(unavailable)?.is_some())
    }
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
        self.hot.put_if_absent(&replay_key(id), b"1", ttl).await.map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::hot::MemoryStore;

    #[tokio::test]
    async fn hot_store_revocation_list_reads_what_revoke_writes() {
        let hot: Arc<dyn HotStore> = Arc::new(MemoryStore::new());
        let list = HotStoreRevocationList::new(hot.clone());
        assert!(!list.is_revoked("j1").await.unwrap());
        hot.put(&revoked_key("j1"), b"1", Duration::from_secs(60)).await.unwrap();
        assert!(list.is_revoked("j1").await.unwrap());
        assert!(!list.is_revoked("j2").await.unwrap());
    }

    #[tokio::test]
    async fn hot_store_replay_cache_accepts_an_id_once() {
        let cache = HotStoreReplayCache::new(Arc::new(MemoryStore::new()));
        assert!(cache.first_use("a", Duration::from_secs(60)).await.unwrap());
        assert!(!cache.first_use("a", Duration::from_secs(60)).await.unwrap());
    }
}
