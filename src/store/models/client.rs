use diesel::prelude::*;

use crate::store::schema::clients;
use crate::store::DbConnection;

/// A client as stored; lists are JSON arrays of strings. Parsed into `registry::Client`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    pub token_endpoint_auth_method: String,
    pub grant_types: String,
    pub scopes: String,
    pub resources: String,
    pub default_resource: Option<String>,
    pub redirect_uris: String,
    pub web_origins: String,
    pub dpop_bound_access_tokens: bool,
    pub access_token_lifetime: Option<i64>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_party: bool,
    pub id_token_signed_response_alg: Option<String>,
    pub require_pushed_authorization_requests: bool,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
}

impl ClientRow {
    pub fn find(conn: &mut DbConnection, client_id: &str) -> QueryResult<Option<Self>> {
        clients::table.find(client_id).select(Self::as_select()).first(conn).optional()
    }

    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Self>> {
        clients::table.order(clients::created_at).select(Self::as_select()).load(conn)
    }

    /// At most `limit` clients by id, after `after`: keyset pagination.
    pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> QueryResult<Vec<Self>> {
        let mut query = clients::table.order(clients::client_id).limit(limit).select(Self::as_select()).into_boxed();
        if let Some(after) = after {
            query = query.filter(clients::client_id.gt(after.to_owned()));
        }
        query.load(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(clients::table).values(self).execute(conn).map(drop)
    }

    pub fn update(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::update(clients::table.find(&self.client_id)).set(self).execute(conn)
    }

    pub fn delete(conn: &mut DbConnection, client_id: &str) -> QueryResult<usize> {
        diesel::delete(clients::table.find(client_id)).execute(conn)
    }
}
