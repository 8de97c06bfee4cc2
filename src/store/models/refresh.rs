use diesel::prelude::*;

use crate::store::schema::{refresh_families, refresh_tokens};
use crate::store::DbConnection;

/// One grant's refresh-token lineage. Scopes and resources are JSON arrays of strings.
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
    pub generation: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub token_hash: String,
    pub family_id: String,
    pub generation: i64,
    pub issued_at: i64,
    pub rotated_at: Option<i64>,
    pub access_jti: String,
    pub access_exp: i64,
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

    /// Families of this user and client that are not revoked.
    pub fn live_for(conn: &mut DbConnection, user_id: &str, client_id: &str) -> QueryResult<Vec<String>> {
        refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::client_id.eq(client_id))
            .filter(refresh_families::revoked_at.is_null())
            .select(refresh_families::family_id)
            .load(conn)
    }

    /// Moves a live family from `generation` to the next; `false` when it was revoked or
    /// another rotation moved it first.
    pub fn advance(conn: &mut DbConnection, family_id: &str, generation: i64) -> QueryResult<bool> {
        let changed = diesel::update(
            refresh_families::table
                .find(family_id)
                .filter(refresh_families::generation.eq(generation))
                .filter(refresh_families::revoked_at.is_null()),
        )
        .set(refresh_families::generation.eq(generation + 1))
        .execute(conn)?;
        Ok(changed == 1)
    }
}

impl RefreshTokenRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(refresh_tokens::table).values(self).execute(conn).map(drop)
    }

    /// The token with this hash and its family.
    pub fn find_with_family(
        conn: &mut DbConnection,
        token_hash: &str,
    ) -> QueryResult<Option<(Self, RefreshFamilyRow)>> {
        refresh_tokens::table
            .inner_join(refresh_families::table)
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select((Self::as_select(), RefreshFamilyRow::as_select()))
            .first(conn)
            .optional()
    }

    /// Marks the token rotated if nobody did yet; `true` for the one caller that did.
    pub fn rotate(conn: &mut DbConnection, token_hash: &str, at: i64) -> QueryResult<bool> {
        let changed =
            diesel::update(refresh_tokens::table.find(token_hash).filter(refresh_tokens::rotated_at.is_null()))
                .set(refresh_tokens::rotated_at.eq(Some(at)))
                .execute(conn)?;
        Ok(changed == 1)
    }

    /// Marks the family's token of `generation` rotated if nobody did yet.
    pub fn rotate_generation(conn: &mut DbConnection, family_id: &str, generation: i64, at: i64) -> QueryResult<bool> {
        let changed = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(family_id))
                .filter(refresh_tokens::generation.eq(generation))
                .filter(refresh_tokens::rotated_at.is_null()),
        )
        .set(refresh_tokens::rotated_at.eq(Some(at)))
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// The access token issued with the family's token of `generation`.
    pub fn access_token_of(
        conn: &mut DbConnection,
        family_id: &str,
        generation: i64,
    ) -> QueryResult<Vec<(String, i64)>> {
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::generation.eq(generation))
            .select((refresh_tokens::access_jti, refresh_tokens::access_exp))
            .load(conn)
    }

    /// Access tokens of the family that may still be live (to revoke with it).
    pub fn live_access_tokens(conn: &mut DbConnection, family_id: &str, now: i64) -> QueryResult<Vec<(String, i64)>> {
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::access_exp.gt(now))
            .select((refresh_tokens::access_jti, refresh_tokens::access_exp))
            .load(conn)
    }
}
