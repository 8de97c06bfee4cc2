//! Typed access to the hot store: a [`Keyspace`] binds one of the names in
//! [`keyspaces`](super::keyspaces) to the type of value it holds, and reads and writes that type
//! (JSON on the wire), so no caller invents a key or decodes bytes by hand. Single use is a
//! `delete` that reports whether it removed the entry (of two concurrent deletes one does).

use std::marker::PhantomData;
use std::time::Duration;

use ring::digest;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keyspaces::KeyspaceName;
use super::{HotStore, HotStoreError, RateCells, RateTaken};

/// The key of a secret (a code, a refresh token, a session id, a request URI): its SHA-256,
/// base64url. The secret itself never reaches the store, so a read of Redis yields nothing a
/// client could present.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct HashedKey(String);

impl HashedKey {
    pub fn of(secret: &str) -> Self {
        Self::of_bytes(secret.as_bytes())
    }

    /// The hash of several parts joined by a newline (e.g. an endpoint and a proof `jti`), so
    /// that `("a\nb", "c")` and `("a", "b\nc")` are told apart only by content that cannot hold
    /// a newline.
    pub fn of_parts(parts: &[&str]) -> Self {
        Self::of_bytes(parts.join("\n").as_bytes())
    }

    fn of_bytes(bytes: &[u8]) -> Self {
        use base64::Engine;
        let hash = digest::digest(&digest::SHA256, bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.as_ref()))
    }

    /// A hash kept earlier (e.g. a successor's) back as a key.
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies an entry within its keyspace.
pub trait KeyId {
    fn key_id(&self) -> &str;
}

impl KeyId for HashedKey {
    fn key_id(&self) -> &str {
        &self.0
    }
}

impl KeyId for str {
    fn key_id(&self) -> &str {
        self
    }
}

impl KeyId for String {
    fn key_id(&self) -> &str {
        self
    }
}

/// A keyspace whose entries are present or absent (a revoked id, a used proof, a lock).
#[derive(Debug, Clone, Copy)]
pub struct Marker;

/// One keyspace and the type of its values.
pub struct Keyspace<V> {
    name: &'static KeyspaceName,
    value: PhantomData<fn() -> V>,
}

impl<V> Keyspace<V> {
    pub const fn of(name: &'static KeyspaceName) -> Self {
        Self { name, value: PhantomData }
    }

    /// `name:{id}`: the id is the Redis Cluster hash tag, so one logical item maps to one slot.
    pub fn key(&self, id: &(impl KeyId + ?Sized)) -> String {
        self.name.key_of(id.key_id())
    }

    /// `true` when something was removed.
    pub async fn delete(&self, hot: &dyn HotStore, id: &(impl KeyId + ?Sized)) -> Result<bool, HotStoreError> {
        hot.delete(&self.key(id)).await
    }
}

impl<V: Serialize + DeserializeOwned> Keyspace<V> {
    pub async fn get(&self, hot: &dyn HotStore, id: &(impl KeyId + ?Sized)) -> Result<Option<V>, HotStoreError> {
        hot.get(&self.key(id)).await?.map(|bytes| self.decode(&bytes)).transpose()
    }

    pub async fn put(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
        value: &V,
        ttl: Duration,
    ) -> Result<(), HotStoreError> {
        hot.put(&self.key(id), &self.encode(value)?, ttl).await
    }

    /// As [`Keyspace::get`], except that an entry which no longer decodes (written by another
    /// version) counts as absent; a store that does not answer is still an error.
    pub async fn get_readable(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
    ) -> Result<Option<V>, HotStoreError> {
        match self.get(hot, id).await {
            Err(HotStoreError::Corrupt { .. }) => Ok(None),
            other => other,
        }
    }

    /// Stores only if nothing live is there; `true` when this call stored it.
    pub async fn put_if_absent(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
        value: &V,
        ttl: Duration,
    ) -> Result<bool, HotStoreError> {
        hot.put_if_absent(&self.key(id), &self.encode(value)?, ttl).await
    }

    fn encode(&self, value: &V) -> Result<Vec<u8>, HotStoreError> {
        serde_json::to_vec(value).map_err(|e| HotStoreError::Corrupt { keyspace: self.name.name, cause: e.to_string() })
    }

    fn decode(&self, bytes: &[u8]) -> Result<V, HotStoreError> {
        serde_json::from_slice(bytes)
            .map_err(|e| HotStoreError::Corrupt { keyspace: self.name.name, cause: e.to_string() })
    }
}

impl Keyspace<Marker> {
    pub async fn mark(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
        ttl: Duration,
    ) -> Result<(), HotStoreError> {
        hot.put(&self.key(id), b"1", ttl).await
    }

    pub async fn is_marked(&self, hot: &dyn HotStore, id: &(impl KeyId + ?Sized)) -> Result<bool, HotStoreError> {
        Ok(hot.get(&self.key(id)).await?.is_some())
    }

    /// Marks `id` unless it is marked already; `true` the first time (single use across nodes).
    pub async fn first_use(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
        ttl: Duration,
    ) -> Result<bool, HotStoreError> {
        hot.put_if_absent(&self.key(id), b"1", ttl).await
    }
}

/// A keyspace of counters that start a window at their first increment.
#[derive(Debug, Clone, Copy)]
pub struct Counter;

impl Keyspace<Counter> {
    /// Adds one and returns the new count; the first increment starts the `window`.
    pub async fn increment(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
        window: Duration,
    ) -> Result<i64, HotStoreError> {
        hot.increment(&self.key(id), window).await
    }
}

/// A keyspace of rate limits (GCRA cells).
#[derive(Debug, Clone, Copy)]
pub struct RateCell;

impl Keyspace<RateCell> {
    /// Takes up to `cost` units of `limit` for `id`; `cost` 0 only reads.
    pub async fn take(
        &self,
        hot: &dyn HotStore,
        id: &(impl KeyId + ?Sized),
        limit: RateCells,
        cost: u32,
    ) -> Result<RateTaken, HotStoreError> {
        hot.take_rate(&self.key(id), limit, cost).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_key_is_the_base64url_sha256_of_the_secret() {
        // SHA-256("abc"), RFC 6234 test vector, base64url without padding.
        assert_eq!(HashedKey::of("abc").as_str(), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        assert_eq!(HashedKey::of_parts(&["a", "b"]), HashedKey::of("a\nb"));
    }
}
