//! End users: who can sign in, with argon2id password hashes (OWASP parameters) computed off
//! the async workers. A sign-in attempt for an unknown user costs the same as for a known one.

use std::fmt;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;

use crate::clock::SharedClock;
use crate::error::FieldError;
use crate::services::audit::{changed_fields, Actor};
use crate::services::refresh_families::RefreshFamilies;
/// What a search of users says (built by the SCIM edge from a filter, run as one diesel query).
pub use crate::store::models::user::{TextMatch, TimeMatch, UserCondition, UserSort, UserText, UserTime};
use crate::store::models::{NewAuditEvent, UserRow};
use crate::store::{Db, StoreError};

/// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password as typed; never logged or shown.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// NIST SP 800-63B: at least 8 characters; long passphrases welcome (up to 1024 bytes).
    pub fn parse(text: String) -> Result<Self, UserError> {
        Self::check(text).map_err(|message| UserError::invalid("password", message))
    }

    fn check(text: String) -> Result<Self, &'static str> {
        if text.chars().count() < 8 {
            return Err("a password needs at least 8 characters");
        }
        if text.len() > 1024 {
            return Err("a password may have at most 1024 bytes");
        }
        Ok(Self(text))
    }
}

impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::check(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Written back only as `null`: a registration read for a patch never carries a password.
impl Serialize for Password {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_none()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A member that is refused, named as the admin API's JSON names it.
    #[error("{0}")]
    Invalid(FieldError),
    /// The caller's `If-Match` is not the user's current ETag.
    #[error("the user changed since it was read")]
    Stale,
    #[error("a user with this username already exists")]
    Conflict,
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the user's grants could not be revoked: {0}")]
    Grants(#[from] crate::services::refresh_families::RefreshError),
}

impl UserError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }
}

impl From<diesel::result::Error> for UserError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::Query(e).into()
    }
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) if crate::store::db::is_unique_violation(&q) => UserError::Conflict,
            other => UserError::Store(other),
        }
    }
}

/// A user as the rest of the provider sees it (no password hash).
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct User {
    /// The `sub` of the user's tokens: a UUID, never reassigned.
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The name shown for the user, beside the full `name` (SCIM `displayName`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The provisioning system's id of the user (SCIM `externalId`), kept as sent.
    #[serde(default)]
    pub external_id: Option<String>,
    pub enabled: bool,
    /// Whether the user can sign in with a password (a user provisioned without one cannot).
    #[serde(default)]
    pub has_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    /// The profile an operator can change, as it stands.
    pub fn profile(&self) -> UserProfile {
        UserProfile {
            username: self.username.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            name: self.name.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            display_name: self.display_name.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// A strong validator of the user as the admin API shows it.
    pub fn etag(&self) -> String {
        crate::services::registry::etag_of(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            has_password: row.password_hash.is_some(),
            user_id: row.user_id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            name: row.name,
            given_name: row.given_name,
            family_name: row.family_name,
            display_name: row.display_name,
            external_id: row.external_id,
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A new user: the admin API's body (and the CLI's flags). Without a password the user cannot
/// sign in with one until an operator sets it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 characters: letters, digits and `. _ - @ +`; case-insensitive (kept lowercase).
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The provisioning system's id of the user (at most 255 characters, kept as sent).
    #[serde(default)]
    pub external_id: Option<String>,
    /// At least 8 characters, at most 1024 bytes; stored only as an argon2id hash.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Password>,
    /// Whether the user may sign in from the start (default `true`): a user provisioned
    /// ahead of their first day is created disabled.
    #[serde(default = "enabled_by_default")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl Default for NewUser {
    fn default() -> Self {
        Self {
            username: String::new(),
            email: None,
            email_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            display_name: None,
            external_id: None,
            password: None,
            enabled: true,
        }
    }
}

/// What an operator may change of a user (not the password, which has its own call, and not
/// whether the user is enabled, which revokes grants): the admin API's `PATCH` merges onto it.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserProfile {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The provisioning system's id of the user (at most 255 characters, kept as sent).
    #[serde(default)]
    pub external_id: Option<String>,
}

/// A change of a user as a whole (SCIM's `PUT`, and its `PATCH` once applied): the profile
/// replaces the current one; `enabled` and `password` change only when they say so.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub profile: UserProfile,
    pub enabled: Option<bool>,
    pub password: PasswordChange,
}

/// What a change does to a user's password.
#[derive(Debug, Clone)]
pub enum PasswordChange {
    Keep,
    Set(Password),
    /// The user can no longer sign in with a password (until one is set).
    Remove,
}

/// Usernames are case-insensitive: stored and looked up in lowercase.
pub fn normalize_username(text: &str) -> Result<String, UserError> {
    let username = text.trim().to_lowercase();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
    if username.is_empty() || username.len() > 64 || !username.chars().all(plain) {
        return Err(UserError::invalid("username", "1 to 64 characters: letters, digits and . _ - @ +"));
    }
    Ok(username)
}

fn validate_email(email: &str) -> Result<String, UserError> {
    let email = email.trim();
    let well_formed = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !well_formed {
        return Err(UserError::invalid("email", "is not a valid email address"));
    }
    Ok(email.to_owned())
}

fn validate_text(field: &str, value: Option<String>) -> Result<Option<String>, UserError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => {
            Err(UserError::invalid(field, "at most 200 characters without control characters"))
        }
        other => Ok(other),
    }
}

/// An id another system gave the user: kept as sent (compared with case), at most 255
/// characters without control characters.
fn validate_external_id(value: Option<String>) -> Result<Option<String>, UserError> {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(v) if v.chars().count() > 255 || v.chars().any(char::is_control) => {
            Err(UserError::invalid("external_id", "at most 255 characters without control characters"))
        }
        other => Ok(other),
    }
}

/// The row of user `user_id` with `profile`, checked; no password, enabled.
fn profile_row(user_id: &str, profile: UserProfile, created_at: i64) -> Result<UserRow, UserError> {
    Ok(UserRow {
        user_id: user_id.to_owned(),
        username: normalize_username(&profile.username)?,
        email: profile.email.as_deref().map(validate_email).transpose()?,
        email_verified: profile.email_verified,
        name: validate_text("name", profile.name)?,
        given_name: validate_text("given_name", profile.given_name)?,
        family_name: validate_text("family_name", profile.family_name)?,
        display_name: validate_text("display_name", profile.display_name)?,
        external_id: validate_external_id(profile.external_id)?,
        password_hash: None,
        enabled: true,
        created_at,
        updated_at: created_at,
    })
}

fn hash(password: &Password) -> Result<String, UserError> {
    // 128 random bits from the same source as every other secret here (ring's system RNG).
    let mut random = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| UserError::Hash("no system randomness".into()))?;
    let salt = SaltString::encode_b64(&random).map_err(|e| UserError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// A hash of a random password, verified against when the username is unknown so that the
/// answer takes as long as for a known user.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let random: String = uuid::Uuid::new_v4().simple().to_string();
        hash(&Password(random)).unwrap_or_default()
    })
}

fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Argon2id with the parameters of `stored`, in `memory` (no allocation when it is big enough).
fn verify_in(password: &str, stored: &str, memory: &mut [argon2::Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if parsed.algorithm.as_str() != "argon2id" || params.block_count() > memory.len() {
        return verify(password, stored);
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && crate::crypto::constant_time_eq(&out, expected.as_bytes())
}

type VerifyJob = (String, String, tokio::sync::oneshot::Sender<bool>);

/// Sign-in checks run on a fixed set of threads, each with its argon2 working memory (19 MiB)
/// allocated once. A burst of sign-ins waits its turn here instead of taking the runtime's
/// blocking threads, and memory stays at threads x 19 MiB: with a fresh allocation per hash on
/// whatever blocking thread ran it, the allocator kept each thread's 19 MiB (1.2 GB RSS was
/// measured under the whole-flow bench).
struct VerifierPool {
    jobs: std::sync::mpsc::SyncSender<VerifyJob>,
}

impl VerifierPool {
    fn start(threads: usize) -> Self {
        // A short queue: a flood of sign-ins is refused quickly instead of making real users
        // wait behind minutes of queued hashing.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<VerifyJob>(threads * 64);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("idp-argon2-{n}")).spawn(move || {
                let mut memory = vec![argon2::Block::default(); MEMORY_KIB as usize];
                loop {
                    let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    // The pool's owner is gone: so is the work.
                    let Ok((password, stored, reply)) = job else { return };
                    // Nobody waits for it any more (the request was dropped): skip the work.
                    if reply.is_closed() {
                        continue;
                    }
                    let _ = reply.send(verify_in(&password, &stored, &mut memory));
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-hashing thread");
            }
        }
        Self { jobs }
    }

    async fn verify(&self, password: String, stored: String) -> Result<bool, UserError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send((password, stored, reply))
            .map_err(|_| UserError::Hash("too many sign-ins are waiting".into()))?;
        answer.await.map_err(|e| UserError::Hash(e.to_string()))
    }
}

#[derive(Clone)]
pub struct Users {
    db: Db,
    clock: SharedClock,
    verifier: Arc<VerifierPool>,
    families: RefreshFamilies,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Users")
    }
}

impl Users {
    pub fn new(db: Db, clock: SharedClock, families: RefreshFamilies) -> Self {
        // One core is left to the rest of the server, so a sign-in flood cannot starve the token
        // endpoint; the decoy hash is made now, not on the first unknown username.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let _ = decoy_hash();
        Self { db, clock, verifier: Arc::new(VerifierPool::start(cores.saturating_sub(1).max(1))), families }
    }

    /// Runs a blocking call (argon2, a synchronous query) off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Users) -> Result<T, UserError> + Send + 'static,
    ) -> Result<T, UserError> {
        let users = self.clone();
        tokio::task::spawn_blocking(move || call(&users)).await.map_err(|e| UserError::Hash(e.to_string()))?
    }

    /// Creates a user (the password, if any, hashed with argon2id).
    pub async fn create(&self, new: NewUser, by: &Actor) -> Result<User, UserError> {
        let by = by.clone();
        self.blocking(move |users| users.create_blocking(new, &by)).await
    }

    fn create_blocking(&self, new: NewUser, by: &Actor) -> Result<User, UserError> {
        let now = self.clock.now();
        let user_id = uuid::Uuid::new_v4().to_string();
        let profile = UserProfile {
            username: new.username,
            email: new.email,
            email_verified: new.email_verified,
            name: new.name,
            given_name: new.given_name,
            family_name: new.family_name,
            display_name: new.display_name,
            external_id: new.external_id,
        };
        let mut row = profile_row(&user_id, profile, now)?;
        row.password_hash = new.password.as_ref().map(hash).transpose()?;
        row.enabled = new.enabled;
        let audit = NewAuditEvent {
            user_id: Some(user_id.clone()),
            ..by.event(now, "user.create", format!("user:{user_id}"))
                .detail(serde_json::json!({ "has_password": row.password_hash.is_some(), "enabled": row.enabled }))
        };
        self.db.write_audited(&audit, |conn| row.insert(conn))?;
        Ok(row.into())
    }

    /// Reads the user, applies `change` to its row, and writes it with its audit event in one
    /// transaction when `if_match` (an `If-Match` value) still holds. Blocking.
    fn change(
        &self,
        user_id: &str,
        if_match: Option<&str>,
        action: &str,
        by: &Actor,
        change: impl FnOnce(&mut UserRow) -> Result<(), UserError>,
    ) -> Result<User, UserError> {
        self.change_from(user_id, if_match, action, by, change).map(|(_, after)| after)
    }

    /// As [`Users::change`], with the user as it was before the change.
    fn change_from(
        &self,
        user_id: &str,
        if_match: Option<&str>,
        action: &str,
        by: &Actor,
        change: impl FnOnce(&mut UserRow) -> Result<(), UserError>,
    ) -> Result<(User, User), UserError> {
        use diesel::Connection;
        let now = self.clock.now();
        let updated = self.db.run_blocking(|conn| {
            Ok(conn.transaction::<_, UserError, _>(|conn| {
                let mut row = UserRow::find(conn, user_id)?.ok_or(UserError::NotFound)?;
                let before = User::from(row.clone());
                let password_before = row.password_hash.clone();
                if let Some(list) = if_match {
                    let current = before.etag();
                    if !list.split(',').map(str::trim).any(|tag| tag == "*" || tag == current) {
                        return Err(UserError::Stale);
                    }
                }
                change(&mut row)?;
                row.updated_at = now;
                let after = User::from(row.clone());
                let mut changed = changed_fields(
                    &serde_json::to_value(before.profile()).unwrap_or_default(),
                    &serde_json::to_value(after.profile()).unwrap_or_default(),
                );
                if before.enabled != after.enabled {
                    changed.push("enabled".into());
                }
                if password_before != row.password_hash {
                    changed.push("password".into());
                }
                let audit = NewAuditEvent {
                    user_id: Some(row.user_id.clone()),
                    ..by.event(now, action, format!("user:{user_id}")).detail(serde_json::json!({ "changed": changed }))
                };
                row.update(conn)?;
                audit.insert(conn)?;
                Ok((before, after))
            }))
        })??;
        Ok(updated)
    }

    /// Replaces what an operator may change of a user when `if_match` holds.
    pub async fn update_profile(
        &self,
        user_id: &str,
        profile: UserProfile,
        if_match: Option<String>,
        by: &Actor,
    ) -> Result<User, UserError> {
        let (id, by) = (user_id.to_owned(), by.clone());
        self.blocking(move |users| {
            users.change(&id, if_match.as_deref(), "user.update", &by, |row| {
                let changed = profile_row(&row.user_id, profile, row.created_at)?;
                *row = UserRow { password_hash: row.password_hash.take(), enabled: row.enabled, ..changed };
                Ok(())
            })
        })
        .await
    }

    /// Replaces the profile, and changes whether the user is enabled and their password, in one
    /// audited write when `if_match` holds (SCIM's `PUT` and `PATCH`). Disabling revokes the
    /// user's grants, as [`Users::set_enabled`] does. Returns the user and how many grants were
    /// revoked.
    pub async fn update(
        &self,
        user_id: &str,
        update: UserUpdate,
        if_match: Option<String>,
        by: &Actor,
    ) -> Result<(User, usize), UserError> {
        let (id, by) = (user_id.to_owned(), by.clone());
        let (before, user) = self
            .blocking(move |users| {
                let hashed = match &update.password {
                    PasswordChange::Set(password) => Some(hash(password)?),
                    PasswordChange::Keep | PasswordChange::Remove => None,
                };
                // The detail's `changed` names `enabled` and `password` when they changed.
                users.change_from(&id, if_match.as_deref(), "user.update", &by, |row| {
                    let changed = profile_row(&row.user_id, update.profile, row.created_at)?;
                    let password_hash = match update.password {
                        PasswordChange::Keep => row.password_hash.take(),
                        PasswordChange::Set(_) => hashed,
                        PasswordChange::Remove => None,
                    };
                    *row = UserRow { password_hash, enabled: update.enabled.unwrap_or(row.enabled), ..changed };
                    Ok(())
                })
            })
            .await?;
        let revoked = if before.enabled && !user.enabled { self.families.revoke_user(&user.user_id).await? } else { 0 };
        Ok((user, revoked))
    }

    pub async fn set_password(&self, user_id: &str, password: Password, by: &Actor) -> Result<User, UserError> {
        let (id, by) = (user_id.to_owned(), by.clone());
        self.blocking(move |users| {
            let hashed = hash(&password)?;
            users.change(&id, None, "user.password.set", &by, |row| {
                row.password_hash = Some(hashed);
                Ok(())
            })
        })
        .await
    }

    /// Disables a user and revokes every grant they gave (refreshes do not read the user, so a
    /// disabled user's grants end here), or enables them again. Returns the user and how many
    /// grants were revoked.
    pub async fn set_enabled(&self, user_id: &str, enabled: bool, by: &Actor) -> Result<(User, usize), UserError> {
        let (id, by) = (user_id.to_owned(), by.clone());
        let action = if enabled { "user.enable" } else { "user.disable" };
        let user = self
            .blocking(move |users| {
                users.change(&id, None, action, &by, |row| {
                    row.enabled = enabled;
                    Ok(())
                })
            })
            .await?;
        let revoked = if enabled { 0 } else { self.families.revoke_user(&user.user_id).await? };
        Ok((user, revoked))
    }

    /// Deletes a user: their grants are revoked first (with their access tokens), then the user
    /// and what hangs off them (consents, refresh families) go in one audited transaction.
    pub async fn delete(&self, user_id: &str, by: &Actor) -> Result<usize, UserError> {
        let revoked = self.families.revoke_user(user_id).await?;
        let (id, by, now) = (user_id.to_owned(), by.clone(), self.clock.now());
        self.blocking(move |users| {
            let audit =
                NewAuditEvent { user_id: Some(id.clone()), ..by.event(now, "user.delete", format!("user:{id}")) };
            match users.db.write_audited(&audit, |conn| UserRow::delete(conn, &id))? {
                0 => Err(UserError::NotFound),
                _ => Ok(revoked),
            }
        })
        .await
    }

    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        Ok(self.db.run(UserRow::all).await?.into_iter().map(User::from).collect())
    }

    /// A page of users by username: those whose username or email starts with `prefix` (if
    /// any), after the username `after`, at most `limit`.
    pub async fn page(
        &self,
        prefix: Option<String>,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<User>, UserError> {
        let prefix = prefix.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
        let rows = self.db.run(move |conn| UserRow::page(conn, prefix.as_deref(), after.as_deref(), limit)).await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// The users `condition` holds for, sorted by `order` (ascending unless its flag says
    /// descending; then by id), `limit` of them after skipping `offset`, and how many match.
    pub async fn search(
        &self,
        condition: UserCondition,
        order: Option<(UserSort, bool)>,
        offset: i64,
        limit: i64,
    ) -> Result<(i64, Vec<User>), UserError> {
        let (total, rows) =
            self.db.run(move |conn| UserRow::search(conn, &condition, order, offset.max(0), limit.max(0))).await?;
        Ok((total, rows.into_iter().map(User::from).collect()))
    }

    /// The user with this username.
    pub async fn find_by_username(&self, username: &str) -> Result<Option<User>, UserError> {
        let username = normalize_username(username)?;
        Ok(self.db.run(move |conn| UserRow::find_by_username(conn, &username)).await?.map(User::from))
    }

    pub async fn find(&self, user_id: &str) -> Result<Option<User>, UserError> {
        let id = user_id.to_owned();
        Ok(self.db.run(move |conn| UserRow::find(conn, &id)).await?.map(User::from))
    }

    /// The enabled user with this username and password, if any. The same argon2 work is done
    /// whether or not the user exists, has a password or is enabled.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>, UserError> {
        let Ok(username) = normalize_username(username) else {
            self.verifier.verify(password.to_owned(), decoy_hash().to_owned()).await?;
            return Ok(None);
        };
        let row = self.db.run(move |conn| UserRow::find_by_username(conn, &username)).await?;
        let stored = row.as_ref().and_then(|r| r.password_hash.clone()).unwrap_or_else(|| decoy_hash().to_owned());
        let matches = self.verifier.verify(password.to_owned(), stored).await?;
        Ok(row.filter(|u| matches && u.enabled && u.password_hash.is_some()).map(User::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_with_owasp_parameters_and_verify() {
        let hashed = hash(&Password::parse("correct horse".into()).unwrap()).unwrap();
        assert!(hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hashed}");
        assert!(verify("correct horse", &hashed));
        assert!(!verify("wrong horse", &hashed));
        let mut memory = vec![argon2::Block::default(); MEMORY_KIB as usize];
        assert!(verify_in("correct horse", &hashed, &mut memory), "the pool's path agrees");
        assert!(!verify_in("wrong horse", &hashed, &mut memory));
    }

    #[test]
    fn short_passwords_and_odd_usernames_are_refused() {
        assert!(Password::parse("short".into()).is_err());
        assert_eq!(normalize_username(" Alice ").unwrap(), "alice");
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
        assert!(format!("{:?}", Password::parse("secret-password".into()).unwrap()).contains("***"));
    }
}
