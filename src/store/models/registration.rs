use diesel::prelude::*;

use crate::store::schema::{client_registrations, initial_access_tokens};
use crate::store::DbConnection;

/// An initial access token (RFC 7591 §3): who may register a client, a number of times, until
/// it expires. Only its keyed hash is stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = initial_access_tokens)]
pub struct InitialAccessTokenRow {
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub uses_left: i64,
}

impl InitialAccessTokenRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(initial_access_tokens::table).values(self).execute(conn).map(drop)
    }

    /// Spends one use of a live token: `true` when there was one to spend. One statement, so
    /// two registrations racing for the last use cannot both have it.
    pub fn spend(conn: &mut DbConnection, token_hash: &str, now: i64) -> QueryResult<bool> {
        use initial_access_tokens::dsl;
        let spent = diesel::update(
            dsl::initial_access_tokens
                .filter(dsl::token_hash.eq(token_hash))
                .filter(dsl::expires_at.gt(now))
                .filter(dsl::uses_left.gt(0)),
        )
        .set(dsl::uses_left.eq(dsl::uses_left - 1))
        .execute(conn)?;
        Ok(spent == 1)
    }
}

/// The registration access token of a dynamically registered client (RFC 7592), hashed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_registrations)]
pub struct ClientRegistrationRow {
    pub client_id: String,
    pub token_hash: String,
    pub created_at: i64,
}

impl ClientRegistrationRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(client_registrations::table).values(self).execute(conn).map(drop)
    }

    pub fn find_by_token(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<Self>> {
        client_registrations::table
            .filter(client_registrations::token_hash.eq(token_hash))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }
}
