use diesel::prelude::*;

use crate::store::schema::refresh_families;
use crate::store::DbConnection;

/// One refresh-token grant. Scopes and resources are JSON arrays of strings.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_families)]
pub struct RefreshFamilyRow {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: String,
    pub resources: String,
    pub jkt: Option<String>,
    pub auth_time: i64,
    pub sid: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl RefreshFamilyRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(refresh_families::table).values(self).execute(conn).map(drop)
    }

    pub fn find(conn: &mut DbConnection, family_id: &str) -> QueryResult<Option<Self>> {
        refresh_families::table.find(family_id).select(Self::as_select()).first(conn).optional()
    }

    /// Marks the family revoked; `true` when this call did it.
    pub fn revoke(conn: &mut DbConnection, family_id: &str, at: i64) -> QueryResult<bool> {
        let changed =
            diesel::update(refresh_families::table.find(family_id).filter(refresh_families::revoked_at.is_null()))
                .set(refresh_families::revoked_at.eq(Some(at)))
                .execute(conn)?;
        Ok(changed == 1)
    }

    /// Grants of this user that are not revoked.
    pub fn live_of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
        refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::revoked_at.is_null())
            .select(refresh_families::family_id)
            .load(conn)
    }

    /// Grants of this user that are neither revoked nor expired at `now`.
    pub fn live_of_user_at(conn: &mut DbConnection, user_id: &str, now: i64) -> QueryResult<Vec<String>> {
        refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::revoked_at.is_null())
            .filter(refresh_families::expires_at.gt(now))
            .select(refresh_families::family_id)
            .load(conn)
    }

    /// Grants of this client that are neither revoked nor expired at `now` (index
    /// `refresh_families_client`).
    pub fn live_of_client(conn: &mut DbConnection, client_id: &str, now: i64) -> QueryResult<Vec<String>> {
        refresh_families::table
            .filter(refresh_families::client_id.eq(client_id))
            .filter(refresh_families::revoked_at.is_null())
            .filter(refresh_families::expires_at.gt(now))
            .select(refresh_families::family_id)
            .load(conn)
    }

    /// Whether any grant, live or not, names this client.
    pub fn any_of_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(refresh_families::table.filter(refresh_families::client_id.eq(client_id))))
            .get_result(conn)
    }

    /// Grants of this user and client that are not revoked.
    pub fn live_for(conn: &mut DbConnection, user_id: &str, client_id: &str) -> QueryResult<Vec<String>> {
        refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::client_id.eq(client_id))
            .filter(refresh_families::revoked_at.is_null())
            .select(refresh_families::family_id)
            .load(conn)
    }
}
