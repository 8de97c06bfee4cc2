use diesel::prelude::*;

use crate::store::schema::users;
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_null = true)]
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// argon2id PHC string; never the password.
    pub password_hash: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn find(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<Self>> {
        users::table.find(user_id).select(Self::as_select()).first(conn).optional()
    }

    pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<Self>> {
        users::table.filter(users::username.eq(username)).select(Self::as_select()).first(conn).optional()
    }

    pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Self>> {
        users::table.order(users::created_at).select(Self::as_select()).load(conn)
    }

    /// At most `limit` users by username after `after`, whose username (lowercase) or email
    /// (as stored) starts with `prefix` (matched literally: `%` and `_` are not wildcards).
    pub fn page(
        conn: &mut DbConnection,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        let mut query = users::table.order(users::username).limit(limit).select(Self::as_select()).into_boxed();
        if let Some(prefix) = prefix {
            let literal =
                |text: &str| format!("{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            query = query.filter(
                users::username
                    .like(literal(&prefix.to_lowercase()))
                    .escape('\\')
                    .or(users::email.like(literal(prefix)).escape('\\')),
            );
        }
        if let Some(after) = after {
            query = query.filter(users::username.gt(after.to_owned()));
        }
        query.load(conn)
    }

    pub fn delete(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
        diesel::delete(users::table.find(user_id)).execute(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(users::table).values(self).execute(conn).map(drop)
    }

    pub fn update(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::update(users::table.find(&self.user_id)).set(self).execute(conn)
    }
}
