//! The audit trail (docs/security.md §7): security decisions written as rows, off the request
//! path. Requests hand events to a bounded queue; one task writes them in batches. When the
//! queue is full (a flood), events are dropped with a warning, never blocking a request.
//!
//! Tokens that clients get for themselves (client_credentials) come at machine rates: a row
//! each would cost more than the token, so they are counted per client and grant type and
//! written as one `token.issued` row per client per [`ISSUANCE_INTERVAL`], with the count.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use diesel::Connection;
use tokio::sync::{mpsc, watch};

use serde::Serialize;

use crate::clock::{parse_time, rfc3339, SharedClock, UnixTime};
use crate::error::FieldError;
use crate::store::models::{AuditEvent, AuditEventFilter, NewAuditEvent};
use crate::store::{Db, StoreError};

const QUEUE: usize = 10_000;
/// How often counted machine issuance is written.
pub const ISSUANCE_INTERVAL: Duration = Duration::from_secs(60);
const BATCH: usize = 500;

/// Refusals audited per second per node; beyond it a flood of bad requests would turn into a
/// flood of database writes, so the excess is only logged.
const REFUSALS_PER_SECOND: u32 = 100;

#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<NewAuditEvent>,
    refusal_window: Arc<(AtomicI64, AtomicU32)>,
    issuance: Arc<IssuanceCounts>,
}

/// client_credentials tokens issued per client since the last write; sharded, so counting
/// takes no global lock on the token path, and looked up by `&str`, so a client already
/// counted costs no allocation.
#[derive(Debug, Default)]
struct IssuanceCounts {
    counts: DashMap<String, u64>,
    /// Start of the interval being counted (Unix seconds).
    since: AtomicI64,
}

impl IssuanceCounts {
    /// The rows for what was counted since the last call, and the counts reset.
    fn drain(&self, now: i64) -> Vec<NewAuditEvent> {
        let since = self.since.swap(now, Ordering::Relaxed);
        let keys: Vec<_> = self.counts.iter().map(|entry| entry.key().clone()).collect();
        keys.into_iter()
            .filter_map(|key| self.counts.remove(&key))
            .map(|(client_id, count)| NewAuditEvent {
                client_id: Some(client_id),
                detail: Some(
                    serde_json::json!({ "grant_type": "client_credentials", "count": count, "from": since, "to": now })
                        .to_string(),
                ),
                ..NewAuditEvent::new(now, "token.issued", "success")
            })
            .collect()
    }
}

impl AuditLog {
    /// The log and the task that writes it; the task ends after `stopped` fires and the queue
    /// is drained.
    pub fn start(
        db: Db,
        clock: SharedClock,
        mut stopped: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, mut events) = mpsc::channel::<NewAuditEvent>(QUEUE);
        let issuance = Arc::new(IssuanceCounts { since: AtomicI64::new(clock.now()), ..Default::default() });
        let counted = issuance.clone();
        let writer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ISSUANCE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut stopping = false;
            loop {
                let mut batch = Vec::new();
                tokio::select! {
                    event = events.recv() => match event {
                        Some(event) => batch.push(event),
                        None => return,
                    },
                    _ = tick.tick() => batch.extend(counted.drain(clock.now())),
                    _ = stopped.changed(), if !stopping => {
                        stopping = true;
                        events.close();
                        batch.extend(counted.drain(clock.now()));
                    }
                }
                if batch.is_empty() {
                    continue;
                }
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
        (Self { queue, refusal_window: Arc::new((AtomicI64::new(0), AtomicU32::new(0))), issuance }, writer)
    }

    pub fn record(&self, event: NewAuditEvent) {
        if let Err(e) = self.queue.try_send(event) {
            tracing::warn!(action = %e.into_inner().action, "audit queue full; event dropped");
        }
    }

    /// Counts a client_credentials token; written with the others of its client and interval.
    pub fn count_client_credentials(&self, client_id: &str) {
        if let Some(mut count) = self.issuance.counts.get_mut(client_id) {
            *count += 1;
            return;
        }
        *self.issuance.counts.entry(client_id.to_owned()).or_insert(0) += 1;
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
    /// The client address (the peer, or what a trusted proxy forwarded).
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

/// Who asked for a change and from where: the audit trail's `actor` and request columns. The
/// edge that took the request names it; services record it with the change they make.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `cli`, `client:<id>` (an admin API caller), `user:<id>`, or `system`.
    pub name: String,
    pub meta: RequestMeta,
}

impl Actor {
    /// An operator at a node's command line.
    pub fn cli() -> Self {
        Self { name: "cli".into(), meta: RequestMeta::default() }
    }

    /// The provider itself (first start, scheduled upkeep).
    pub fn system() -> Self {
        Self { name: "system".into(), meta: RequestMeta::default() }
    }

    /// A client calling the admin API with a token of its own.
    pub fn client(client_id: &str, meta: RequestMeta) -> Self {
        Self { name: format!("client:{client_id}"), meta }
    }

    /// A person calling the admin API with a token issued to them.
    pub fn user(user_id: &str, meta: RequestMeta) -> Self {
        Self { name: format!("user:{user_id}"), meta }
    }

    /// A change made by this actor to `target`, at `at`.
    pub fn event(&self, at: i64, action: &str, target: String) -> NewAuditEvent {
        NewAuditEvent { actor: Some(self.name.clone()), target: Some(target), ..self.meta.event(at, action, "success") }
    }
}

/// The top-level members whose values differ between two JSON objects: what a change changed,
/// by name only (values may be secrets or personal data).
pub fn changed_fields(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut names: Vec<String> =
        before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).cloned().collect();
    names.sort();
    names.dedup();
    names
}

/// Every outcome the code writes, the values `outcome` may filter on.
pub const OUTCOMES: [&str; 6] = ["success", "refused", "failure", "locked", "granted", "denied"];

/// A listing of the trail as an operator asks for it, as text (query parameters of the admin
/// API, flags of `idp audit list`); [`AuditQuery::parse`] checks it once for both edges and
/// names the parameter it refuses.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub origin: Option<String>,
}

/// How a point in time may be written, as refusals say.
pub const TIME_FORMS: &str = "a time: Unix seconds, RFC 3339 (2026-12-01T09:30:00Z) or a duration ago (15m, 7d)";

impl AuditQuery {
    /// The filter this query means at `now`; a refusal names the parameter.
    pub fn parse(self, now: UnixTime) -> Result<AuditEventFilter, FieldError> {
        let time = |name: &str, value: Option<String>| -> Result<Option<i64>, FieldError> {
            value.map(|v| parse_time(&v, now).ok_or_else(|| FieldError::new(name, TIME_FORMS))).transpose()
        };
        let since = time("since", self.since)?;
        let until = time("until", self.until)?;
        if let (Some(since), Some(until)) = (since, until) {
            if since >= until {
                return Err(FieldError::new("until", "must be later than since"));
            }
        }
        let action = self.action.map(|a| checked_text("action", a, |c| c.is_ascii_alphanumeric() || "._-".contains(c)));
        let outcome = match self.outcome {
            Some(o) if !OUTCOMES.contains(&o.as_str()) => {
                return Err(FieldError::new("outcome", format!("must be one of {}", OUTCOMES.join(", "))))
            }
            outcome => outcome,
        };
        let printable = |c: char| !c.is_control();
        Ok(AuditEventFilter {
            since,
            until,
            action: action.transpose()?,
            outcome,
            client_id: self.client_id.map(|v| checked_text("client_id", v, printable)).transpose()?,
            user_id: self.user_id.map(|v| checked_text("user_id", v, printable)).transpose()?,
            actor: self.actor.map(|v| checked_text("actor", v, printable)).transpose()?,
            origin: self.origin.map(|v| checked_text("origin", v, printable)).transpose()?,
        })
    }
}

/// `value` when it is 1 to 200 characters that `allowed` accepts.
fn checked_text(name: &str, value: String, allowed: impl Fn(char) -> bool) -> Result<String, FieldError> {
    if value.is_empty() || value.chars().count() > 200 || !value.chars().all(allowed) {
        let what = match name {
            "action" => "1 to 200 characters of letters, digits, '.', '_' and '-'",
            _ => "1 to 200 characters without control characters",
        };
        return Err(FieldError::new(name, format!("must be {what}")));
    }
    Ok(value)
}

/// One event of the trail as both edges show it (the admin API's JSON, `idp audit list`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub event_id: String,
    /// When, RFC 3339 in UTC.
    #[schema(example = "2026-12-01T09:30:00Z")]
    pub at: String,
    /// When, Unix seconds.
    pub at_unix: i64,
    /// Who made a change: `cli`, `client:<id>`, `user:<id>` or `system`.
    pub actor: Option<String>,
    /// What a change was made to: `client:<id>`, `resource:<identifier>`, `key:<kid>`, ...
    pub target: Option<String>,
    pub action: String,
    pub outcome: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    /// The `Origin` header of the request, as sent.
    pub origin: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// What else the event records (the names of changed members, counts, ...); never secrets.
    #[schema(value_type = Object)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditRecord {
    /// Where a listing continues after this event.
    pub fn cursor(&self) -> (i64, String) {
        (self.at_unix, self.event_id.clone())
    }
}

impl From<AuditEvent> for AuditRecord {
    fn from(event: AuditEvent) -> Self {
        let detail = match event.detail.as_deref().map(serde_json::from_str::<serde_json::Value>) {
            None => serde_json::Map::new(),
            Some(Ok(serde_json::Value::Object(map))) => map,
            // Written by this code as an object; anything else is shown as it was stored.
            Some(_) => serde_json::Map::from_iter([("text".to_owned(), serde_json::Value::from(event.detail.clone()))]),
        };
        Self {
            at: rfc3339(event.at),
            at_unix: event.at,
            event_id: event.event_id,
            actor: event.actor,
            target: event.target,
            action: event.action,
            outcome: event.outcome,
            client_id: event.client_id,
            user_id: event.user_id,
            origin: event.origin,
            ip: event.ip,
            request_id: event.request_id,
            detail,
        }
    }
}

/// Reading the audit trail: newest first, filtered, in keyset pages.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    db: Db,
}

impl AuditTrail {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// At most `limit` events that match `filter`, newest first, below `before` (the
    /// [`AuditRecord::cursor`] of the previous page's last event).
    pub async fn list(
        &self,
        filter: AuditEventFilter,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let events = self.db.run(move |conn| AuditEvent::page(conn, &filter, before, limit)).await?;
        Ok(events.into_iter().map(AuditRecord::from).collect())
    }
}
