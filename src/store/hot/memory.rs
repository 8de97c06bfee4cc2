//! In-process hot store for the embedded single-node default. Sharded map, no global lock.
//!
//! [`MemoryStore::new`] keeps everything in memory (unit tests); [`MemoryStore::durable`], what
//! a node and the CLI open, also writes the durable keyspaces through to the database
//! ([`journal`](super::journal)), so they survive a restart and a command's change reaches the
//! running node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::broadcast;

use super::journal::{Journal, Opener, Pending};
use super::{keyspaces, HotStore, HotStoreError, Item, Items, RateCells, RateTaken};
use crate::store::Db;

#[derive(Debug, Clone)]
pub struct MemoryStore {
    items: Arc<Items>,
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
    /// Where the durable keyspaces are written through, if anywhere.
    journal: Option<Arc<Journal>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// Everything in memory, forgotten when the process ends. Inside a tokio runtime, also
    /// starts a sweeper that drops expired items every 30 s; it ends when the store is dropped.
    pub fn new() -> Self {
        let items = Arc::new(DashMap::new());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&items), Weak::new()));
        }
        Self { items, channels: Arc::default(), journal: None }
    }

    /// The durable keyspaces ([`keyspaces::Durability`]) also kept in `db`: a node loads them
    /// now and hears what commands change; a command reads them as it uses them. Call inside a
    /// tokio runtime.
    pub async fn durable(db: Db, opener: Opener) -> Result<Self, HotStoreError> {
        let items = Arc::new(DashMap::new());
        let (journal, entries) = Journal::open(db, opener, Arc::downgrade(&items)).await?;
        for (key, item) in entries {
            items.insert(key, item);
        }
        let journal = Arc::new(journal);
        tokio::spawn(sweep(Arc::downgrade(&items), Arc::downgrade(&journal)));
        Ok(Self { items, channels: Arc::default(), journal: Some(journal) })
    }

    fn sender(&self, channel: &str) -> broadcast::Sender<Vec<u8>> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(channel.to_owned()).or_insert_with(|| broadcast::channel(64).0).clone()
    }

    /// The journal, if `key` is durable and this store keeps one.
    fn journal_of(&self, key: &str) -> Option<&Journal> {
        self.journal.as_deref().filter(|_| keyspaces::is_durable(key))
    }

    /// For a command: takes the database's version of a durable `key` into memory first.
    async fn read_through(&self, key: &str) -> Result<(), HotStoreError> {
        let Some(journal) = self.journal.as_deref().filter(|journal| journal.reads_through()) else {
            return Ok(());
        };
        if !keyspaces::is_durable(key) {
            return Ok(());
        }
        match journal.read(key).await? {
            Some(item) => {
                self.items.insert(key.to_owned(), item);
            }
            None => {
                self.items.remove(key);
            }
        }
        Ok(())
    }
}

/// Microseconds on this process's monotonic clock, the rate limits' time line.
fn micros_since_start(now: Instant) -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    now.saturating_duration_since(*START.get_or_init(Instant::now)).as_micros() as u64
}

async fn committed(pending: Option<Pending>) -> Result<(), HotStoreError> {
    match pending {
        Some(pending) => pending.committed().await,
        None => Ok(()),
    }
}

async fn sweep(items: Weak<Items>, journal: Weak<Journal>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(items) = items.upgrade() else { return };
        let now = Instant::now();
        items.retain(|_, item| item.is_live(now));
        if let Some(journal) = journal.upgrade() {
            journal.sweep();
        }
    }
}

#[async_trait]
impl HotStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), HotStoreError> {
        let item = Item { value: value.to_vec(), expires_at: Instant::now() + ttl };
        let pending = {
            // The change is queued while the entry is held: the journal gets one key's changes
            // in the order the map made them.
            let entry = self.items.entry(key.to_owned());
            let pending = self.journal_of(key).map(|journal| journal.put(key, value, item.expires_at));
            entry.insert(item);
            pending
        };
        committed(pending).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError> {
        self.read_through(key).await?;
        let now = Instant::now();
        Ok(self.items.get(key).filter(|item| item.is_live(now)).map(|item| item.value.clone()))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, HotStoreError> {
        self.read_through(key).await?;
        let now = Instant::now();
        let (value, pending) = match self.items.entry(key.to_owned()) {
            Entry::Occupied(held) => {
                let pending = self.journal_of(key).map(|journal| journal.delete(key));
                let (_, item) = held.remove_entry();
                (item.is_live(now).then_some(item.value), pending)
            }
            Entry::Vacant(_) => (None, None),
        };
        committed(pending).await?;
        Ok(value)
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, HotStoreError> {
        self.read_through(key).await?;
        let now = Instant::now();
        let item = Item { value: value.to_vec(), expires_at: now + ttl };
        let pending = match self.items.entry(key.to_owned()) {
            Entry::Occupied(existing) if existing.get().is_live(now) => return Ok(false),
            Entry::Occupied(mut expired) => {
                let pending = self.journal_of(key).map(|journal| journal.put(key, value, item.expires_at));
                expired.insert(item);
                pending
            }
            Entry::Vacant(slot) => {
                let pending = self.journal_of(key).map(|journal| journal.put(key, value, item.expires_at));
                slot.insert(item);
                pending
            }
        };
        committed(pending).await?;
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, HotStoreError> {
        self.read_through(key).await?;
        let now = Instant::now();
        let (removed, pending) = match self.items.entry(key.to_owned()) {
            Entry::Occupied(held) => {
                let pending = self.journal_of(key).map(|journal| journal.delete(key));
                let (_, item) = held.remove_entry();
                (item.is_live(now), pending)
            }
            Entry::Vacant(_) => (false, None),
        };
        committed(pending).await?;
        Ok(removed)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, HotStoreError> {
        self.read_through(key).await?;
        let now = Instant::now();
        let fresh = || Item { value: b"1".to_vec(), expires_at: now + ttl };
        let (count, pending) = match self.items.entry(key.to_owned()) {
            Entry::Occupied(mut existing) if existing.get().is_live(now) => {
                let item = existing.get_mut();
                let count = std::str::from_utf8(&item.value)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| HotStoreError::Protocol(format!("{key} does not hold a counter")))?
                    + 1;
                item.value = count.to_string().into_bytes();
                let pending = self.journal_of(key).map(|journal| journal.put(key, &item.value, item.expires_at));
                (count, pending)
            }
            Entry::Occupied(mut expired) => {
                let item = fresh();
                let pending = self.journal_of(key).map(|journal| journal.put(key, &item.value, item.expires_at));
                expired.insert(item);
                (1, pending)
            }
            Entry::Vacant(slot) => {
                let item = fresh();
                let pending = self.journal_of(key).map(|journal| journal.put(key, &item.value, item.expires_at));
                slot.insert(item);
                (1, pending)
            }
        };
        committed(pending).await?;
        Ok(count)
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
