use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::store::schema::{hot_changes, hot_entries};
use crate::store::DbConnection;

/// A durable hot-store entry of the embedded store (`store::hot::journal`); times are unix
/// milliseconds.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = hot_entries)]
pub struct HotEntryRow {
    pub key: String,
    pub value: Vec<u8>,
    pub expires_at: i64,
}

impl HotEntryRow {
    /// Stores `value` under `key` until `expires_at`, replacing what was there.
    pub fn upsert(conn: &mut DbConnection, key: &str, value: &[u8], expires_at: i64) -> QueryResult<()> {
        let row = (hot_entries::key.eq(key), hot_entries::value.eq(value), hot_entries::expires_at.eq(expires_at));
        let replace = (
            hot_entries::value.eq(excluded(hot_entries::value)),
            hot_entries::expires_at.eq(excluded(hot_entries::expires_at)),
        );
        // Both speak `INSERT … ON CONFLICT DO UPDATE`; diesel has it per backend.
        match conn {
            DbConnection::Postgres(pg) => diesel::insert_into(hot_entries::table)
                .values(row)
                .on_conflict(hot_entries::key)
                .do_update()
                .set(replace)
                .execute(pg),
            DbConnection::Sqlite(sqlite) => diesel::insert_into(hot_entries::table)
                .values(row)
                .on_conflict(hot_entries::key)
                .do_update()
                .set(replace)
                .execute(sqlite),
        }
        .map(drop)
    }

    pub fn delete(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
        diesel::delete(hot_entries::table.find(key)).execute(conn).map(drop)
    }

    /// The entry `key` unless it expired before `now`.
    pub fn find_live(conn: &mut DbConnection, key: &str, now: i64) -> QueryResult<Option<Self>> {
        hot_entries::table
            .find(key)
            .filter(hot_entries::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Every entry alive at `now` (a node loads them at start).
    pub fn all_live(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<Self>> {
        hot_entries::table.filter(hot_entries::expires_at.gt(now)).select(Self::as_select()).load(conn)
    }

    /// Removes up to `batch` entries that expired before `now`; returns how many.
    pub fn sweep(conn: &mut DbConnection, now: i64, batch: i64) -> QueryResult<usize> {
        let keys: Vec<String> = hot_entries::table
            .filter(hot_entries::expires_at.le(now))
            .select(hot_entries::key)
            .limit(batch)
            .load(conn)?;
        if keys.is_empty() {
            return Ok(0);
        }
        diesel::delete(hot_entries::table.filter(hot_entries::key.eq_any(&keys))).execute(conn)
    }
}

/// The keys commands changed, for the running node to re-read (`hot_changes`).
pub struct HotChange;

impl HotChange {
    /// Lists `key` as changed by this process, inside the transaction that changed it.
    pub fn record(conn: &mut DbConnection, key: &str, at: i64) -> QueryResult<()> {
        if let DbConnection::Postgres(pg) = conn {
            // A sequence hands out numbers in insert order, not commit order; serializing the
            // (rare) writers of this table keeps a reader polling `seq > n` from skipping one.
            // SQLite has one writer at a time anyway.
            diesel::sql_query("LOCK TABLE hot_changes IN EXCLUSIVE MODE").execute(pg)?;
        }
        diesel::insert_into(hot_changes::table)
            .values((hot_changes::key.eq(key), hot_changes::changed_at.eq(at)))
            .execute(conn)
            .map(drop)
    }

    /// The newest `seq`, 0 when there is none.
    pub fn latest(conn: &mut DbConnection) -> QueryResult<i64> {
        hot_changes::table
            .select(diesel::dsl::max(hot_changes::seq))
            .first::<Option<i64>>(conn)
            .map(Option::unwrap_or_default)
    }

    /// Up to `limit` changes after `seq`, oldest first: `(seq, key)`.
    pub fn after(conn: &mut DbConnection, seq: i64, limit: i64) -> QueryResult<Vec<(i64, String)>> {
        hot_changes::table
            .filter(hot_changes::seq.gt(seq))
            .order(hot_changes::seq.asc())
            .select((hot_changes::seq, hot_changes::key))
            .limit(limit)
            .load(conn)
    }

    /// Forgets changes made before `before` (every node has read them by then).
    pub fn prune(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
        diesel::delete(hot_changes::table.filter(hot_changes::changed_at.lt(before))).execute(conn)
    }
}
