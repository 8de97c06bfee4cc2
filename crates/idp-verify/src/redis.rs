//! The `redis` feature: the revocation list and the DPoP replay cache in the provider's Redis,
//! for a resource server that shares it. Keys are the provider's ([`revoked_key`]) and this
//! crate's ([`replay_key`]) names behind the provider's `redis_prefix`, as the provider's own
//! Redis store writes them.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::store::{replay_key, revoked_key, ReplayCache, RevocationList, StoreError};

/// One self-reconnecting connection to the provider's Redis; cheap to clone, and one value
/// serves as both [`RevocationList`] and [`ReplayCache`].
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {error}"))
}

impl RedisStore {
    /// Connects to `url` and checks the server answers. `prefix` is the provider's
    /// `redis_prefix` (`idp:` unless it was configured otherwise).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        // Short timeouts: a request waits on these, and a store that cannot answer is a 503.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config).await.map_err(unavailable)?;
        let store = Self { connection, prefix: prefix.to_owned() };
        let answer: String =
            redis::cmd("PING").query_async(&mut store.connection.clone()).await.map_err(unavailable)?;
        if answer != "PONG" {
            return Err(StoreError(format!("redis: PING answered {answer}")));
        }
        Ok(store)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl RevocationList for RedisStore {
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(&revoked_key(jti)))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(value.is_some())
    }
}

#[async_trait]
impl ReplayCache for RedisStore {
    async fn first_use(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(&replay_key(id)))
            .arg(b"1")
            .arg("NX")
            .arg("PX")
            .arg((ttl.as_millis() as u64).max(1))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(stored.is_some())
    }
}
