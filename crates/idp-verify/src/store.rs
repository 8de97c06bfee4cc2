//! The state a resource server reads or writes per request: the provider's revoked token ids
//! and the DPoP proof ids it has already accepted. Both are traits so a resource server can
//! keep them where it likes: in this process ([`MemoryReplayCache`]), in the provider's Redis
//! (the `redis` feature), or in the provider's own hot store (the provider implements them).
//! The provider's key names for them are defined here, once, so a resource server reading the
//! provider's store and the provider writing it cannot drift.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

/// `kind:{id}`: the id is the Redis Cluster hash tag, as the provider's hot store builds keys.
fn key(kind: &str, id: &str) -> String {
    format!("{kind}:{{{id}}}")
}

/// The key (before the store's prefix) under which the provider records a revoked access
/// token id (`jti`) until the token would have expired plus [`crate::token::LEEWAY`].
pub fn revoked_key(jti: &str) -> String {
    key("revoked-jti", jti)
}

/// The key (before the store's prefix) under which a resource server records a DPoP proof
/// id it accepted (RFC 9449 §11.1), so every node of it refuses the proof afterwards.
pub fn replay_key(id: &str) -> String {
    key("rs-dpop-jti", id)
}

/// A store that could not answer. The verifier fails closed on it (503), never "valid".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Revoked access-token ids (`jti`), as `POST /revoke` records them.
#[async_trait]
pub trait RevocationList: Send + Sync + std::fmt::Debug + 'static {
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
}

/// Remembers DPoP proof ids (RFC 9449 §11.1) so each proof is accepted once.
#[async_trait]
pub trait ReplayCache: Send + Sync + std::fmt::Debug + 'static {
    /// Records `id` for `ttl`; `true` when this call recorded it (first use), `false` when it
    /// was already there.
    async fn first_use(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;
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

    #[test]
    fn keys_are_the_providers_hash_tagged_names() {
        assert_eq!(revoked_key("j1"), "revoked-jti:{j1}");
        assert_eq!(replay_key("abc"), "rs-dpop-jti:{abc}");
    }
}
