use diesel::prelude::*;

use crate::store::schema::{group_members, groups};
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = groups)]
#[diesel(treat_none_as_null = true)]
pub struct GroupRow {
    pub group_id: String,
    /// Unique; the value apps see in the `groups` claim.
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The provisioning system's id of the group (SCIM `externalId`).
    pub external_id: Option<String>,
}

impl GroupRow {
    pub fn find(conn: &mut DbConnection, group_id: &str) -> QueryResult<Option<Self>> {
        groups::table.find(group_id).select(Self::as_select()).first(conn).optional()
    }

    /// At most `limit` groups by name after `after`: keyset pagination.
    pub fn page(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> QueryResult<Vec<Self>> {
        let mut query = groups::table.order(groups::name).limit(limit).select(Self::as_select()).into_boxed();
        if let Some(after) = after {
            query = query.filter(groups::name.gt(after.to_owned()));
        }
        query.load(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(groups::table).values(self).execute(conn).map(drop)
    }

    pub fn update(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::update(groups::table.find(&self.group_id)).set(self).execute(conn)
    }

    pub fn delete(conn: &mut DbConnection, group_id: &str) -> QueryResult<usize> {
        diesel::delete(groups::table.find(group_id)).execute(conn)
    }

    /// The names of the groups `user_id` is a member of, sorted.
    pub fn names_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
        group_members::table
            .inner_join(groups::table)
            .filter(group_members::user_id.eq(user_id))
            .order(groups::name)
            .select(groups::name)
            .load(conn)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_members)]
pub struct GroupMemberRow {
    pub group_id: String,
    pub user_id: String,
    pub added_at: i64,
}

impl GroupMemberRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(group_members::table).values(self).execute(conn).map(drop)
    }

    pub fn exists(conn: &mut DbConnection, group_id: &str, user_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(group_members::table.find((group_id, user_id)))).get_result(conn)
    }

    pub fn delete(conn: &mut DbConnection, group_id: &str, user_id: &str) -> QueryResult<usize> {
        diesel::delete(group_members::table.find((group_id, user_id))).execute(conn)
    }

    /// At most `limit` members of `group_id` by user id after `after`.
    pub fn page(conn: &mut DbConnection, group_id: &str, after: Option<&str>, limit: i64) -> QueryResult<Vec<Self>> {
        let mut query = group_members::table
            .filter(group_members::group_id.eq(group_id.to_owned()))
            .order(group_members::user_id)
            .limit(limit)
            .select(Self::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(group_members::user_id.gt(after.to_owned()));
        }
        query.load(conn)
    }

    pub fn count(conn: &mut DbConnection, group_id: &str) -> QueryResult<i64> {
        group_members::table.filter(group_members::group_id.eq(group_id)).count().get_result(conn)
    }
}
