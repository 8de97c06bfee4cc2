use diesel::prelude::*;

use crate::store::schema::sealed_secrets;
use crate::store::DbConnection;

/// A secret other than a signing key, sealed under the KEK (the derivation root).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sealed_secrets)]
pub struct SealedSecretRow {
    pub name: String,
    pub sealed: Vec<u8>,
    pub kek_id: String,
    pub created_at: i64,
}

impl SealedSecretRow {
    /// The associated data it is sealed with: its name, apart from every kid.
    pub fn context(name: &str) -> Vec<u8> {
        format!("sealed-secret:{name}").into_bytes()
    }

    pub fn find(conn: &mut DbConnection, name: &str) -> QueryResult<Option<Self>> {
        sealed_secrets::table.find(name).select(Self::as_select()).first(conn).optional()
    }

    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Self>> {
        sealed_secrets::table.order(sealed_secrets::name).select(Self::as_select()).load(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(sealed_secrets::table).values(self).execute(conn).map(drop)
    }

    /// Re-seals `name` under `to_kek` if it is still sealed under `from_kek`; 0 otherwise.
    pub fn reseal(
        conn: &mut DbConnection,
        name: &str,
        from_kek: &str,
        sealed: &[u8],
        to_kek: &str,
    ) -> QueryResult<usize> {
        diesel::update(sealed_secrets::table.find(name).filter(sealed_secrets::kek_id.eq(from_kek)))
            .set((sealed_secrets::sealed.eq(sealed), sealed_secrets::kek_id.eq(to_kek)))
            .execute(conn)
    }
}
