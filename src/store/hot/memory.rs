//! In-process hot store for the embedded single-node default. Sharded map, no global lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::broadcast;

use super::{HotStore, HotStoreError, RateCells, RateTaken};

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

#[derive(Debug, Clone)]
pub struct MemoryStore {
    items: Arc<Items>,
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// Inside a tokio runtime, also starts a sweeper that drops expired items every 30 s; it
    /// ends when the store is dropped.
    pub fn new() -> Self {
        let items = Arc::new(DashMap::new());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&items)));
        }
        Self { items, channels: Arc::default() }
    }

    fn sender(&self, channel: &str) -> broadcast::Sender<Vec<u8>> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(channel.to_owned()).or_insert_with(|| broadcast::channel(64).0).clone()
    }
}

/// Microseconds on this process's monotonic clock, the rate limits' time line.
fn micros_since_start(now: Instant) -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    now.saturating_duration_since(*START.get_or_init(Instant::now)).as_micros() as u64
}

async fn sweep(items: Weak<Items>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(items) = items.upgrade() else { return };
        let now = Instant::now();
        items.retain(|_, item| item.is_live(now));
    }
}

#[async_trait]
impl HotStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), HotStoreError> {
        let item = Item { value: value.to_vec(), expires_at: Instant::now() + ttl };
        self.items.insert(key.to_owned(), item);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError> {
        let now = Instant::now();
        Ok(self.items.get(key).filter(|item| item.is_live(now)).map(|item| item.value.clone()))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError> {
        let now = Instant::now();
        Ok(self.items.remove(key).map(|(_, item)| item).filter(|item| item.is_live(now)).map(|item| item.value))
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, HotStoreError> {
        let now = Instant::now();
        let item = Item { value: value.to_vec(), expires_at: now + ttl };
        match self.items.entry(key.to_owned()) {
            Entry::Occupied(existing) if existing.get().is_live(now) => Ok(false),
            Entry::Occupied(mut expired) => {
                expired.insert(item);
                Ok(true)
            }
            Entry::Vacant(slot) => {
                slot.insert(item);
                Ok(true)
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, HotStoreError> {
        let now = Instant::now();
        Ok(self.items.remove(key).is_some_and(|(_, item)| item.is_live(now)))
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, HotStoreError> {
        let now = Instant::now();
        let fresh = || Item { value: b"1".to_vec(), expires_at: now + ttl };
        match self.items.entry(key.to_owned()) {
            Entry::Occupied(mut existing) if existing.get().is_live(now) => {
                let item = existing.get_mut();
                let count = std::str::from_utf8(&item.value)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| HotStoreError::Protocol(format!("{key} does not hold a counter")))?
                    + 1;
                item.value = count.to_string().into_bytes();
                Ok(count)
            }
            Entry::Occupied(mut expired) => {
                expired.insert(fresh());
                Ok(1)
            }
            Entry::Vacant(slot) => {
                slot.insert(fresh());
                Ok(1)
            }
        }
    }

    async fn take_rate(&self, key: &str, limit: RateCells, cost: u32) -> Result<RateTaken, HotStoreError> {
        let now = Instant::now();
        let now_micros = micros_since_start(now);
        // The entry stays locked (its map shard's) for the step, so two steps never interleave.
        let entry = self.items.entry(key.to_owned());
        let tat = match &entry {
            Entry::Occupied(item) if item.get().is_live(now) => {
                let bytes: [u8; 8] = item
                    .get()
                    .value
                    .as_slice()
                    .try_into()
                    .map_err(|_| HotStoreError::Protocol(format!("{key} does not hold a rate limit")))?;
                Some(u64::from_be_bytes(bytes))
            }
            _ => None,
        };
        let (taken, tat) = limit.step(now_micros, tat, cost);
        if taken.granted > 0 {
            let item = Item { value: tat.to_be_bytes().to_vec(), expires_at: now + taken.full_after };
            match entry {
                Entry::Occupied(mut existing) => {
                    existing.insert(item);
                }
                Entry::Vacant(slot) => {
                    slot.insert(item);
                }
            }
        }
        Ok(taken)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), HotStoreError> {
        // No subscribers is not an error.
        let _ = self.sender(channel).send(message.to_vec());
        Ok(())
    }

    fn subscribe(&self, channel: &str) -> broadcast::Receiver<Vec<u8>> {
        self.sender(channel).subscribe()
    }

    async fn ping(&self) -> Result<(), HotStoreError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn is_shared(&self) -> bool {
        false
    }
}
