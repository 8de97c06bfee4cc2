//! The audit trail (SECURITY.md §7): security decisions written as rows, off the request path.
//! Requests hand events to a bounded queue; one task writes them in batches. When the queue is
//! full (a flood), events are dropped with a warning and counted, never blocking a request.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use tokio::sync::{mpsc, watch};

use crate::store::models::NewAuditEvent;
use crate::store::Db;

const QUEUE: usize = 10_000;
const BATCH: usize = 500;

/// Refusals audited per second per node; beyond it a flood of bad requests would turn into a
/// flood of database writes, so the excess is only logged.
const REFUSALS_PER_SECOND: u32 = 100;

#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<NewAuditEvent>,
    refusal_window: Arc<(AtomicI64, AtomicU32)>,
}

impl AuditLog {
    /// The log and the task that writes it; the task ends after `stopped` fires and the queue
    /// is drained.
    pub fn start(db: Db, mut stopped: watch::Receiver<bool>) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, mut events) = mpsc::channel::<NewAuditEvent>(QUEUE);
        let writer = tokio::spawn(async move {
            loop {
                let first = tokio::select! {
                    event = events.recv() => event,
                    _ = stopped.changed() => { events.close(); events.recv().await }
                };
                let Some(first) = first else { return };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match events.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let count = batch.len();
                let written = db
                    .run(move |conn| {
                        conn.transaction(|conn| {
                            for event in &batch {
                                event.insert(conn)?;
                            }
                            Ok(())
                        })
                    })
                    .await;
                if let Err(e) = written {
                    tracing::error!(error = %e, count, "audit events could not be written");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        (Self { queue, refusal_window: Arc::new((AtomicI64::new(0), AtomicU32::new(0))) }, writer)
    }

    pub fn record(&self, event: NewAuditEvent) {
        if let Err(e) = self.queue.try_send(event) {
            tracing::warn!(action = %e.into_inner().action, "audit queue full; event dropped");
        }
    }

    /// Records a refused request, within the per-second budget for refusals.
    pub fn record_refusal(&self, event: NewAuditEvent) {
        let (window, used) = &*self.refusal_window;
        if window.swap(event.at, Ordering::Relaxed) != event.at {
            used.store(0, Ordering::Relaxed);
        }
        if used.fetch_add(1, Ordering::Relaxed) < REFUSALS_PER_SECOND {
            self.record(event);
        } else {
            tracing::warn!(action = %event.action, "refusal not audited: over the per-second budget");
        }
    }
}

/// Where a request came from, as the audit trail records it: the edge that took the request
/// fills it in (`http::request_meta`), so services audit without knowing HTTP.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    /// The `Origin` header as sent, at most 200 characters.
    pub origin: Option<String>,
    /// The peer address.
    pub ip: Option<String>,
}

impl RequestMeta {
    /// An event about this request at `at`.
    pub fn event(&self, at: i64, action: &str, outcome: &str) -> NewAuditEvent {
        NewAuditEvent {
            request_id: self.request_id.clone(),
            origin: self.origin.clone(),
            ip: self.ip.clone(),
            ..NewAuditEvent::new(at, action, outcome)
        }
    }
}
