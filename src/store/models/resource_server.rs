use diesel::prelude::*;

use crate::store::schema::resource_servers;
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = resource_servers)]
pub struct ResourceServerRow {
    pub identifier: String,
    pub name: String,
    /// JSON array of scope strings.
    pub scopes: String,
    pub access_token_lifetime: Option<i64>,
    pub require_dpop: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Its access tokens carry the user's `groups` (when the grant has the `groups` scope).
    pub include_groups: bool,
    /// JSON array of the client ids that act for it (introspection).
    pub introspection_clients: String,
}

impl ResourceServerRow {
    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Self>> {
        resource_servers::table.order(resource_servers::identifier).select(Self::as_select()).load(conn)
    }

    pub fn find(conn: &mut DbConnection, identifier: &str) -> QueryResult<Option<Self>> {
        resource_servers::table.find(identifier).select(Self::as_select()).first(conn).optional()
    }

    pub fn update(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::update(resource_servers::table.find(&self.identifier)).set(self).execute(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(resource_servers::table).values(self).execute(conn).map(drop)
    }

    pub fn delete(conn: &mut DbConnection, identifier: &str) -> QueryResult<usize> {
        diesel::delete(resource_servers::table.find(identifier)).execute(conn)
    }
}
