//! `grant_type=refresh_token` (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12.2).
//!
//! A refresh token (`idp_rt_` + 256 bits) belongs to a family: the grant the user gave, kept
//! durably in the database (client, user, scopes, resources, DPoP key, sign-in). The rotating
//! tokens are hot state, stored under their SHA-256 in the hot store with a copy of what the
//! grant allows, so a refresh touches no SQL:
//!
//! - `rt:{hash}`: the family's current token; taken (read and removed atomically) by the one
//!   refresh that uses it, so of two concurrent refreshes exactly one wins;
//! - `rt-used:{hash}`: a token already used, so presenting it again is recognised as reuse and
//!   revokes the family (unless it is the previous token of a confidential client retried
//!   within `tokens.refresh_token_reuse_grace` while its successor is still unused);
//! - `rt-family:{id}`: the family's current token and its live access tokens, to revoke them;
//! - `rt-revoked:{id}`: set when the family is revoked; a rotation that raced with the
//!   revocation checks it after writing and undoes itself.
//!
//! With Redis these survive restarts as Redis does; the in-process store of the embedded
//! setup loses them on restart (users sign in again).

use std::time::Duration;

use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use super::{grant_audience, mint_access_token, token_scope, Audience, Binding};
use crate::crypto::{b64url, random_token, sha256};
use crate::domain::{ClientType, ResourceIndicator, ScopeSet};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::access_token::{self, AccessTokenClaims};
use crate::oauth::id_token::{self, Authentication};
use crate::oauth::token::TokenResponse;
use crate::services::registry::Client;
use crate::state::AppState;
use crate::store::hot::key;
use crate::store::models::RefreshFamilyRow;

pub const PREFIX: &str = "idp_rt_";

/// Seconds after a rotation during which the same token again counts as a concurrent
/// duplicate (refused) rather than reuse (the family revoked). A thief racing the client within
/// it is refused, and the client's next refresh with the token it holds is reuse then.
const CONCURRENT_WINDOW: i64 = 2;

#[derive(Debug)]
pub struct RefreshTokenRequest {
    pub refresh_token: String,
    pub scope: Option<ScopeSet>,
    pub resource: Option<ResourceIndicator>,
}

/// What the grant allows, copied into each token's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grant {
    family_id: String,
    client_id: String,
    user_id: String,
    scope: ScopeSet,
    resources: Vec<ResourceIndicator>,
    jkt: Option<String>,
    auth_time: i64,
    sid: String,
    expires_at: i64,
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

fn token_hash(token: &str) -> String {
    b64url(&sha256(token.as_bytes()))
}

fn current_key(hash: &str) -> String {
    key("rt", hash)
}

fn used_key(hash: &str) -> String {
    key("rt-used", hash)
}

fn family_key(family_id: &str) -> String {
    key("rt-family", family_id)
}

fn revoked_family_key(family_id: &str) -> String {
    key("rt-revoked", family_id)
}

fn invalid_grant() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked")
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, OAuthError> {
    serde_json::to_vec(value).map_err(OAuthError::server_error)
}

fn secs(seconds: i64) -> Duration {
    Duration::from_secs(seconds.max(1) as u64)
}

/// The grant a first refresh token starts.
pub struct NewFamily<'a> {
    pub family_id: String,
    pub client: &'a Client,
    pub user_id: &'a str,
    pub scope: &'a ScopeSet,
    pub resources: &'a [ResourceIndicator],
    /// Public clients' refresh tokens are bound to their DPoP key (RFC 9449 §5).
    pub jkt: Option<String>,
    pub auth_time: i64,
    pub sid: &'a str,
}

/// Stores the grant durably and its first token; returns `(token, family_id)`.
pub async fn start_family(
    state: &AppState,
    family: NewFamily<'_>,
    access: &AccessTokenClaims,
) -> Result<(String, String), OAuthError> {
    let now = state.clock.now();
    let grant = Grant {
        family_id: family.family_id,
        client_id: family.client.id.as_str().to_owned(),
        user_id: family.user_id.to_owned(),
        scope: family.scope.clone(),
        resources: family.resources.to_vec(),
        jkt: family.jkt,
        auth_time: family.auth_time,
        sid: family.sid.to_owned(),
        expires_at: family.auth_time + state.settings.tokens.refresh_token_absolute_lifetime.as_secs() as i64,
    };
    let row = RefreshFamilyRow {
        family_id: grant.family_id.clone(),
        client_id: grant.client_id.clone(),
        user_id: grant.user_id.clone(),
        scopes: serde_json::to_string(&grant.scope.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .map_err(OAuthError::server_error)?,
        resources: serde_json::to_string(&grant.resources.iter().map(|r| r.as_str()).collect::<Vec<_>>())
            .map_err(OAuthError::server_error)?,
        jkt: grant.jkt.clone(),
        auth_time: grant.auth_time,
        sid: grant.sid.clone(),
        created_at: now,
        expires_at: grant.expires_at,
        revoked_at: None,
    };
    state.db.run(move |conn| row.insert(conn)).await.map_err(OAuthError::unavailable)?;
    let family_id = grant.family_id.clone();
    let token = new_token();
    issue_token(state, &token, grant, 0, (access.jti.clone(), access.exp), Vec::new()).await?;
    Ok((token, family_id))
}

fn new_token() -> String {
    format!("{PREFIX}{}", random_token())
}

/// Writes `token` as a family's current token, and the family's state.
async fn issue_token(
    state: &AppState,
    token: &str,
    grant: Grant,
    generation: i64,
    access: (String, i64),
    mut access_tokens: Vec<(String, i64)>,
) -> Result<(), OAuthError> {
    let now = state.clock.now();
    let hash = token_hash(token);
    let remaining = grant.expires_at - now;
    let idle = state.settings.tokens.refresh_token_idle_lifetime.as_secs() as i64;
    let family_id = grant.family_id.clone();
    access_tokens.retain(|(_, exp)| *exp > now);
    access_tokens.push(access.clone());
    let current = Current { grant, generation, issued_at: now, access };
    state
        .hot
        .put(&current_key(&hash), &json(&current)?, secs(idle.min(remaining)))
        .await
        .map_err(OAuthError::unavailable)?;
    let family = FamilyState { current: hash, access_tokens };
    state.hot.put(&family_key(&family_id), &json(&family)?, secs(remaining)).await.map_err(OAuthError::unavailable)?;
    Ok(())
}

async fn revoke_jti(state: &AppState, jti: &str, exp: i64) -> Result<(), OAuthError> {
    access_token::revoke(state.hot.as_ref(), jti, exp, state.clock.now()).await.map_err(OAuthError::unavailable)
}

/// Revokes a family: durably, then its current token and live access tokens in the hot store.
/// Returns how many access tokens were revoked.
pub async fn revoke_family(state: &AppState, family_id: &str) -> Result<usize, OAuthError> {
    let now = state.clock.now();
    // The hot store first and the durable mark last: if a step fails, the family is still
    // listed as live and revoking it again (disable, withdrawal) redoes every step.
    let lifetime = state.settings.tokens.refresh_token_absolute_lifetime.as_secs() as i64;
    state.hot.put(&revoked_family_key(family_id), b"1", secs(lifetime)).await.map_err(OAuthError::unavailable)?;
    let mut revoked = 0;
    if let Some(bytes) = state.hot.get(&family_key(family_id)).await.map_err(OAuthError::unavailable)? {
        let family: FamilyState = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
        state.hot.delete(&current_key(&family.current)).await.map_err(OAuthError::unavailable)?;
        for (jti, exp) in family.access_tokens.iter().filter(|(_, exp)| *exp + access_token::LEEWAY > now) {
            revoke_jti(state, jti, *exp).await?;
            revoked += 1;
        }
    }
    let id = family_id.to_owned();
    state.db.run(move |conn| RefreshFamilyRow::revoke(conn, &id, now)).await.map_err(OAuthError::unavailable)?;
    Ok(revoked)
}

/// Revokes every grant of a user (the user was disabled). Returns how many.
pub async fn revoke_user_grants(state: &AppState, user_id: &str) -> Result<usize, OAuthError> {
    let id = user_id.to_owned();
    let families =
        state.db.run(move |conn| RefreshFamilyRow::live_of_user(conn, &id)).await.map_err(OAuthError::unavailable)?;
    for family in &families {
        revoke_family(state, family).await?;
    }
    Ok(families.len())
}

/// Who a refresh token belongs to, for revocation (RFC 7009).
pub struct FamilyRef {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
}

pub async fn family_of(state: &AppState, token: &str) -> Result<Option<FamilyRef>, OAuthError> {
    let hash = token_hash(token);
    if let Some(bytes) = state.hot.get(&current_key(&hash)).await.map_err(OAuthError::unavailable)? {
        let current: Current = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
        let grant = current.grant;
        return Ok(Some(FamilyRef { family_id: grant.family_id, client_id: grant.client_id, user_id: grant.user_id }));
    }
    if let Some(bytes) = state.hot.get(&used_key(&hash)).await.map_err(OAuthError::unavailable)? {
        let used: Used = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
        return Ok(Some(FamilyRef { family_id: used.family_id, client_id: used.client_id, user_id: used.user_id }));
    }
    Ok(None)
}

/// Where a refresh starts from: the presented token, current; or, within the grace window,
/// the presented token already used and its successor still unused (the client never got it).
enum Presented {
    Current(Current),
    Retry { successor_hash: String, successor: Current },
}

/// Reads (does not use up) what the presented token stands for.
async fn read_presented(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    hash: &str,
) -> Result<Presented, OAuthError> {
    let now = state.clock.now();
    if let Some(bytes) = state.hot.get(&current_key(hash)).await.map_err(OAuthError::unavailable)? {
        return Ok(Presented::Current(serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?));
    }
    let Some(bytes) = state.hot.get(&used_key(hash)).await.map_err(OAuthError::unavailable)? else {
        return Err(invalid_grant());
    };
    let used: Used = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
    if used.client_id != client.id.as_str() {
        return Err(invalid_grant());
    }
    let grace = state.settings.tokens.refresh_token_reuse_grace.as_secs() as i64;
    if grace > 0 && client.client_type == ClientType::Confidential && now - used.rotated_at <= grace {
        if let Some(bytes) = state.hot.get(&current_key(&used.successor)).await.map_err(OAuthError::unavailable)? {
            let successor = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
            return Ok(Presented::Retry { successor_hash: used.successor, successor });
        }
    }
    // A duplicate sent together with the request that used the token (a client refreshing
    // twice at once) is refused without revoking, so exactly one of concurrent refreshes wins.
    if now - used.rotated_at < CONCURRENT_WINDOW {
        return Err(invalid_grant());
    }
    Err(reuse_detected(state, req, client, &used.family_id, &used.user_id).await)
}

pub async fn issue(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    request: RefreshTokenRequest,
    binding: Binding,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    let hash = token_hash(&request.refresh_token);
    let presented = read_presented(state, req, client, &hash).await?;
    let current = match &presented {
        Presented::Current(current) => current,
        Presented::Retry { successor, .. } => successor,
    };
    let grant = current.grant.clone();
    // CORE-15: the token is this client's; BCP-10: idle and absolute lifetimes.
    let idle = state.settings.tokens.refresh_token_idle_lifetime.as_secs() as i64;
    if grant.client_id != client.id.as_str() || now >= grant.expires_at || now - current.issued_at > idle {
        return Err(invalid_grant());
    }
    if is_revoked(state, &grant.family_id).await? {
        return Err(invalid_grant());
    }
    if let Some(bound) = &grant.jkt {
        if binding.jkt.as_ref() != Some(bound) {
            return Err(OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is bound to another DPoP key"));
        }
    }
    let scope = match &request.scope {
        Some(asked) if !asked.is_subset(&grant.scope) => {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "the scope exceeds the grant"))
        }
        Some(asked) => asked.clone(),
        None => grant.scope.clone(),
    };
    let server = grant_audience(state, &grant.resources, &grant.scope, request.resource.as_ref())?;
    // OIDC-18: an ID token on refresh has the user's current claims; only then is the user read.
    let user = match scope.contains("openid") {
        true => Some(
            state
                .users
                .find(&grant.user_id)
                .await
                .map_err(OAuthError::unavailable)?
                .filter(|u| u.enabled)
                .ok_or_else(invalid_grant)?,
        ),
        false => None,
    };
    let audience = match &server {
        Some(server) => Audience::Resource(server),
        None => Audience::Provider,
    };
    let access_scope = token_scope(&scope, server.as_deref());
    let jti = crate::oauth::token::new_jti();
    let (access_token, claims) =
        mint_access_token(state, client, &grant.user_id, audience, &access_scope, binding, jti)?;

    // Every check passed: use up the token this refresh starts from. Taking it decides between
    // concurrent refreshes. The loser is refused without revoking the family: if it was a thief,
    // the client's next refresh with the token it holds is reuse and revokes the family then.
    let next = new_token();
    let next_hash = token_hash(&next);
    let (taken_hash, rotated_at) = match &presented {
        Presented::Current(_) => (hash.clone(), now),
        // A retry: the discarded successor gets no grace of its own (rotated_at 0), and the
        // presented token's record keeps its time, so the window cannot be stretched.
        Presented::Retry { successor_hash, .. } => (successor_hash.clone(), 0),
    };
    if state.hot.take(&current_key(&taken_hash)).await.map_err(OAuthError::unavailable)?.is_none() {
        revoke_jti(state, &claims.jti, claims.exp).await?;
        return Err(invalid_grant());
    }
    // At once a used token: a replay from here on is recognised, for as long as the grant lives.
    let used = Used {
        family_id: grant.family_id.clone(),
        client_id: grant.client_id.clone(),
        user_id: grant.user_id.clone(),
        rotated_at,
        successor: next_hash.clone(),
    };
    let lineage_ttl = secs(grant.expires_at - now);
    state.hot.put(&used_key(&taken_hash), &json(&used)?, lineage_ttl).await.map_err(OAuthError::unavailable)?;
    if let Presented::Retry { successor, .. } = &presented {
        // The successor the client never received is dead, and so is its access token.
        revoke_jti(state, &successor.access.0, successor.access.1).await?;
    }
    let family: FamilyState =
        match state.hot.get(&family_key(&grant.family_id)).await.map_err(OAuthError::unavailable)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?,
            None => FamilyState::default(),
        };
    issue_token(
        state,
        &next,
        grant.clone(),
        current.generation + 1,
        (claims.jti.clone(), claims.exp),
        family.access_tokens,
    )
    .await?;
    // A revocation that ran meanwhile did not see this rotation: undo it.
    if is_revoked(state, &grant.family_id).await? {
        state.hot.delete(&current_key(&next_hash)).await.map_err(OAuthError::unavailable)?;
        revoke_jti(state, &claims.jti, claims.exp).await?;
        return Err(invalid_grant());
    }

    let mut response = TokenResponse::bearer_or_dpop(access_token, &claims);
    response.refresh_token = Some(next);
    if let Some(user) = &user {
        // OIDC-18: same iss, sub, aud, auth_time; no nonce.
        let authentication = Authentication { auth_time: grant.auth_time, sid: &grant.sid, nonce: None };
        let id_token = id_token::sign(state, client, user, &scope, &authentication, Some(&response.access_token))
            .map_err(OAuthError::server_error)?;
        response.id_token = Some(id_token);
    }
    let mut event = crate::http::request_meta(req).event(now, "token.issued", "success");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(grant.user_id);
    event.detail = Some(serde_json::json!({ "grant_type": "refresh_token", "jti": claims.jti }).to_string());
    state.audit.record(event);
    Ok(response)
}

/// Whether the family was revoked. The in-process store of the embedded setup cannot hear a
/// revocation made by another process (the CLI), so there the durable mark is read as well.
async fn is_revoked(state: &AppState, family_id: &str) -> Result<bool, OAuthError> {
    if state.hot.get(&revoked_family_key(family_id)).await.map_err(OAuthError::unavailable)?.is_some() {
        return Ok(true);
    }
    if state.hot.is_shared() {
        return Ok(false);
    }
    let id = family_id.to_owned();
    let row = state.db.run(move |conn| RefreshFamilyRow::find(conn, &id)).await.map_err(OAuthError::unavailable)?;
    Ok(row.is_none_or(|r| r.revoked_at.is_some()))
}

/// RFC 9700 §4.14.2: a used refresh token came back; the family and its access tokens are
/// revoked and the event audited. Returns the error to answer with.
async fn reuse_detected(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    family_id: &str,
    user_id: &str,
) -> OAuthError {
    let revoked = match revoke_family(state, family_id).await {
        Ok(count) => count,
        Err(e) => return e,
    };
    let mut event = crate::http::request_meta(req).event(state.clock.now(), "refresh_token.reuse", "refused");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(user_id.to_owned());
    event.detail = Some(serde_json::json!({ "family": family_id, "revoked_access_tokens": revoked }).to_string());
    state.audit.record(event);
    invalid_grant()
}
