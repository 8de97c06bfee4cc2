//! End users: who can sign in, with argon2id password hashes (OWASP parameters) computed off
//! the async workers. A sign-in attempt for an unknown user costs the same as for a known one.

use std::fmt;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;

use crate::clock::SharedClock;
use crate::services::refresh_families::RefreshFamilies;
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
        if text.chars().count() < 8 {
            return Err(UserError::Invalid("a password needs at least 8 characters".into()));
        }
        if text.len() > 1024 {
            return Err(UserError::Invalid("a password may have at most 1024 bytes".into()));
        }
        Ok(Self(text))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
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

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) if crate::store::db::is_unique_violation(&q) => UserError::Conflict,
            other => UserError::Store(other),
        }
    }
}

/// A user as the rest of the provider sees it (no password hash).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct User {
    /// The `sub` of the user's tokens: a UUID, never reassigned.
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            user_id: row.user_id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            name: row.name,
            given_name: row.given_name,
            family_name: row.family_name,
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub password: Option<Password>,
}

/// Usernames are case-insensitive: stored and looked up in lowercase.
pub fn normalize_username(text: &str) -> Result<String, UserError> {
    let username = text.trim().to_lowercase();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
    if username.is_empty() || username.len() > 64 || !username.chars().all(plain) {
        return Err(UserError::Invalid("a username has 1 to 64 characters: letters, digits and . _ - @ +".into()));
    }
    Ok(username)
}

fn validate_email(email: &str) -> Result<String, UserError> {
    let email = email.trim();
    let well_formed = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !well_formed {
        return Err(UserError::Invalid("the email address is not valid".into()));
    }
    Ok(email.to_owned())
}

fn validate_text(field: &str, value: Option<String>) -> Result<Option<String>, UserError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => {
            Err(UserError::Invalid(format!("{field} must be at most 200 characters without control characters")))
        }
        other => Ok(other),
    }
}

fn hash(password: &Password) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
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
    pub async fn create(&self, new: NewUser) -> Result<User, UserError> {
        self.blocking(move |users| users.create_blocking(new)).await
    }

    fn create_blocking(&self, new: NewUser) -> Result<User, UserError> {
        let now = self.clock.now();
        let row = UserRow {
            user_id: uuid::Uuid::new_v4().to_string(),
            username: normalize_username(&new.username)?,
            email: new.email.as_deref().map(validate_email).transpose()?,
            email_verified: new.email_verified,
            name: validate_text("name", new.name)?,
            given_name: validate_text("given_name", new.given_name)?,
            family_name: validate_text("family_name", new.family_name)?,
            password_hash: new.password.as_ref().map(hash).transpose()?,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        let audit =
            NewAuditEvent { user_id: Some(row.user_id.clone()), ..NewAuditEvent::new(now, "user.create", "success") };
        self.db.write_audited(&audit, |conn| row.insert(conn))?;
        Ok(row.into())
    }

    fn update(&self, username: &str, action: &str, change: impl FnOnce(&mut UserRow)) -> Result<User, UserError> {
        let username = normalize_username(username)?;
        let mut row =
            self.db.run_blocking(|conn| UserRow::find_by_username(conn, &username))?.ok_or(UserError::NotFound)?;
        change(&mut row);
        row.updated_at = self.clock.now();
        let audit = NewAuditEvent {
            user_id: Some(row.user_id.clone()),
            ..NewAuditEvent::new(row.updated_at, action, "success")
        };
        self.db.write_audited(&audit, |conn| row.update(conn))?;
        Ok(row.into())
    }

    pub async fn set_password(&self, username: &str, password: Password) -> Result<User, UserError> {
        let username = username.to_owned();
        self.blocking(move |users| {
            let hashed = hash(&password)?;
            users.update(&username, "user.password.set", |row| row.password_hash = Some(hashed))
        })
        .await
    }

    /// Disables a user and revokes every grant they gave: refreshes do not read the user, so
    /// a disabled user's grants end here. Returns the user and how many grants were revoked.
    pub async fn disable(&self, username: &str) -> Result<(User, usize), UserError> {
        let username = username.to_owned();
        let user =
            self.blocking(move |users| users.update(&username, "user.disable", |row| row.enabled = false)).await?;
        let revoked = self.families.revoke_user(&user.user_id).await?;
        Ok((user, revoked))
    }

    pub async fn enable(&self, username: &str) -> Result<User, UserError> {
        let username = username.to_owned();
        self.blocking(move |users| users.update(&username, "user.enable", |row| row.enabled = true)).await
    }

    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        Ok(self.db.run(UserRow::all).await?.into_iter().map(User::from).collect())
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
