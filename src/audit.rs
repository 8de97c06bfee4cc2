//! The audit trail (SECURITY.md §7): security decisions written as rows, off the request path.
//! Requests hand events to a bounded queue; one task writes them in batches. When the queue is
//! full (a flood), events are dropped with a warning and counted, never blocking a request.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpMessage, HttpRequest};
use diesel::Connection;
use tokio::sync::{mpsc, watch};

use crate::store::models::NewAuditEvent;
use crate::store::Db;
use crate::telemetry::RequestId;

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

    /// An event about `req`: its request id, origin and peer address filled in.
    pub fn about(req: &HttpRequest, at: i64, action: &str, outcome: &str) -> NewAuditEvent {
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        let origin = req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| o.chars().take(200).collect());
        let ip = req.peer_addr().map(|a| a.ip().to_string());
        NewAuditEvent { request_id, origin, ip, ..NewAuditEvent::new(at, action, outcome) }
    }
}
