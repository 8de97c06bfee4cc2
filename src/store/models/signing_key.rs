use diesel::prelude::*;

use crate::store::schema::signing_keys;
use crate::store::DbConnection;

/// A signing key as stored: public JWK in the clear, private key sealed under the KEK.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    pub public_jwk: String,
    pub sealed_private_key: Vec<u8>,
    pub kek_id: String,
    pub created_at: i64,
    pub signs_from: i64,
}

impl SigningKeyRow {
    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Self>> {
        signing_keys::table.order((signing_keys::alg, signing_keys::generation)).select(Self::as_select()).load(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(signing_keys::table).values(self).execute(conn).map(drop)
    }

    /// Moves a key's `signs_from` from `from` to `to`; 0 when it is not at `from` any more.
    pub fn move_signs_from(conn: &mut DbConnection, kid: &str, from: i64, to: i64) -> QueryResult<usize> {
        diesel::update(signing_keys::table.find(kid).filter(signing_keys::signs_from.eq(from)))
            .set(signing_keys::signs_from.eq(to))
            .execute(conn)
    }

    /// Replaces the sealed private key of `kid` with one sealed under `to_kek`, if it is still
    /// sealed under `from_kek`; 0 when another run re-sealed it first or the key is gone.
    pub fn reseal(
        conn: &mut DbConnection,
        kid: &str,
        from_kek: &str,
        sealed: &[u8],
        to_kek: &str,
    ) -> QueryResult<usize> {
        diesel::update(signing_keys::table.find(kid).filter(signing_keys::kek_id.eq(from_kek)))
            .set((signing_keys::sealed_private_key.eq(sealed), signing_keys::kek_id.eq(to_kek)))
            .execute(conn)
    }

    pub fn delete(conn: &mut DbConnection, kids: &[String]) -> QueryResult<usize> {
        diesel::delete(signing_keys::table.filter(signing_keys::kid.eq_any(kids))).execute(conn)
    }
}
