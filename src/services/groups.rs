//! Groups of users: named sets an operator keeps (admin API, SCIM, CLI) so that apps can
//! authorize by group through the `groups` claim. Every change is audited in the transaction
//! that makes it.

use diesel::Connection;
use serde::Serialize;

use crate::clock::SharedClock;
use crate::error::FieldError;
use crate::services::audit::Actor;
use crate::store::models::{GroupMemberRow, GroupRow, NewAuditEvent, UserRow};
use crate::store::{Db, DbConnection, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("{0}")]
    Invalid(FieldError),
    #[error("a group with this name already exists")]
    Conflict,
    #[error("no such group")]
    NotFound,
    #[error("no such user")]
    NoSuchUser,
    #[error("the group changed since it was read")]
    Stale,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) if crate::store::db::is_unique_violation(&q) => GroupError::Conflict,
            other => GroupError::Store(other),
        }
    }
}

impl From<diesel::result::Error> for GroupError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::Query(e).into()
    }
}

/// A group as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub group_id: String,
    pub name: String,
    /// The provisioning system's id of the group (SCIM `externalId`), kept as sent.
    pub external_id: Option<String>,
    pub members: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Group {
    /// A strong validator of the group as shown.
    pub fn etag(&self) -> String {
        crate::services::registry::etag_of(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

/// A group's name: 1 to 100 characters without control characters, trimmed. Names are what
/// apps compare, so they are kept exactly (case included).
pub fn group_name(text: &str) -> Result<String, GroupError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(GroupError::Invalid(FieldError::new("name", "1 to 100 characters without control characters")));
    }
    Ok(name.to_owned())
}

#[derive(Debug, Clone)]
pub struct Groups {
    db: Db,
    clock: SharedClock,
}

impl Groups {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Runs `change` and its audit event in one transaction off the async workers.
    async fn audited<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut DbConnection, i64) -> Result<(NewAuditEvent, T), GroupError> + Send + 'static,
    ) -> Result<T, GroupError> {
        let (db, now) = (self.db.clone(), self.clock.now());
        tokio::task::spawn_blocking(move || {
            db.run_blocking(|conn| {
                Ok(conn.transaction::<_, GroupError, _>(|conn| {
                    let (audit, value) = change(conn, now)?;
                    audit.insert(conn)?;
                    Ok(value)
                }))
            })?
        })
        .await
        .map_err(|e| GroupError::Store(StoreError::from(e)))?
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut DbConnection) -> Result<T, GroupError> + Send + 'static,
    ) -> Result<T, GroupError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.run_blocking(|conn| Ok(query(conn)))?)
            .await
            .map_err(|e| GroupError::Store(StoreError::from(e)))?
    }

    pub async fn create(&self, name: &str, by: &Actor) -> Result<Group, GroupError> {
        let (name, by) = (group_name(name)?, by.clone());
        self.audited(move |conn, now| {
            let row = GroupRow {
                group_id: uuid::Uuid::new_v4().to_string(),
                name,
                created_at: now,
                updated_at: now,
                external_id: None,
            };
            row.insert(conn)?;
            let audit = by.event(now, "group.create", format!("group:{}", row.group_id));
            Ok((audit, shown(row, 0)))
        })
        .await
    }

    pub async fn find(&self, group_id: &str) -> Result<Group, GroupError> {
        let id = group_id.to_owned();
        self.read(move |conn| load(conn, &id)).await
    }

    /// Renames a group when `if_match` holds (an `If-Match` value).
    pub async fn rename(
        &self,
        group_id: &str,
        name: &str,
        if_match: Option<String>,
        by: &Actor,
    ) -> Result<Group, GroupError> {
        let (id, name, by) = (group_id.to_owned(), group_name(name)?, by.clone());
        self.audited(move |conn, now| {
            let current = load(conn, &id)?;
            if let Some(list) = &if_match {
                let etag = current.etag();
                if !list.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag) {
                    return Err(GroupError::Stale);
                }
            }
            let row = GroupRow {
                group_id: id.clone(),
                name,
                created_at: current.created_at,
                updated_at: now,
                external_id: current.external_id,
            };
            row.update(conn)?;
            let audit = by.event(now, "group.rename", format!("group:{id}"));
            Ok((audit, shown(row, current.members)))
        })
        .await
    }

    pub async fn delete(&self, group_id: &str, by: &Actor) -> Result<(), GroupError> {
        let (id, by) = (group_id.to_owned(), by.clone());
        self.audited(move |conn, now| match GroupRow::delete(conn, &id)? {
            0 => Err(GroupError::NotFound),
            _ => Ok((by.event(now, "group.delete", format!("group:{id}")), ())),
        })
        .await
    }

    /// Adds a member; adding one twice is no change (and not an error).
    pub async fn add_member(&self, group_id: &str, user_id: &str, by: &Actor) -> Result<(), GroupError> {
        let (id, user, by) = (group_id.to_owned(), user_id.to_owned(), by.clone());
        self.audited(move |conn, now| {
            load(conn, &id)?;
            UserRow::find(conn, &user)?.ok_or(GroupError::NoSuchUser)?;
            // Checked first, not caught: on PostgreSQL a failed insert aborts the transaction.
            if !GroupMemberRow::exists(conn, &id, &user)? {
                GroupMemberRow { group_id: id.clone(), user_id: user.clone(), added_at: now }.insert(conn)?;
            }
            touch(conn, &id, now)?;
            let audit = NewAuditEvent {
                user_id: Some(user.clone()),
                ..by.event(now, "group.member.add", format!("group:{id}"))
            };
            Ok((audit, ()))
        })
        .await
    }

    /// Removes a member; `NotFound` when they were not one.
    pub async fn remove_member(&self, group_id: &str, user_id: &str, by: &Actor) -> Result<(), GroupError> {
        let (id, user, by) = (group_id.to_owned(), user_id.to_owned(), by.clone());
        self.audited(move |conn, now| {
            if GroupMemberRow::delete(conn, &id, &user)? == 0 {
                return Err(GroupError::NotFound);
            }
            touch(conn, &id, now)?;
            let audit = NewAuditEvent {
                user_id: Some(user.clone()),
                ..by.event(now, "group.member.remove", format!("group:{id}"))
            };
            Ok((audit, ()))
        })
        .await
    }

    /// A page of groups by name, after `after`, at most `limit`.
    pub async fn page(&self, after: Option<String>, limit: i64) -> Result<Vec<Group>, GroupError> {
        self.read(move |conn| {
            GroupRow::page(conn, after.as_deref(), limit)?
                .into_iter()
                .map(|row| {
                    let members = GroupMemberRow::count(conn, &row.group_id)?;
                    Ok(shown(row, members))
                })
                .collect()
        })
        .await
    }

    /// A page of a group's member user ids, after `after`, at most `limit`.
    pub async fn members(&self, group_id: &str, after: Option<String>, limit: i64) -> Result<Vec<String>, GroupError> {
        let id = group_id.to_owned();
        self.read(move |conn| {
            load(conn, &id)?;
            Ok(GroupMemberRow::page(conn, &id, after.as_deref(), limit)?.into_iter().map(|m| m.user_id).collect())
        })
        .await
    }

    /// Creates a group with its members in one audited transaction (SCIM's `POST /Groups`).
    pub async fn provision(&self, change: GroupChange, by: &Actor) -> Result<Group, GroupError> {
        let (name, external_id, by) = (group_name(&change.name)?, external_id(change.external_id)?, by.clone());
        let members = change.members.unwrap_or_default();
        self.audited(move |conn, now| {
            let group_id = uuid::Uuid::new_v4().to_string();
            let row = GroupRow { group_id: group_id.clone(), name, created_at: now, updated_at: now, external_id };
            row.insert(conn)?;
            set_members(conn, &group_id, &members, now, &by)?;
            let audit = by.event(now, "group.create", format!("group:{group_id}"));
            Ok((audit, load(conn, &group_id)?))
        })
        .await
    }

    /// Replaces a group's name and external id, and its members when `members` says which, in
    /// one audited transaction when `if_match` holds (SCIM's `PUT` and `PATCH`). A member added
    /// or removed is audited as `group.member.add` / `group.member.remove`.
    pub async fn replace(
        &self,
        group_id: &str,
        change: GroupChange,
        if_match: Option<String>,
        by: &Actor,
    ) -> Result<Group, GroupError> {
        let (id, by) = (group_id.to_owned(), by.clone());
        let (name, external_id) = (group_name(&change.name)?, external_id(change.external_id)?);
        self.audited(move |conn, now| {
            let current = load(conn, &id)?;
            if let Some(list) = &if_match {
                let etag = current.etag();
                if !list.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag) {
                    return Err(GroupError::Stale);
                }
            }
            let mut changed = Vec::new();
            if current.name != name {
                changed.push("name");
            }
            if current.external_id != external_id {
                changed.push("external_id");
            }
            let row =
                GroupRow { group_id: id.clone(), name, created_at: current.created_at, updated_at: now, external_id };
            row.update(conn)?;
            if let Some(members) = &change.members {
                if set_members(conn, &id, members, now, &by)? {
                    changed.push("members");
                }
            }
            let audit =
                by.event(now, "group.update", format!("group:{id}")).detail(serde_json::json!({ "changed": changed }));
            Ok((audit, load(conn, &id)?))
        })
        .await
    }

    /// Every member's user id, in id order.
    pub async fn member_ids(&self, group_id: &str) -> Result<Vec<String>, GroupError> {
        self.members(group_id, None, i64::MAX).await
    }

    /// The names of the groups a user is in: the `groups` claim.
    pub async fn names_of(&self, user_id: &str) -> Result<Vec<String>, GroupError> {
        let id = user_id.to_owned();
        self.read(move |conn| Ok(GroupRow::names_of(conn, &id)?)).await
    }
}

/// A group as SCIM changes it: its name, its external id, and (when `Some`) exactly who its
/// members are (user ids).
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    pub name: String,
    pub external_id: Option<String>,
    pub members: Option<Vec<String>>,
}

/// An id another system gave the group: kept as sent, at most 255 characters without control
/// characters.
fn external_id(value: Option<String>) -> Result<Option<String>, GroupError> {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(v) if v.chars().count() > 255 || v.chars().any(char::is_control) => Err(GroupError::Invalid(
            FieldError::new("external_id", "at most 255 characters without control characters"),
        )),
        other => Ok(other),
    }
}

/// Makes `members` (user ids, each an existing user) the group's members, auditing each one
/// added or removed; whether any changed.
fn set_members(
    conn: &mut DbConnection,
    group_id: &str,
    members: &[String],
    now: i64,
    by: &Actor,
) -> Result<bool, GroupError> {
    let current: Vec<String> =
        GroupMemberRow::page(conn, group_id, None, i64::MAX)?.into_iter().map(|m| m.user_id).collect();
    let mut changed = false;
    for user in members.iter().filter(|m| !current.contains(m)) {
        UserRow::find(conn, user)?.ok_or(GroupError::NoSuchUser)?;
        if GroupMemberRow::exists(conn, group_id, user)? {
            continue; // named twice
        }
        GroupMemberRow { group_id: group_id.to_owned(), user_id: user.clone(), added_at: now }.insert(conn)?;
        let audit = NewAuditEvent {
            user_id: Some(user.clone()),
            ..by.event(now, "group.member.add", format!("group:{group_id}"))
        };
        audit.insert(conn)?;
        changed = true;
    }
    for user in current.iter().filter(|m| !members.contains(m)) {
        GroupMemberRow::delete(conn, group_id, user)?;
        let audit = NewAuditEvent {
            user_id: Some(user.clone()),
            ..by.event(now, "group.member.remove", format!("group:{group_id}"))
        };
        audit.insert(conn)?;
        changed = true;
    }
    Ok(changed)
}

fn shown(row: GroupRow, members: i64) -> Group {
    Group {
        group_id: row.group_id,
        name: row.name,
        external_id: row.external_id,
        members,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn load(conn: &mut DbConnection, group_id: &str) -> Result<Group, GroupError> {
    let row = GroupRow::find(conn, group_id)?.ok_or(GroupError::NotFound)?;
    let members = GroupMemberRow::count(conn, group_id)?;
    Ok(shown(row, members))
}

/// A membership change is a change of the group (its ETag moves with it).
fn touch(conn: &mut DbConnection, group_id: &str, now: i64) -> Result<(), GroupError> {
    let mut row = GroupRow::find(conn, group_id)?.ok_or(GroupError::NotFound)?;
    row.updated_at = now;
    row.update(conn)?;
    Ok(())
}
