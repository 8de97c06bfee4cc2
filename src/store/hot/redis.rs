//! Redis hot store: multiplexed, self-reconnecting connections for commands and one pattern
//! subscription that feeds local subscribers.
//!
//! Each HTTP worker thread (a current-thread runtime) gets its own connection, driven on that
//! thread: a command from a request then needs no hand-off to another thread and back (the
//! wake-ups cost about a fifth of the CPU of a DPoP token request). Other callers share one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{ttl_millis, HotStore, HotStoreError, RateCells, RateTaken};

/// `INCR` and, on the first increment only, `PEXPIRE`, atomically (works before Redis 7's
/// `PEXPIRE … NX`).
const INCREMENT_WITH_TTL: &str = "local n = redis.call('INCR', KEYS[1]) \
     if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n";

/// The GCRA step of `RateCells::step`, on the Redis server's clock (so every node shares one
/// time line): ARGV = interval µs, burst µs, cost; the key holds the theoretical arrival time
/// in µs and lives until the limit is whole again. Returns granted, remaining, retry-after µs
/// and full-after µs. Lua numbers are doubles: exact for µs timestamps until the year 2255.
const TAKE_RATE: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local available = math.floor((now + burst - tat) / interval)
if available < 0 then available = 0 end
local granted = math.min(cost, available)
if granted > 0 then
  tat = tat + granted * interval
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
local remaining = math.floor((now + burst - tat) / interval)
if remaining < 0 then remaining = 0 end
local retry = 0
if remaining == 0 then retry = tat + interval - burst - now end
if retry < 0 then retry = 0 end
return {granted, remaining, retry, tat - now}
";

/// The SHA-1 Redis knows [`TAKE_RATE`] by once it has seen it (`EVALSHA`).
static TAKE_RATE_SHA: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, TAKE_RATE.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
});

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>;

/// After a worker thread failed to open its own connection, how long it uses the shared one
/// before trying again.
const LOCAL_RETRY: Duration = Duration::from_secs(5);

enum LocalConnection {
    Ready(ConnectionManager),
    FailedAt(std::time::Instant),
}

thread_local! {
    /// This thread's connections, by store.
    static LOCAL: std::cell::RefCell<HashMap<u64, LocalConnection>> = std::cell::RefCell::new(HashMap::new());
}

static NEXT_STORE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub struct RedisStore {
    id: u64,
    client: redis::Client,
    config: ConnectionManagerConfig,
    connection: ConnectionManager,
    prefix: String,
    channels: Channels,
    subscriber: JoinHandle<()>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

fn unavailable(e: redis::RedisError) -> HotStoreError {
    HotStoreError::Unavailable(e.to_string())
}

/// What the settings add to the URL: the password (from a file) and, for `rediss://`, the CA to
/// trust instead of the webpki roots and a client certificate. `Debug` shows what is set, never
/// its content.
#[derive(Clone, Default)]
pub struct RedisOptions {
    pub password: Option<String>,
    /// PEM certificates: the only roots trusted to sign the server's certificate.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and private key.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_pem", &self.ca_pem.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .finish()
    }
}

/// The client for `url` with `options` laid over it. A `rediss://` URL always verifies the
/// server's certificate and host name (the client's `#insecure` fragment is refused by the
/// settings).
fn client(url: &str, options: &RedisOptions) -> Result<redis::Client, HotStoreError> {
    use redis::IntoConnectionInfo;
    let mut info = url.into_connection_info().map_err(unavailable)?;
    if let Some(password) = &options.password {
        let redis = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(redis);
    }
    if options.ca_pem.is_none() && options.client_identity.is_none() {
        return redis::Client::open(info).map_err(unavailable);
    }
    let certificates = redis::TlsCertificates {
        client_tls: options
            .client_identity
            .clone()
            .map(|(client_cert, client_key)| redis::ClientTlsConfig { client_cert, client_key }),
        root_cert: options.ca_pem.clone(),
    };
    redis::Client::build_with_tls(info, certificates).map_err(unavailable)
}

/// A connection failure, with a hint when the TLS handshake is what failed.
fn connect_failure(e: redis::RedisError) -> HotStoreError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("tls") {
        HotStoreError::Unavailable(format!(
            "TLS handshake failed: {text} (is the server's certificate signed by a CA in redis_ca_file, or the \
             webpki roots without it, and issued for the host in redis_url?)"
        ))
    } else {
        unavailable(e)
    }
}

/// What Redis's own configuration means for the provider's state, as far as `CONFIG GET` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisSafety {
    /// No eviction, and persistence (AOF or RDB snapshots) on.
    Safe,
    /// What is unsafe, one sentence each, with why it matters.
    Unsafe(Vec<String>),
    /// `CONFIG GET` was refused (managed services often disable it): the reason.
    Unknown(String),
}

impl RedisStore {
    /// Connects and checks the server answers; fails with the reason when it does not.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, HotStoreError> {
        Self::connect_with(url, &RedisOptions::default(), prefix).await
    }

    /// As [`RedisStore::connect`], with a password, a CA or a client certificate from settings.
    pub async fn connect_with(url: &str, options: &RedisOptions, prefix: &str) -> Result<Self, HotStoreError> {
        let client = client(url, options)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client.clone(), config.clone()),
        )
        .await
        .map_err(|_| HotStoreError::Unavailable("timed out connecting".into()))?
        .map_err(connect_failure)?;
        let channels: Channels = Arc::default();
        let subscriber = tokio::spawn(feed_subscribers(client.clone(), format!("{prefix}chan:"), channels.clone()));
        let id = NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let store = Self { id, client, config, connection, prefix: prefix.to_owned(), channels, subscriber };
        store.ping().await?;
        Ok(store)
    }

    /// Reads `maxmemory-policy`, `appendonly` and `save`: whether Redis may delete the
    /// provider's keys under memory pressure, and whether it keeps them across its own restart.
    pub async fn safety(&self) -> RedisSafety {
        let mut values = Vec::new();
        // One parameter per call: Redis before 7 takes only one.
        for parameter in ["maxmemory-policy", "appendonly", "save"] {
            let answer: Result<Vec<String>, _> =
                redis::cmd("CONFIG").arg("GET").arg(parameter).query_async(&mut self.connection.clone()).await;
            match answer {
                Ok(pair) => values.push(pair.get(1).cloned().unwrap_or_default()),
                Err(e) => return RedisSafety::Unknown(format!("CONFIG GET {parameter} was refused: {e}")),
            }
        }
        let [policy, appendonly, save] = [&values[0], &values[1], &values[2]];
        let mut problems = Vec::new();
        if policy != "noeviction" {
            problems.push(format!(
                "maxmemory-policy is {policy}, not noeviction: under memory pressure Redis deletes keys, and a \
                 deleted key un-revokes an access token, forgets a refresh-token family's rotation (reuse goes \
                 undetected) or ends a session"
            ));
        }
        if appendonly != "yes" && save.trim().is_empty() {
            problems.push(
                "neither the AOF (appendonly no) nor RDB snapshots (save \"\") are on: a restart or failover of \
                 Redis forgets every revocation, refresh token and session"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            RedisSafety::Safe
        } else {
            RedisSafety::Unsafe(problems)
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// This thread's own connection on an HTTP worker, else the shared one.
    async fn conn(&self) -> ConnectionManager {
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        if !on_worker {
            return self.connection.clone();
        }
        let local = LOCAL.with(|all| match all.borrow().get(&self.id) {
            Some(LocalConnection::Ready(connection)) => Some(Some(connection.clone())),
            Some(LocalConnection::FailedAt(at)) if at.elapsed() < LOCAL_RETRY => Some(None),
            _ => None,
        });
        match local {
            Some(Some(connection)) => return connection,
            Some(None) => return self.connection.clone(),
            None => {}
        }
        let opened = tokio::time::timeout(
            Duration::from_secs(2),
            ConnectionManager::new_with_config(self.client.clone(), self.config.clone()),
        )
        .await;
        let (entry, connection) = match opened {
            Ok(Ok(connection)) => (LocalConnection::Ready(connection.clone()), connection),
            _ => (LocalConnection::FailedAt(std::time::Instant::now()), self.connection.clone()),
        };
        LOCAL.with(|all| all.borrow_mut().insert(self.id, entry));
        connection
    }
}

/// Keeps one pattern subscription open (reconnecting after failures) and hands each message to
/// the local subscribers of its channel.
async fn feed_subscribers(client: redis::Client, channel_prefix: String, channels: Channels) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.psubscribe(format!("{channel_prefix}*")).await.is_ok() {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Some(channel) = message.get_channel_name().strip_prefix(&channel_prefix) else {
                            continue;
                        };
                        let sender = channels.lock().unwrap_or_else(|p| p.into_inner()).get(channel).cloned();
                        if let Some(sender) = sender {
                            let _ = sender.send(message.get_payload_bytes().to_vec());
                        }
                    }
                }
                tracing::warn!("hot store subscription lost; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "hot store subscription unavailable; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[async_trait]
impl HotStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), HotStoreError> {
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query_async::<()>(&mut self.conn().await)
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError> {
        redis::cmd("GET").arg(self.key(key)).query_async(&mut self.conn().await).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError> {
        redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut self.conn().await).await.map_err(unavailable)
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, HotStoreError> {
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query_async(&mut self.conn().await)
            .await
            .map_err(unavailable)?;
        Ok(stored.is_some())
    }

    async fn delete(&self, key: &str) -> Result<bool, HotStoreError> {
        let removed: i64 =
            redis::cmd("DEL").arg(self.key(key)).query_async(&mut self.conn().await).await.map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, HotStoreError> {
        redis::cmd("EVAL")
            .arg(INCREMENT_WITH_TTL)
            .arg(1)
            .arg(self.key(key))
            .arg(ttl_millis(ttl))
            .query_async(&mut self.conn().await)
            .await
            .map_err(unavailable)
    }

    async fn take_rate(&self, key: &str, limit: RateCells, cost: u32) -> Result<RateTaken, HotStoreError> {
        let mut connection = self.conn().await;
        let key = self.key(key);
        let run = |script: &str, by_hash: bool| {
            let mut command = redis::cmd(if by_hash { "EVALSHA" } else { "EVAL" });
            command.arg(script).arg(1).arg(&key).arg(limit.interval_micros).arg(limit.burst_micros()).arg(cost);
            command
        };
        // The script is sent whole only when this Redis does not know it yet (a restart, a
        // failover): one round trip either way in the steady state.
        let answer = match run(&TAKE_RATE_SHA, true).query_async(&mut connection).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                run(TAKE_RATE, false).query_async(&mut connection).await
            }
            other => other,
        };
        let (granted, remaining, retry_after, full_after): (u64, u64, u64, u64) = answer.map_err(unavailable)?;
        Ok(RateTaken {
            granted: granted.min(u64::from(cost)) as u32,
            remaining: remaining.min(u64::from(u32::MAX)) as u32,
            retry_after: Duration::from_micros(retry_after),
            full_after: Duration::from_micros(full_after),
        })
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), HotStoreError> {
        redis::cmd("PUBLISH")
            .arg(format!("{}chan:{channel}", self.prefix))
            .arg(message)
            .query_async::<i64>(&mut self.conn().await)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    fn subscribe(&self, channel: &str) -> broadcast::Receiver<Vec<u8>> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.entry(channel.to_owned()).or_insert_with(|| broadcast::channel(64).0).subscribe()
    }

    async fn ping(&self) -> Result<(), HotStoreError> {
        let answer: String = redis::cmd("PING").query_async(&mut self.conn().await).await.map_err(unavailable)?;
        if answer == "PONG" {
            Ok(())
        } else {
            Err(HotStoreError::Protocol(format!("PING answered {answer}")))
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn is_shared(&self) -> bool {
        true
    }
}
