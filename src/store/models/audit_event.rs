use diesel::prelude::*;

use crate::store::schema::audit_events;
use crate::store::{Db, DbConnection, StoreError};

/// A security decision, as `docs/security.md` §7 asks: who, from where, did what, with what outcome.
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub event_id: String,
    pub at: i64,
    pub request_id: Option<String>,
    pub origin: Option<String>,
    pub ip: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub action: String,
    pub outcome: String,
    pub detail: Option<String>,
    /// Who made a change: `cli`, `client:<id>`, `user:<id>` or `system`.
    pub actor: Option<String>,
    /// What a change was made to (`client:<id>`, `user:<id>`, `resource:<identifier>`, ...).
    pub target: Option<String>,
}

impl NewAuditEvent {
    /// An event with a fresh id: a UUIDv7, so of two events in the same second the later one
    /// sorts above (the trail is read newest first by `at`, then `event_id`).
    pub fn new(at: i64, action: &str, outcome: &str) -> Self {
        Self {
            event_id: uuid::Uuid::now_v7().to_string(),
            at,
            action: action.to_owned(),
            outcome: outcome.to_owned(),
            ..Self::default()
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table).values(self).execute(conn).map(drop)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub event_id: String,
    pub at: i64,
    pub request_id: Option<String>,
    pub origin: Option<String>,
    pub ip: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub action: String,
    pub outcome: String,
    pub detail: Option<String>,
    /// Who made a change: `cli`, `client:<id>`, `user:<id>` or `system`.
    pub actor: Option<String>,
    /// What a change was made to (`client:<id>`, `user:<id>`, `resource:<identifier>`, ...).
    pub target: Option<String>,
}

/// What a listing of the trail keeps: each `Some` is an exact match (`since` inclusive, `until`
/// exclusive), and `before` the sort key of the last row of the previous page.
#[derive(Debug, Clone, Default)]
pub struct AuditEventFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub origin: Option<String>,
}

impl AuditEvent {
    /// At most `limit` events matching `filter`, newest first (`at` then `event_id`, both
    /// descending), strictly below `before`: keyset pagination on `audit_events_at_id`, so rows
    /// written meanwhile (at the head) never shift a page that follows.
    pub fn page(
        conn: &mut DbConnection,
        filter: &AuditEventFilter,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        let mut query = audit_events::table
            .order((audit_events::at.desc(), audit_events::event_id.desc()))
            .limit(limit)
            .select(Self::as_select())
            .into_boxed();
        if let Some((at, event_id)) = before {
            // `at <= ?` alone bounds the index range; the OR picks the rows below the key.
            query = query
                .filter(audit_events::at.le(at))
                .filter(audit_events::at.lt(at).or(audit_events::at.eq(at).and(audit_events::event_id.lt(event_id))));
        }
        if let Some(since) = filter.since {
            query = query.filter(audit_events::at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_events::at.lt(until));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_events::action.eq(action.clone()));
        }
        if let Some(outcome) = &filter.outcome {
            query = query.filter(audit_events::outcome.eq(outcome.clone()));
        }
        if let Some(client_id) = &filter.client_id {
            query = query.filter(audit_events::client_id.eq(client_id.clone()));
        }
        if let Some(user_id) = &filter.user_id {
            query = query.filter(audit_events::user_id.eq(user_id.clone()));
        }
        if let Some(actor) = &filter.actor {
            query = query.filter(audit_events::actor.eq(actor.clone()));
        }
        if let Some(origin) = &filter.origin {
            query = query.filter(audit_events::origin.eq(origin.clone()));
        }
        query.load(conn)
    }

    pub fn recent(conn: &mut DbConnection, action: &str, limit: i64) -> QueryResult<Vec<Self>> {
        audit_events::table
            .filter(audit_events::action.eq(action))
            .order(audit_events::at.desc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }
}

impl Db {
    /// Applies `write` and inserts `audit` in one transaction, so a change and its audit row
    /// land together or not at all. Blocking.
    pub fn write_audited<T>(
        &self,
        audit: &NewAuditEvent,
        write: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> Result<T, StoreError> {
        self.run_blocking(|conn| {
            conn.transaction(|conn| {
                let value = write(conn)?;
                audit.insert(conn)?;
                Ok(value)
            })
        })
    }
}
