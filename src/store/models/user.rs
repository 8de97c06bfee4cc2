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
    /// The provisioning system's id of the user (SCIM `externalId`).
    pub external_id: Option<String>,
    /// The name shown for the user (SCIM `displayName`); `name` is the full name.
    pub display_name: Option<String>,
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

    /// The users `condition` holds for, ordered by `order` (then by id, so pages are stable),
    /// `limit` of them after skipping `offset`; and how many there are in all.
    pub fn search(
        conn: &mut DbConnection,
        condition: &UserCondition,
        order: Option<(UserSort, bool)>,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(i64, Vec<Self>)> {
        let total = users::table.filter(condition.expression()).count().get_result(conn)?;
        if limit == 0 {
            return Ok((total, Vec::new()));
        }
        let mut query = users::table.filter(condition.expression()).select(Self::as_select()).into_boxed();
        if let Some((sort, descending)) = order {
            query = sort.apply(query, descending);
        }
        let rows = query.then_order_by(users::user_id).offset(offset).limit(limit).load(conn)?;
        Ok((total, rows))
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

/// A text column of `users` a search may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserText {
    UserId,
    /// Kept in lowercase.
    Username,
    Email,
    Name,
    GivenName,
    FamilyName,
    DisplayName,
    ExternalId,
}

/// A time column of `users` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTime {
    Created,
    Updated,
}

/// How a text column is compared with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// How a time column is compared with an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMatch {
    Equals,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// A condition on a user, translated to SQL by diesel (never by pasting text). Every leaf is
/// false, not NULL, for a user without a value, so `Not` of a leaf holds for them (SCIM's
/// `ne "x"` holds for a user without the attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCondition {
    Always,
    Never,
    /// `ignore_case` compares the column in lowercase with `value` in lowercase.
    Text {
        column: UserText,
        op: TextMatch,
        value: String,
        ignore_case: bool,
    },
    /// The column has a non-empty value.
    Present(UserText),
    Enabled(bool),
    Time {
        column: UserTime,
        op: TimeMatch,
        at: i64,
    },
    Not(Box<UserCondition>),
    And(Box<UserCondition>, Box<UserCondition>),
    Or(Box<UserCondition>, Box<UserCondition>),
}

/// What a search may order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Text { column: UserText, ignore_case: bool },
    Time(UserTime),
    Enabled,
}

type Backend = <DbConnection as diesel::Connection>::Backend;
type Condition = Box<dyn BoxableExpression<users::table, Backend, SqlType = diesel::sql_types::Bool>>;
type BoxedUsers<'a> = users::BoxedQuery<'a, Backend, diesel::dsl::AsSelect<UserRow, Backend>>;

diesel::define_sql_function! {
    /// SQL `lower()`: the same on PostgreSQL and SQLite for ASCII; PostgreSQL also folds other
    /// letters, SQLite does not.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// `LIKE` pattern text with `%`, `_` and the escape character itself taken literally.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

diesel::define_sql_function! {
    /// SQL `length()` in characters (both backends).
    fn length(text: diesel::sql_types::Text) -> diesel::sql_types::Integer;
}

diesel::define_sql_function! {
    /// SQL `substr(text, start, count)`, 1-based, in characters (both backends).
    fn substr(text: diesel::sql_types::Text, start: diesel::sql_types::Integer, count: diesel::sql_types::Integer) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// SQL `replace(text, from, to)`, case-sensitive on both backends.
    fn replace(text: diesel::sql_types::Text, from: diesel::sql_types::Text, to: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The SQL of one comparison of column expression `$c` (of type Text, never NULL here).
/// `$exact` keeps case in `co`, `sw` and `ew`: SQLite's `LIKE` ignores ASCII case, so those
/// use `replace` and `substr`, which keep it on both backends; compared in lowercase on both
/// sides (`$exact` false), `LIKE` answers the same on both.
macro_rules! compare_text {
    ($c:expr, $op:expr, $value:expr, $exact:expr) => {{
        let value: String = $value;
        let chars = i32::try_from(value.chars().count()).unwrap_or(i32::MAX);
        let pattern = |before: &str, after: &str| format!("{before}{}{after}", like_literal(&value));
        let condition: Condition = match $op {
            TextMatch::Equals => Box::new($c.eq(value)),
            TextMatch::Greater => Box::new($c.gt(value)),
            TextMatch::GreaterOrEqual => Box::new($c.ge(value)),
            TextMatch::Less => Box::new($c.lt(value)),
            TextMatch::LessOrEqual => Box::new($c.le(value)),
            // Every text contains, starts and ends with the empty one.
            TextMatch::Contains | TextMatch::StartsWith | TextMatch::EndsWith if value.is_empty() => {
                Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 1"))
            }
            TextMatch::Contains if $exact => Box::new(replace($c, value.clone(), "").ne($c)),
            TextMatch::StartsWith if $exact => Box::new(substr($c, 1, chars).eq(value)),
            TextMatch::EndsWith if $exact => {
                Box::new(length($c).ge(chars).and(substr($c, length($c) - chars + 1, chars).eq(value)))
            }
            TextMatch::Contains => Box::new($c.like(pattern("%", "%")).escape('\\')),
            TextMatch::StartsWith => Box::new($c.like(pattern("", "%")).escape('\\')),
            TextMatch::EndsWith => Box::new($c.like(pattern("%", "")).escape('\\')),
        };
        condition
    }};
}

/// `$body` with `$c` bound to the column's expression as Text; for a nullable column, only
/// where it has a value (`IS NOT NULL AND …`, which is false rather than NULL without one).
macro_rules! with_text_column {
    ($column:expr, |$c:ident| $body:expr) => {{
        fn guarded(present: Condition, condition: Condition) -> Condition {
            Box::new(present.and(condition))
        }
        match $column {
            UserText::UserId => {
                let $c = users::user_id;
                $body
            }
            UserText::Username => {
                let $c = users::username;
                $body
            }
            UserText::Email => {
                let $c = users::email.assume_not_null();
                guarded(Box::new(users::email.is_not_null()), $body)
            }
            UserText::Name => {
                let $c = users::name.assume_not_null();
                guarded(Box::new(users::name.is_not_null()), $body)
            }
            UserText::GivenName => {
                let $c = users::given_name.assume_not_null();
                guarded(Box::new(users::given_name.is_not_null()), $body)
            }
            UserText::FamilyName => {
                let $c = users::family_name.assume_not_null();
                guarded(Box::new(users::family_name.is_not_null()), $body)
            }
            UserText::DisplayName => {
                let $c = users::display_name.assume_not_null();
                guarded(Box::new(users::display_name.is_not_null()), $body)
            }
            UserText::ExternalId => {
                let $c = users::external_id.assume_not_null();
                guarded(Box::new(users::external_id.is_not_null()), $body)
            }
        }
    }};
}

impl UserCondition {
    fn expression(&self) -> Condition {
        use diesel::dsl::sql;
        match self {
            Self::Always => Box::new(sql::<diesel::sql_types::Bool>("1 = 1")),
            Self::Never => Box::new(sql::<diesel::sql_types::Bool>("1 = 0")),
            Self::Enabled(on) => Box::new(users::enabled.eq(*on)),
            Self::Present(column) => with_text_column!(*column, |c| Box::new(c.ne(""))),
            Self::Text { column, op, value, ignore_case } => {
                // Usernames are kept in lowercase: compared as they are, the unique index serves.
                let lowered = *ignore_case && *column != UserText::Username;
                let value = if *ignore_case { value.to_lowercase() } else { value.clone() };
                let exact = !*ignore_case;
                with_text_column!(*column, |c| match lowered {
                    true => compare_text!(lower(c), *op, value.clone(), exact),
                    false => compare_text!(c, *op, value.clone(), exact),
                })
            }
            Self::Time { column, op, at } => {
                let at = *at;
                macro_rules! compare_time {
                    ($c:expr) => {{
                        let condition: Condition = match op {
                            TimeMatch::Equals => Box::new($c.eq(at)),
                            TimeMatch::Greater => Box::new($c.gt(at)),
                            TimeMatch::GreaterOrEqual => Box::new($c.ge(at)),
                            TimeMatch::Less => Box::new($c.lt(at)),
                            TimeMatch::LessOrEqual => Box::new($c.le(at)),
                        };
                        condition
                    }};
                }
                match column {
                    UserTime::Created => compare_time!(users::created_at),
                    UserTime::Updated => compare_time!(users::updated_at),
                }
            }
            Self::Not(inner) => Box::new(diesel::dsl::not(inner.expression())),
            Self::And(a, b) => Box::new(a.expression().and(b.expression())),
            Self::Or(a, b) => Box::new(a.expression().or(b.expression())),
        }
    }
}

impl UserSort {
    /// `query` ordered by this, users without a value last either way.
    fn apply(self, query: BoxedUsers<'static>, descending: bool) -> BoxedUsers<'static> {
        macro_rules! by {
            ($query:expr, $c:expr) => {
                match descending {
                    true => $query.then_order_by($c.desc()),
                    false => $query.then_order_by($c.asc()),
                }
            };
        }
        match self {
            Self::Enabled => by!(query, users::enabled),
            Self::Time(UserTime::Created) => by!(query, users::created_at),
            Self::Time(UserTime::Updated) => by!(query, users::updated_at),
            Self::Text { column, ignore_case } => {
                macro_rules! text {
                    ($column:expr) => {{
                        let query = query.then_order_by($column.is_null());
                        let c = $column.assume_not_null();
                        match ignore_case {
                            true => by!(query, lower(c)),
                            false => by!(query, c),
                        }
                    }};
                }
                match column {
                    UserText::UserId => by!(query, users::user_id),
                    UserText::Username => by!(query, users::username),
                    UserText::Email => text!(users::email),
                    UserText::Name => text!(users::name),
                    UserText::GivenName => text!(users::given_name),
                    UserText::FamilyName => text!(users::family_name),
                    UserText::DisplayName => text!(users::display_name),
                    UserText::ExternalId => text!(users::external_id),
                }
            }
        }
    }
}
