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
    pub fn new(at: i64, action: &str, outcome: &str) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
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

impl AuditEvent {
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
