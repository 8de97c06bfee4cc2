//! The embedded store's journal: the durable keyspaces ([`Durability`]) of the in-process store
//! written through to the database (`hot_entries`), so a restarted node finds its refresh
//! tokens, revocations, locks and sessions again.
//!
//! - **Write-through with group commit.** A change to a durable key is queued while the map
//!   entry is still held (so the queue has the changes of one key in the order the map made
//!   them), and the caller awaits its commit. One writer thread takes whatever is queued and
//!   commits it in one transaction: concurrent requests share a commit instead of taking turns
//!   on a lock, and a request is answered only once its change is in the database.
//! - **Load at start.** A node reads every live row into memory before it serves; from then on
//!   memory is the truth for reads, and a read never touches SQL.
//! - **Other processes.** A command (`idp users unlock`, `idp grants …`) opens the store as
//!   [`Opener::Command`]: it reads each durable key from the database when it uses it, writes
//!   through as a node does, and lists the key in `hot_changes`. The node polls that list every
//!   [`FOREIGN_POLL`] and re-reads each listed key; while it does, it holds the key's map entry
//!   and first commits what it queued, so the row it reads is ordered after its own changes and
//!   no change of its own to that key can slip in between.
//! - **Expiry.** The memory sweeper also has the writer delete expired rows, a batch at a time.
//!
//! [`Durability`]: super::keyspaces::Durability

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::mapref::entry::Entry;
use diesel::Connection;
use tokio::sync::oneshot;

use super::{HotStoreError, Item, Items};
use crate::store::models::{HotChange, HotEntryRow};
use crate::store::Db;

/// How often a node looks for keys a command changed.
pub const FOREIGN_POLL: Duration = Duration::from_millis(500);
/// Rows the sweeper deletes per transaction (the writer serves queued changes in between).
const SWEEP_BATCH: i64 = 500;
/// Changes one commit takes at most.
const MAX_BATCH: usize = 1024;
/// How long `hot_changes` keeps a change (a node reads it within [`FOREIGN_POLL`]).
const CHANGES_KEPT_MS: i64 = 3_600_000;

/// Who opens the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// The serving node: loads every durable entry at start and hears commands' changes.
    Node,
    /// A one-off command run beside a node: reads durable keys from the database as it uses
    /// them and announces its changes to the node.
    Command,
}

enum Change {
    Put { key: String, value: Vec<u8>, expires_at: i64 },
    Delete { key: String },
}

impl Change {
    fn key(&self) -> &str {
        match self {
            Change::Put { key, .. } | Change::Delete { key } => key,
        }
    }
}

enum Job {
    Write { change: Change, done: oneshot::Sender<Result<(), String>> },
    Sweep,
}

/// A change queued for the database; await it with [`Pending::committed`].
pub struct Pending(oneshot::Receiver<Result<(), String>>);

impl Pending {
    pub async fn committed(self) -> Result<(), HotStoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cause)) => Err(HotStoreError::Unavailable(format!("cannot keep a durable entry: {cause}"))),
            Err(_) => Err(HotStoreError::Unavailable("the durable store's writer stopped".into())),
        }
    }
}

/// The write side of the journal, held by the memory store.
#[derive(Debug)]
pub struct Journal {
    jobs: mpsc::Sender<Job>,
    db: Db,
    opener: Opener,
}

impl Journal {
    /// Opens the journal on `db`: for a node, the live entries to start from (and the writer
    /// thread, which then also polls for commands' changes into `items`).
    pub(super) async fn open(
        db: Db,
        opener: Opener,
        items: Weak<Items>,
    ) -> Result<(Self, Vec<(String, Item)>), HotStoreError> {
        let unavailable = |e: crate::store::StoreError| HotStoreError::Unavailable(e.to_string());
        let loaded = match opener {
            // The cursor before the rows: a change made in between is read again, which is harmless.
            Opener::Node => db
                .run(|conn| {
                    let cursor = HotChange::latest(conn)?;
                    let rows = HotEntryRow::all_live(conn, unix_millis())?;
                    Ok((cursor, rows))
                })
                .await
                .map_err(unavailable)?,
            Opener::Command => (0, Vec::new()),
        };
        let (cursor, rows) = loaded;
        let entries = rows.into_iter().filter_map(|row| Some((row.key, item_of(row.value, row.expires_at)?))).collect();
        let (jobs, queue) = mpsc::channel();
        let writer =
            Writer { queue, db: db.clone(), opener, items, cursor, sweeping: false, last_poll: Instant::now() };
        std::thread::Builder::new()
            .name("idp-hot-journal".into())
            .spawn(move || writer.run())
            .map_err(|e| HotStoreError::Unavailable(format!("cannot start the durable store's writer: {e}")))?;
        Ok((Self { jobs, db, opener }, entries))
    }

    /// Queues `value` under `key` until `expires_at`. Call while holding the key's map entry.
    pub(super) fn put(&self, key: &str, value: &[u8], expires_at: Instant) -> Pending {
        let change = Change::Put { key: key.to_owned(), value: value.to_vec(), expires_at: unix_millis_of(expires_at) };
        self.submit(change)
    }

    /// Queues the removal of `key`. Call while holding the key's map entry.
    pub(super) fn delete(&self, key: &str) -> Pending {
        self.submit(Change::Delete { key: key.to_owned() })
    }

    fn submit(&self, change: Change) -> Pending {
        let (done, committed) = oneshot::channel();
        // A writer that is gone drops `done`, and the caller hears it from `committed`.
        let _ = self.jobs.send(Job::Write { change, done });
        Pending(committed)
    }

    /// Has the writer delete expired rows (a batch at a time, between commits).
    pub(super) fn sweep(&self) {
        let _ = self.jobs.send(Job::Sweep);
    }

    /// Whether the store reads a durable key from the database before each use (a command:
    /// a node may have changed it since this process last looked).
    pub(super) fn reads_through(&self) -> bool {
        self.opener == Opener::Command
    }

    /// The live entry `key` as the database has it now.
    pub(super) async fn read(&self, key: &str) -> Result<Option<Item>, HotStoreError> {
        let key = key.to_owned();
        let row = self
            .db
            .run(move |conn| HotEntryRow::find_live(conn, &key, unix_millis()))
            .await
            .map_err(|e| HotStoreError::Unavailable(e.to_string()))?;
        Ok(row.and_then(|row| item_of(row.value, row.expires_at)))
    }
}

/// The one thread that writes `hot_entries` (and, for a node, reads `hot_changes`).
struct Writer {
    queue: mpsc::Receiver<Job>,
    db: Db,
    opener: Opener,
    items: Weak<Items>,
    /// The last change of a command this node applied.
    cursor: i64,
    /// Expired rows remain to be deleted.
    sweeping: bool,
    last_poll: Instant,
}

impl Writer {
    fn run(mut self) {
        loop {
            let wait = if self.sweeping {
                Duration::ZERO
            } else if self.opener == Opener::Node {
                FOREIGN_POLL.saturating_sub(self.last_poll.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            match self.queue.recv_timeout(wait) {
                Ok(first) => {
                    let batch = self.drain(first);
                    self.commit(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.sweeping {
                self.sweep_once();
            }
            if self.opener == Opener::Node && self.last_poll.elapsed() >= FOREIGN_POLL {
                self.last_poll = Instant::now();
                self.apply_foreign_changes();
            }
        }
    }

    /// `first` and whatever else is queued, up to [`MAX_BATCH`] changes.
    fn drain(&mut self, first: Job) -> Vec<(Change, oneshot::Sender<Result<(), String>>)> {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Write { change, done } => batch.push((change, done)),
                Job::Sweep => self.sweeping = true,
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = self.queue.try_recv().ok();
        }
        batch
    }

    /// Writes `batch` in one transaction and tells each waiter the outcome.
    fn commit(&self, batch: Vec<(Change, oneshot::Sender<Result<(), String>>)>) {
        if batch.is_empty() {
            return;
        }
        let announce = self.opener == Opener::Command;
        let result = self.db.run_blocking(|conn| {
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                let now = unix_millis();
                for (change, _) in &batch {
                    match change {
                        Change::Put { key, value, expires_at } => HotEntryRow::upsert(conn, key, value, *expires_at)?,
                        Change::Delete { key } => HotEntryRow::delete(conn, key)?,
                    }
                    if announce {
                        HotChange::record(conn, change.key(), now)?;
                    }
                }
                Ok(())
            })
        });
        let outcome = result.map_err(|e| e.to_string());
        if let Err(cause) = &outcome {
            tracing::error!(error = %cause, changes = batch.len(), "durable hot-store entries not written");
        }
        for (_, done) in batch {
            let _ = done.send(outcome.clone());
        }
    }

    /// Commits everything queued so far (sweeps wait for the next round).
    fn flush(&mut self) {
        while let Ok(first) = self.queue.try_recv() {
            let batch = self.drain(first);
            self.commit(batch);
        }
    }

    fn sweep_once(&mut self) {
        let now = unix_millis();
        let swept = self.db.run_blocking(|conn| {
            let swept = HotEntryRow::sweep(conn, now, SWEEP_BATCH)?;
            if swept < SWEEP_BATCH as usize {
                HotChange::prune(conn, now - CHANGES_KEPT_MS)?;
            }
            Ok(swept)
        });
        match swept {
            Ok(swept) => self.sweeping = swept >= SWEEP_BATCH as usize,
            Err(e) => {
                tracing::warn!(error = %e, "sweeping expired durable hot-store entries failed; retrying later");
                self.sweeping = false;
            }
        }
    }

    /// Re-reads the keys commands changed since the last look.
    fn apply_foreign_changes(&mut self) {
        let Some(items) = self.items.upgrade() else { return };
        let cursor = self.cursor;
        let changes = match self.db.run_blocking(|conn| HotChange::after(conn, cursor, 256)) {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the durable store's change list; retrying");
                return;
            }
        };
        for (seq, key) in changes {
            // Held until the row is applied: no request changes this key meanwhile, and what
            // this node queued for it before is committed first, so the row read is the newest.
            let entry = items.entry(key.clone());
            self.flush();
            let row = match self.db.run_blocking(|conn| HotEntryRow::find_live(conn, &key, unix_millis())) {
                Ok(row) => row.and_then(|row| item_of(row.value, row.expires_at)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-read a changed durable entry; retrying");
                    return;
                }
            };
            match (entry, row) {
                (Entry::Occupied(mut held), Some(item)) => {
                    held.insert(item);
                }
                (Entry::Vacant(slot), Some(item)) => {
                    slot.insert(item);
                }
                (Entry::Occupied(held), None) => {
                    held.remove();
                }
                (Entry::Vacant(_), None) => {}
            }
            self.cursor = seq;
        }
    }
}

fn item_of(value: Vec<u8>, expires_at: i64) -> Option<Item> {
    let remaining = expires_at - unix_millis();
    (remaining > 0).then(|| Item { value, expires_at: Instant::now() + Duration::from_millis(remaining as u64) })
}

fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The wall-clock time of a monotonic deadline, for a row a later process reads.
fn unix_millis_of(deadline: Instant) -> i64 {
    unix_millis() + deadline.saturating_duration_since(Instant::now()).as_millis() as i64
}
