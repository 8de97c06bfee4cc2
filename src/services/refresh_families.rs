//! Refresh-token families (RFC 6749 §6, RFC 9700 §4.14.2).
//!
//! A refresh token (`idp_rt_` + 256 bits) belongs to a family: the grant the user gave, kept
//! durably in the database (client, user, scopes, resources, DPoP key, sign-in). The rotating
//! tokens are hot state, stored under their SHA-256 with a copy of what the grant allows, so a
//! refresh touches no SQL:
//!
//! - `rt`: the family's current token; taken (read and removed atomically) by the one refresh
//!   that uses it, so of two concurrent refreshes exactly one wins;
//! - `rt-used`: a token already used, so presenting it again is recognised as reuse and
//!   revokes the family (unless it is the previous token of a confidential client retried
//!   within `tokens.refresh_token_reuse_grace` while its successor is still unused);
//! - `rt-family`: the family's current token and its live access tokens, to revoke them;
//! - `rt-revoked`: set when the family is revoked; a rotation that raced with the revocation
//!   checks it after writing and undoes itself.
//!
//! With Redis these survive restarts as Redis does; the in-process store of the embedded setup
//! writes them through to its database (they are durable keyspaces), so they survive there too.

use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use serde::{Deserialize, Serialize};

use super::access_tokens::Revocations;
use super::audit::{AuditLog, RequestMeta};
use crate::clock::SharedClock;
use crate::crypto::random_token;
use crate::domain::{ClientType, ResourceIndicator, ScopeSet};
use crate::store::hot::{keyspaces, HashedKey, Keyspace, Marker};
use crate::store::models::{NewAuditEvent, RefreshFamilyRow};
use crate::store::{Db, HotStore, HotStoreError, StoreError};
use idp_verify::Jkt;

/// The prefix of every refresh token, so secret scanners can find leaked ones.
pub const PREFIX: &str = "idp_rt_";

const CURRENT: Keyspace<Current> = Keyspace::of(&keyspaces::REFRESH_TOKEN);
const USED: Keyspace<Used> = Keyspace::of(&keyspaces::USED_REFRESH_TOKEN);
const FAMILY: Keyspace<FamilyState> = Keyspace::of(&keyspaces::REFRESH_FAMILY);
const REVOKED_FAMILY: Keyspace<Marker> = Keyspace::of(&keyspaces::REVOKED_REFRESH_FAMILY);

/// A presented refresh token: `idp_rt_` and the rest. Only the prefix is checked here; the
/// store says whether the rest is a token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn new(presented: &str) -> Self {
        Self(presented.to_owned())
    }

    /// Whether `text` has the refresh-token prefix (e.g. for `/revoke`'s dispatch).
    pub fn has_prefix(text: &str) -> bool {
        text.starts_with(PREFIX)
    }

    fn generate() -> Self {
        Self(format!("{PREFIX}{}", random_token()))
    }

    fn hash(&self) -> HashedKey {
        HashedKey::of(&self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

/// Why a refresh was refused or could not run.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is invalid, expired or revoked")]
    Invalid,
    #[error("the refresh token was used before; its family is revoked")]
    Reused,
    #[error("the refresh token is bound to another DPoP key")]
    OtherKey,
    #[error("refresh state unavailable: {0}")]
    Hot(#[from] HotStoreError),
    #[error("refresh grants unavailable: {0}")]
    Db(#[from] StoreError),
}

/// What the grant allows, copied into each token's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: ScopeSet,
    pub resources: Vec<ResourceIndicator>,
    pub jkt: Option<Jkt>,
    pub auth_time: i64,
    pub sid: String,
    pub expires_at: i64,
}

/// A family's current token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Current {
    grant: Grant,
    generation: i64,
    issued_at: i64,
    /// The access token issued with it.
    access: (String, i64),
}

/// A token that was used.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Used {
    family_id: String,
    client_id: String,
    user_id: String,
    rotated_at: i64,
    /// The hash of the token that replaced it.
    successor: String,
}

/// A family's moving parts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FamilyState {
    current: String,
    access_tokens: Vec<(String, i64)>,
}

/// The grant a first refresh token starts.
#[derive(Debug)]
pub struct NewFamily<'a> {
    pub family_id: String,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a ScopeSet,
    pub resources: &'a [ResourceIndicator],
    /// Public clients' refresh tokens are bound to their DPoP key (RFC 9449 §5).
    pub jkt: Option<Jkt>,
    pub auth_time: i64,
    pub sid: &'a str,
}

/// Who a refresh token belongs to, for revocation (RFC 7009).
#[derive(Debug)]
pub struct FamilyRef {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
}

/// Whose grants: a user's or a client's.
#[derive(Debug, Clone)]
pub enum Owner {
    User(String),
    Client(String),
}

/// What a revocation did, as an operator is told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// Refresh families (grants) this call revoked.
    pub revoked_families: usize,
    /// Live access tokens of those families put into the revoked set.
    pub revoked_access_tokens: usize,
}

/// The lifetimes of refresh grants and the reuse windows, in seconds, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    pub idle: i64,
    pub absolute: i64,
    /// `tokens.refresh_token_reuse_grace`: a confidential client may retry its previous token
    /// while the successor is unused.
    pub reuse_grace: i64,
    /// `tokens.refresh_token_concurrency_window`: a used token back less than this long after
    /// its rotation is a concurrent duplicate (refused) rather than reuse (the family revoked).
    /// A thief racing the client within it is refused, and the client's next refresh with the
    /// token it holds is reuse then. 0: any reuse revokes.
    pub concurrency_window: i64,
}

/// The client presenting a refresh token, as far as the rules need it.
#[derive(Debug, Clone, Copy)]
pub struct Presenter<'a> {
    pub client_id: &'a str,
    pub client_type: ClientType,
    /// The DPoP key of the request, if it came with a proof.
    pub jkt: Option<&'a Jkt>,
}

/// A refresh that passed every check on the presented token, not yet rotated.
#[derive(Debug)]
pub struct Refresh {
    presented: Presented,
    hash: HashedKey,
}

impl Refresh {
    /// The grant being refreshed.
    pub fn grant(&self) -> &Grant {
        &self.current().grant
    }

    fn current(&self) -> &Current {
        match &self.presented {
            Presented::Current(current) => current,
            Presented::Retry { successor, .. } => successor,
        }
    }
}

/// Where a refresh starts from: the presented token, current; or, within the grace window,
/// the presented token already used and its successor still unused (the client never got it).
#[derive(Debug)]
enum Presented {
    Current(Current),
    Retry { successor_hash: HashedKey, successor: Current },
}

/// The refresh-token families.
#[derive(Debug, Clone)]
pub struct RefreshFamilies {
    db: Db,
    hot: Arc<dyn HotStore>,
    revocations: Revocations,
    audit: AuditLog,
    clock: SharedClock,
    policy: RefreshPolicy,
}

fn secs(seconds: i64) -> Duration {
    Duration::from_secs(seconds.max(1) as u64)
}

impl RefreshFamilies {
    pub fn new(
        db: Db,
        hot: Arc<dyn HotStore>,
        revocations: Revocations,
        audit: AuditLog,
        clock: SharedClock,
        policy: RefreshPolicy,
    ) -> Self {
        Self { db, hot, revocations, audit, clock, policy }
    }

    /// Stores the grant durably and its first token, issued with the access token `(jti, exp)`.
    pub async fn start(&self, family: NewFamily<'_>, access: (String, i64)) -> Result<RefreshToken, RefreshError> {
        let now = self.clock.now();
        let grant = Grant {
            family_id: family.family_id,
            client_id: family.client_id.to_owned(),
            user_id: family.user_id.to_owned(),
            scope: family.scope.clone(),
            resources: family.resources.to_vec(),
            jkt: family.jkt,
            auth_time: family.auth_time,
            sid: family.sid.to_owned(),
            expires_at: family.auth_time + self.policy.absolute,
        };
        let row = RefreshFamilyRow {
            family_id: grant.family_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.clone(),
            scopes: json_list(grant.scope.iter().map(|s| s.as_str())),
            resources: json_list(grant.resources.iter().map(|r| r.as_str())),
            jkt: grant.jkt.as_ref().map(|jkt| jkt.as_str().to_owned()),
            auth_time: grant.auth_time,
            sid: grant.sid.clone(),
            created_at: now,
            expires_at: grant.expires_at,
            revoked_at: None,
        };
        self.db.run(move |conn| row.insert(conn)).await?;
        let token = RefreshToken::generate();
        self.write_current(&token, grant, 0, access, Vec::new()).await?;
        Ok(token)
    }

    /// Writes `token` as a family's current token, and the family's state.
    async fn write_current(
        &self,
        token: &RefreshToken,
        grant: Grant,
        generation: i64,
        access: (String, i64),
        mut access_tokens: Vec<(String, i64)>,
    ) -> Result<(), HotStoreError> {
        let now = self.clock.now();
        let hash = token.hash();
        let remaining = grant.expires_at - now;
        let family_id = grant.family_id.clone();
        access_tokens.retain(|(_, exp)| *exp > now);
        access_tokens.push(access.clone());
        let current = Current { grant, generation, issued_at: now, access };
        let family = FamilyState { current: hash.as_str().to_owned(), access_tokens };
        // Issued in this order and awaited together: one round trip to Redis (both on one
        // connection, in order) or one commit of the embedded store's journal, not two.
        let (current, family) = tokio::join!(
            CURRENT.put(self.hot.as_ref(), &hash, &current, secs(self.policy.idle.min(remaining))),
            FAMILY.put(self.hot.as_ref(), &family_id, &family, secs(remaining)),
        );
        current.and(family)
    }

    /// Revokes a family: its current token and live access tokens in the hot store, then
    /// durably. Returns how many access tokens were revoked.
    pub async fn revoke(&self, family_id: &str) -> Result<usize, RefreshError> {
        let now = self.clock.now();
        let revoked = self.revoke_hot(family_id, now).await?;
        let id = family_id.to_owned();
        self.db.run(move |conn| RefreshFamilyRow::revoke(conn, &id, now)).await?;
        Ok(revoked)
    }

    /// The hot-store half of a revocation: the family marked revoked, its current token gone,
    /// its live access tokens in the revoked set. Returns how many access tokens that was.
    ///
    /// The hot store first and the durable mark last: if a step fails, the family is still
    /// listed as live and revoking it again (disable, withdrawal) redoes every step.
    async fn revoke_hot(&self, family_id: &str, now: i64) -> Result<usize, RefreshError> {
        REVOKED_FAMILY.mark(self.hot.as_ref(), family_id, secs(self.policy.absolute)).await?;
        let mut revoked = 0;
        if let Some(family) = FAMILY.get(self.hot.as_ref(), family_id).await? {
            CURRENT.delete(self.hot.as_ref(), &HashedKey::from_stored(family.current)).await?;
            for (jti, exp) in family.access_tokens.iter().filter(|(_, exp)| Revocations::could_be_accepted(*exp, now)) {
                self.revocations.revoke(jti, *exp, now).await?;
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// An operator's revocation of `family_ids`: each revoked as [`RefreshFamilies::revoke`]
    /// does, the durable marks written in one transaction with `event`, whose `detail` gets
    /// the counts. Returns them: families this call revoked, access tokens it put in the
    /// revoked set.
    pub async fn revoke_audited(
        &self,
        family_ids: Vec<String>,
        mut event: NewAuditEvent,
    ) -> Result<Revoked, RefreshError> {
        let now = self.clock.now();
        let mut access_tokens = 0;
        for family_id in &family_ids {
            access_tokens += self.revoke_hot(family_id, now).await?;
        }
        let families = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let mut families = 0;
                    for family_id in &family_ids {
                        families += usize::from(RefreshFamilyRow::revoke(conn, family_id, now)?);
                    }
                    let mut detail = match event.detail.as_deref().map(serde_json::from_str) {
                        Some(Ok(serde_json::Value::Object(map))) => map,
                        _ => serde_json::Map::new(),
                    };
                    detail.insert("revoked_families".into(), families.into());
                    detail.insert("revoked_access_tokens".into(), access_tokens.into());
                    event.detail = Some(serde_json::Value::Object(detail).to_string());
                    event.insert(conn)?;
                    Ok(families)
                })
            })
            .await?;
        Ok(Revoked { revoked_families: families, revoked_access_tokens: access_tokens })
    }

    /// The grants of `owner` that are neither revoked nor expired.
    pub async fn live_of(&self, owner: Owner) -> Result<Vec<String>, RefreshError> {
        let now = self.clock.now();
        Ok(self
            .db
            .run(move |conn| match &owner {
                Owner::User(id) => RefreshFamilyRow::live_of_user_at(conn, id, now),
                Owner::Client(id) => RefreshFamilyRow::live_of_client(conn, id, now),
            })
            .await?)
    }

    /// The stored grant `family_id`, revoked or not.
    pub async fn find(&self, family_id: &str) -> Result<Option<RefreshFamilyRow>, RefreshError> {
        let id = family_id.to_owned();
        Ok(self.db.run(move |conn| RefreshFamilyRow::find(conn, &id)).await?)
    }

    /// Revokes every live grant of a user. Returns how many.
    pub async fn revoke_user(&self, user_id: &str) -> Result<usize, RefreshError> {
        let id = user_id.to_owned();
        let families = self.db.run(move |conn| RefreshFamilyRow::live_of_user(conn, &id)).await?;
        for family in &families {
            self.revoke(family).await?;
        }
        Ok(families.len())
    }

    /// Who `token` belongs to, current or used.
    pub async fn family_of(&self, token: &RefreshToken) -> Result<Option<FamilyRef>, RefreshError> {
        let hash = token.hash();
        if let Some(current) = CURRENT.get(self.hot.as_ref(), &hash).await? {
            let grant = current.grant;
            return Ok(Some(FamilyRef {
                family_id: grant.family_id,
                client_id: grant.client_id,
                user_id: grant.user_id,
            }));
        }
        if let Some(used) = USED.get(self.hot.as_ref(), &hash).await? {
            return Ok(Some(FamilyRef { family_id: used.family_id, client_id: used.client_id, user_id: used.user_id }));
        }
        Ok(None)
    }

    /// Checks the presented token for `presenter` without using it up, so a refused refresh
    /// changes nothing. Reuse of a used token revokes its family and is audited.
    pub async fn begin(
        &self,
        token: &RefreshToken,
        presenter: Presenter<'_>,
        request: &RequestMeta,
    ) -> Result<Refresh, RefreshError> {
        let now = self.clock.now();
        let hash = token.hash();
        let presented = self.read_presented(&hash, presenter, request).await?;
        let refresh = Refresh { presented, hash };
        let current = refresh.current();
        let grant = &current.grant;
        // CORE-15: the token is this client's; BCP-10: idle and absolute lifetimes.
        if grant.client_id != presenter.client_id
            || now >= grant.expires_at
            || now - current.issued_at > self.policy.idle
        {
            return Err(RefreshError::Invalid);
        }
        if self.is_revoked(&grant.family_id).await? {
            return Err(RefreshError::Invalid);
        }
        if let Some(bound) = &grant.jkt {
            if presenter.jkt != Some(bound) {
                return Err(RefreshError::OtherKey);
            }
        }
        Ok(refresh)
    }

    async fn read_presented(
        &self,
        hash: &HashedKey,
        presenter: Presenter<'_>,
        request: &RequestMeta,
    ) -> Result<Presented, RefreshError> {
        let now = self.clock.now();
        if let Some(current) = CURRENT.get(self.hot.as_ref(), hash).await? {
            return Ok(Presented::Current(current));
        }
        let Some(used) = USED.get(self.hot.as_ref(), hash).await? else {
            return Err(RefreshError::Invalid);
        };
        if used.client_id != presenter.client_id {
            return Err(RefreshError::Invalid);
        }
        let grace = self.policy.reuse_grace;
        if grace > 0 && presenter.client_type == ClientType::Confidential && now - used.rotated_at <= grace {
            let successor_hash = HashedKey::from_stored(used.successor.clone());
            if let Some(successor) = CURRENT.get(self.hot.as_ref(), &successor_hash).await? {
                return Ok(Presented::Retry { successor_hash, successor });
            }
        }
        // A duplicate sent together with the request that used the token (a client refreshing
        // twice at once) is refused without revoking, so exactly one of concurrent refreshes
        // wins (docs/security.md, "Refresh tokens").
        if now - used.rotated_at < self.policy.concurrency_window {
            return Err(RefreshError::Invalid);
        }
        Err(self.reuse_detected(presenter.client_id, &used.family_id, &used.user_id, request).await)
    }

    /// Uses up the token `refresh` starts from and issues its successor, with the access token
    /// `(jti, exp)` minted for this refresh. Taking the token decides between concurrent
    /// refreshes; the loser is refused without revoking the family (if it was a thief, the
    /// client's next refresh with the token it holds is reuse and revokes the family then).
    pub async fn rotate(&self, refresh: Refresh, access: (String, i64)) -> Result<RefreshToken, RefreshError> {
        let now = self.clock.now();
        let grant = refresh.grant().clone();
        let generation = refresh.current().generation;
        let next = RefreshToken::generate();
        let next_hash = next.hash();
        let (taken_hash, rotated_at) = match &refresh.presented {
            Presented::Current(_) => (refresh.hash.clone(), now),
            // A retry: the discarded successor gets no grace of its own (rotated_at 0), and the
            // presented token's record keeps its time, so the window cannot be stretched.
            Presented::Retry { successor_hash, .. } => (successor_hash.clone(), 0),
        };
        // Removing the token decides between concurrent refreshes (one removes it); what it held
        // was read by `begin`, so it is not decoded again here.
        if !CURRENT.delete(self.hot.as_ref(), &taken_hash).await? {
            self.revocations.revoke(&access.0, access.1, now).await?;
            return Err(RefreshError::Invalid);
        }
        // At once a used token: a replay from here on is recognised, for as long as the grant lives.
        let used = Used {
            family_id: grant.family_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.clone(),
            rotated_at,
            successor: next_hash.as_str().to_owned(),
        };
        USED.put(self.hot.as_ref(), &taken_hash, &used, secs(grant.expires_at - now)).await?;
        if let Presented::Retry { successor, .. } = &refresh.presented {
            // The successor the client never received is dead, and so is its access token.
            self.revocations.revoke(&successor.access.0, successor.access.1, now).await?;
        }
        let family = FAMILY.get(self.hot.as_ref(), &grant.family_id).await?.unwrap_or_default();
        self.write_current(&next, grant.clone(), generation + 1, access.clone(), family.access_tokens).await?;
        // A revocation that ran meanwhile did not see this rotation: undo it.
        if self.is_revoked(&grant.family_id).await? {
            CURRENT.delete(self.hot.as_ref(), &next_hash).await?;
            self.revocations.revoke(&access.0, access.1, now).await?;
            return Err(RefreshError::Invalid);
        }
        Ok(next)
    }

    /// Whether the family was revoked. The in-process store of the embedded setup hears a
    /// revocation made by another process (the CLI) only at its next look at the database (within
    /// half a second), so there the durable mark is read as well.
    async fn is_revoked(&self, family_id: &str) -> Result<bool, RefreshError> {
        if REVOKED_FAMILY.is_marked(self.hot.as_ref(), family_id).await? {
            return Ok(true);
        }
        if self.hot.is_shared() {
            return Ok(false);
        }
        let id = family_id.to_owned();
        let row = self.db.run(move |conn| RefreshFamilyRow::find(conn, &id)).await?;
        Ok(row.is_none_or(|r| r.revoked_at.is_some()))
    }

    /// RFC 9700 §4.14.2: a used refresh token came back; the family and its access tokens are
    /// revoked and the event audited. Returns the error to answer with.
    async fn reuse_detected(
        &self,
        client_id: &str,
        family_id: &str,
        user_id: &str,
        request: &RequestMeta,
    ) -> RefreshError {
        let revoked = match self.revoke(family_id).await {
            Ok(count) => count,
            Err(e) => return e,
        };
        let mut event = request.event(self.clock.now(), "refresh_token.reuse", "refused");
        event.client_id = Some(client_id.to_owned());
        event.user_id = Some(user_id.to_owned());
        event.detail = Some(serde_json::json!({ "family": family_id, "revoked_access_tokens": revoked }).to_string());
        self.audit.record(event);
        RefreshError::Reused
    }
}

fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    serde_json::Value::from(items.collect::<Vec<_>>()).to_string()
}
