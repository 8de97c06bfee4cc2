use diesel::prelude::*;

use crate::store::schema::client_secrets;
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_secrets)]
pub struct ClientSecretRow {
    pub secret_id: String,
    pub client_id: String,
    /// base64url HMAC-SHA256 of the secret; the secret itself is never stored.
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl ClientSecretRow {
    pub fn of_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<Vec<Self>> {
        client_secrets::table
            .filter(client_secrets::client_id.eq(client_id))
            .order(client_secrets::created_at.desc())
            .select(Self::as_select())
            .load(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(client_secrets::table).values(self).execute(conn).map(drop)
    }

    /// Lets every secret of the client that is still open-ended expire at `at`.
    pub fn expire_current(conn: &mut DbConnection, client_id: &str, at: i64) -> QueryResult<usize> {
        diesel::update(
            client_secrets::table
                .filter(client_secrets::client_id.eq(client_id))
                .filter(client_secrets::expires_at.is_null()),
        )
        .set(client_secrets::expires_at.eq(Some(at)))
        .execute(conn)
    }

    pub fn delete_of_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<usize> {
        diesel::delete(client_secrets::table.filter(client_secrets::client_id.eq(client_id))).execute(conn)
    }
}
