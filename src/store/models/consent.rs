use diesel::prelude::*;

use crate::store::schema::consents;
use crate::store::DbConnection;

/// What a user allowed a client: scopes and resources as JSON arrays of strings.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub user_id: String,
    pub client_id: String,
    pub scopes: String,
    pub resources: String,
    pub granted_at: i64,
}

impl ConsentRow {
    pub fn find(conn: &mut DbConnection, user_id: &str, client_id: &str) -> QueryResult<Option<Self>> {
        consents::table.find((user_id, client_id)).select(Self::as_select()).first(conn).optional()
    }

    pub fn for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<Self>> {
        consents::table
            .filter(consents::user_id.eq(user_id))
            .order(consents::granted_at)
            .select(Self::as_select())
            .load(conn)
    }

    /// Replaces the user's consent for this client (call inside a transaction).
    pub fn replace(&self, conn: &mut DbConnection) -> QueryResult<()> {
        Self::delete(conn, &self.user_id, &self.client_id)?;
        diesel::insert_into(consents::table).values(self).execute(conn).map(drop)
    }

    pub fn delete(conn: &mut DbConnection, user_id: &str, client_id: &str) -> QueryResult<usize> {
        diesel::delete(consents::table.find((user_id, client_id))).execute(conn)
    }
}
