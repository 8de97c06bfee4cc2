//! `grant_type=refresh_token` (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12): opaque tokens
//! (`idp_rt_` + 256 bits) stored as SHA-256, each belonging to a durable family (the grant).
//! Every use rotates: the presented token is marked used in the same transaction that adds its
//! successor, so of two concurrent refreshes exactly one wins. A used token presented again
//! revokes the family and the access tokens it issued, unless it is the previous token retried
//! within `tokens.refresh_token_reuse_grace` while its successor is still unused.

use std::time::Duration;

use actix_web::HttpRequest;
use diesel::Connection;

use super::{grant_audience, mint_access_token, token_scope, Audience, Binding};
use crate::audit::AuditLog;
use crate::crypto::{b64url, random_token, sha256};
use crate::domain::{ClientType, ResourceIndicator, Scope, ScopeSet};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::access_token::{revoked_key, AccessTokenClaims};
use crate::oauth::id_token::{self, Authentication};
use crate::oauth::token::TokenResponse;
use crate::registry::Client;
use crate::startup::AppState;
use crate::store::models::{RefreshFamilyRow, RefreshTokenRow, UserRow};
use crate::users::User;

pub const PREFIX: &str = "idp_rt_";

#[derive(Debug)]
pub struct RefreshTokenRequest {
    pub refresh_token: String,
    pub scope: Option<ScopeSet>,
    pub resource: Option<ResourceIndicator>,
}

fn token_hash(token: &str) -> String {
    b64url(&sha256(token.as_bytes()))
}

fn new_token() -> String {
    format!("{PREFIX}{}", random_token())
}

fn invalid_grant() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is invalid, expired or revoked")
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

/// Stores a new family with its first token; returns `(token, family_id)`.
pub async fn start_family(
    state: &AppState,
    family: NewFamily<'_>,
    access: &AccessTokenClaims,
) -> Result<(String, String), OAuthError> {
    let now = state.clock.now();
    let token = new_token();
    let family_row = RefreshFamilyRow {
        family_id: family.family_id,
        client_id: family.client.id.as_str().to_owned(),
        user_id: family.user_id.to_owned(),
        scopes: serde_json::to_string(&family.scope.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .map_err(OAuthError::server_error)?,
        resources: serde_json::to_string(&family.resources.iter().map(|r| r.as_str()).collect::<Vec<_>>())
            .map_err(OAuthError::server_error)?,
        jkt: family.jkt,
        auth_time: family.auth_time,
        sid: family.sid.to_owned(),
        generation: 0,
        created_at: now,
        expires_at: family.auth_time + state.settings.tokens.refresh_token_absolute_lifetime.as_secs() as i64,
        revoked_at: None,
    };
    let token_row = RefreshTokenRow {
        token_hash: token_hash(&token),
        family_id: family_row.family_id.clone(),
        generation: 0,
        issued_at: now,
        rotated_at: None,
        access_jti: access.jti.clone(),
        access_exp: access.exp,
    };
    let family_id = family_row.family_id.clone();
    state
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                family_row.insert(conn)?;
                token_row.insert(conn)
            })
        })
        .await
        .map_err(OAuthError::unavailable)?;
    Ok((token, family_id))
}

/// Revokes a family and puts the access tokens it issued that may still be live into the
/// revoked set. Returns how many access tokens were revoked.
pub async fn revoke_family(state: &AppState, family_id: &str) -> Result<usize, OAuthError> {
    let now = state.clock.now();
    let id = family_id.to_owned();
    let live = state
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                RefreshFamilyRow::revoke(conn, &id, now)?;
                RefreshTokenRow::live_access_tokens(conn, &id, now)
            })
        })
        .await
        .map_err(OAuthError::unavailable)?;
    for (jti, exp) in &live {
        revoke_jti(state, jti, *exp).await?;
    }
    Ok(live.len())
}

/// The family of a refresh token, if this client holds it (for revocation, RFC 7009).
pub async fn family_of(state: &AppState, token: &str) -> Result<Option<RefreshFamilyRow>, OAuthError> {
    let hash = token_hash(token);
    let found = state.db.run(move |conn| RefreshTokenRow::find_with_family(conn, &hash)).await;
    Ok(found.map_err(OAuthError::unavailable)?.map(|(_, family)| family))
}

enum Rotation {
    Done,
    FamilyChanged,
    Lost,
}

async fn revoke_jti(state: &AppState, jti: &str, exp: i64) -> Result<(), OAuthError> {
    let ttl = Duration::from_secs((exp - state.clock.now()).max(1) as u64);
    state.hot.put(&revoked_key(jti), b"1", ttl).await.map_err(OAuthError::unavailable)
}

/// An access token minted for a rotation that did not happen must not stay usable.
async fn revoke_access_token(state: &AppState, claims: &AccessTokenClaims) -> Result<(), OAuthError> {
    revoke_jti(state, &claims.jti, claims.exp).await
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
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
    let lookup = hash.clone();
    // The token, its family and its user in one trip to the database.
    let (token, family, user) = state
        .db
        .run(move |conn| {
            let Some((token, family)) = RefreshTokenRow::find_with_family(conn, &lookup)? else {
                return Ok(None);
            };
            let user = UserRow::find(conn, &family.user_id)?;
            Ok(Some((token, family, user)))
        })
        .await
        .map_err(OAuthError::unavailable)?
        .ok_or_else(invalid_grant)?;
    // CORE-15: the token is this client's.
    if family.client_id != client.id.as_str() || family.revoked_at.is_some() || now >= family.expires_at {
        return Err(invalid_grant());
    }
    // A used token is reuse however old it is (BCP-9), except the previous token of a
    // confidential client retried within the grace window while its successor is unused.
    let grace = state.settings.tokens.refresh_token_reuse_grace.as_secs() as i64;
    let retry_of_previous = match token.rotated_at {
        None => false,
        Some(rotated_at)
            if grace > 0
                && client.client_type == ClientType::Confidential
                && token.generation == family.generation - 1
                && now - rotated_at <= grace =>
        {
            true
        }
        Some(_) => return Err(reuse_detected(state, req, client, &family).await),
    };
    let idle = state.settings.tokens.refresh_token_idle_lifetime.as_secs() as i64;
    if now - token.issued_at > idle {
        return Err(invalid_grant());
    }
    if let Some(bound) = &family.jkt {
        if binding.jkt.as_ref() != Some(bound) {
            return Err(OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is bound to another DPoP key"));
        }
    }
    let granted: ScopeSet = json_list(&family.scopes).iter().filter_map(|s| Scope::parse(s).ok()).collect();
    let scope = match request.scope {
        Some(asked) if !asked.is_subset(&granted) => {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "the scope exceeds the grant"))
        }
        Some(asked) => asked,
        None => granted.clone(),
    };
    let resources: Vec<ResourceIndicator> =
        json_list(&family.resources).iter().filter_map(|r| ResourceIndicator::parse(r).ok()).collect();
    let server = grant_audience(state, &resources, &granted, request.resource.as_ref())?;
    let user = user.map(User::from).filter(|u| u.enabled).ok_or_else(invalid_grant)?;
    let access_scope = token_scope(&scope, server.as_deref());
    let audience = match &server {
        Some(server) => Audience::Resource(server),
        None => Audience::Provider,
    };
    let jti = crate::oauth::token::new_jti();
    let (access_token, claims) =
        mint_access_token(state, client, &user.user_id, audience, &access_scope, binding, jti)?;

    // Rotation: mark the presented token (or, for a retry within the grace window, its unused
    // successor) used, and add the next one; a lost race is a reuse.
    let next = new_token();
    let next_row = RefreshTokenRow {
        token_hash: token_hash(&next),
        family_id: family.family_id.clone(),
        generation: family.generation + 1,
        issued_at: now,
        rotated_at: None,
        access_jti: claims.jti.clone(),
        access_exp: claims.exp,
    };
    let (family_id, current_generation) = (family.family_id.clone(), family.generation);
    let outcome = state
        .db
        .run(move |conn| {
            let attempt = conn.transaction(|conn| {
                // First the family row: a concurrent revocation holds it too, so the two run one
                // after the other and the revocation sees the new token (or this sees it revoked).
                if !RefreshFamilyRow::advance(conn, &family_id, current_generation)? {
                    return Ok(Rotation::FamilyChanged);
                }
                let won = if retry_of_previous {
                    RefreshTokenRow::rotate_generation(conn, &family_id, current_generation, now)?
                } else {
                    RefreshTokenRow::rotate(conn, &hash, now)?
                };
                if !won {
                    return Err(diesel::result::Error::RollbackTransaction);
                }
                next_row.insert(conn)?;
                Ok(Rotation::Done)
            });
            match attempt {
                Err(diesel::result::Error::RollbackTransaction) => Ok(Rotation::Lost),
                other => other,
            }
        })
        .await
        .map_err(OAuthError::unavailable)?;
    match outcome {
        Rotation::Done => {}
        // Another rotation or a revocation got there first.
        Rotation::FamilyChanged | Rotation::Lost => {
            revoke_access_token(state, &claims).await?;
            return Err(reuse_detected(state, req, client, &family).await);
        }
    }
    if retry_of_previous {
        // The successor the client never received is dead: so is its access token.
        let discarded = family.generation;
        let id = family.family_id.clone();
        let tokens = state
            .db
            .run(move |conn| RefreshTokenRow::access_token_of(conn, &id, discarded))
            .await
            .map_err(OAuthError::unavailable)?;
        for (jti, exp) in tokens {
            revoke_jti(state, &jti, exp).await?;
        }
    }

    let mut response = TokenResponse::bearer_or_dpop(access_token, &claims);
    response.refresh_token = Some(next);
    if scope.contains("openid") {
        // OIDC-18: same iss, sub, aud, auth_time; no nonce.
        let authentication = Authentication { auth_time: family.auth_time, sid: &family.sid, nonce: None };
        let id_token = id_token::sign(state, client, &user, &scope, &authentication, Some(&response.access_token))
            .map_err(OAuthError::server_error)?;
        response.id_token = Some(id_token);
    }
    let mut event = AuditLog::about(req, now, "token.issued", "success");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(user.user_id);
    event.detail = Some(serde_json::json!({ "grant_type": "refresh_token", "jti": claims.jti }).to_string());
    state.audit.record(event);
    Ok(response)
}

/// RFC 9700 §4.14.2: a used refresh token came back; the family and its access tokens are
/// revoked and the event audited. Returns the error to answer with.
async fn reuse_detected(state: &AppState, req: &HttpRequest, client: &Client, family: &RefreshFamilyRow) -> OAuthError {
    let revoked = match revoke_family(state, &family.family_id).await {
        Ok(count) => count,
        Err(e) => return e,
    };
    let mut event = AuditLog::about(req, state.clock.now(), "refresh_token.reuse", "refused");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(family.user_id.clone());
    event.detail =
        Some(serde_json::json!({ "family": family.family_id, "revoked_access_tokens": revoked }).to_string());
    state.audit.record(event);
    invalid_grant()
}
