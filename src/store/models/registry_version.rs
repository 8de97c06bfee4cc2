use diesel::prelude::*;

use crate::store::schema::registry_versions;
use crate::store::DbConnection;

/// The change counter of clients and resource servers.
pub struct RegistryVersion;

impl RegistryVersion {
    pub fn current(conn: &mut DbConnection) -> QueryResult<i64> {
        registry_versions::table
            .filter(registry_versions::name.eq("registry"))
            .select(registry_versions::version)
            .first(conn)
    }

    /// Call inside the transaction that changes a client or resource server.
    pub fn bump(conn: &mut DbConnection) -> QueryResult<()> {
        diesel::update(registry_versions::table.filter(registry_versions::name.eq("registry")))
            .set(registry_versions::version.eq(registry_versions::version + 1))
            .execute(conn)
            .map(drop)
    }
}
