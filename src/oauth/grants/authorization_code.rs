//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3): the code
//! is checked against everything it was bound to before it is taken, so a wrong verifier or
//! redirect URI changes nothing; it is then taken atomically (of two concurrent exchanges one
//! wins), and a later attempt with the same code revokes what the first one issued.

use std::time::Duration;

use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use super::refresh_token::{revoke_family, start_family, NewFamily};
use super::{access_token_lifetime, grant_audience, mint_access_token, token_scope, Audience, Binding};
use crate::domain::{ClientType, CodeVerifier, GrantType, ResourceIndicator};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::access_token;
use crate::oauth::authorize::{code_key, CodeGrant, CODE_LIFETIME};
use crate::oauth::id_token::{self, Authentication};
use crate::oauth::token::TokenResponse;
use crate::services::registry::Client;
use crate::state::AppState;
use crate::store::hot::key;

#[derive(Debug)]
pub struct AuthorizationCodeRequest {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub resource: Option<ResourceIndicator>,
}

/// What a redeemed code issued, kept while those tokens live so a replay can revoke them
/// (RFC 6749 §4.1.2, §10.5).
#[derive(Debug, Serialize, Deserialize)]
struct Redeemed {
    access_tokens: Vec<(String, i64)>,
    #[serde(default)]
    refresh_family: Option<String>,
    /// Set by a replay, for an exchange still running to see.
    #[serde(default)]
    replayed: bool,
}

async fn replayed_meanwhile(state: &AppState, code: &str) -> Result<bool, OAuthError> {
    let record = state.hot.get(&redeemed_key(code)).await.map_err(OAuthError::unavailable)?;
    Ok(record.and_then(|bytes| serde_json::from_slice::<Redeemed>(&bytes).ok()).is_some_and(|r| r.replayed))
}

fn redeemed_key(code: &str) -> String {
    key("code-redeemed", &crate::crypto::b64url(&crate::crypto::sha256(code.as_bytes())))
}

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

pub async fn issue(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    request: AuthorizationCodeRequest,
    binding: Binding,
) -> Result<TokenResponse, OAuthError> {
    let code_key = code_key(&request.code);
    let Some(stored) = state.hot.get(&code_key).await.map_err(OAuthError::unavailable)? else {
        revoke_if_redeemed(state, req, client, &request.code).await?;
        return Err(invalid_grant("the code is invalid, expired or already used"));
    };
    let grant: CodeGrant = serde_json::from_slice(&stored).map_err(OAuthError::server_error)?;
    if grant.client_id != client.id.as_str() || grant.expires_at <= state.clock.now() {
        return Err(invalid_grant("the code is invalid, expired or already used"));
    }
    // RFC 6749 §4.1.3: identical to the authorization request's, when it had one.
    let redirect_ok = match (&request.redirect_uri, grant.redirect_uri_sent) {
        (Some(presented), _) => *presented == grant.redirect_uri,
        (None, sent) => !sent,
    };
    if !redirect_ok {
        return Err(invalid_grant("redirect_uri does not match the authorization request"));
    }
    let verifier = request
        .code_verifier
        .as_deref()
        .and_then(|v| CodeVerifier::parse(v).ok())
        .ok_or(invalid_grant("PKCE verification failed"))?;
    if !grant.code_challenge.is_satisfied_by(&verifier) {
        return Err(invalid_grant("PKCE verification failed"));
    }
    if let Some(bound) = &grant.dpop_jkt {
        if binding.jkt.as_ref() != Some(bound) {
            return Err(invalid_grant("the code is bound to another DPoP key"));
        }
    }
    let server = grant_audience(state, &grant.resources, &grant.scope, request.resource.as_ref())?;
    let user = grant.user.clone();
    let audience = match &server {
        Some(server) => Audience::Resource(server),
        None => Audience::Provider,
    };
    // BCP-8: refresh tokens only when the user granted offline_access to a client allowed them.
    let offline = grant.scope.contains("offline_access") && client.allows_grant(GrantType::RefreshToken);

    // Claim the redemption before taking the code: the record names what this exchange will
    // issue, so a replay at any moment from here on can revoke it (RFC 6749 §4.1.2).
    let now = state.clock.now();
    let jti = crate::oauth::token::new_jti();
    let exp = now + access_token_lifetime(state, client, &audience);
    let family_id = offline.then(|| uuid::Uuid::new_v4().to_string());
    let claim =
        Redeemed { access_tokens: vec![(jti.clone(), exp)], refresh_family: family_id.clone(), replayed: false };
    let ttl = Duration::from_secs((exp - now).max(CODE_LIFETIME.as_secs() as i64) as u64);
    let claimed = state
        .hot
        .put_if_absent(
            &redeemed_key(&request.code),
            &serde_json::to_vec(&claim).map_err(OAuthError::server_error)?,
            ttl,
        )
        .await
        .map_err(OAuthError::unavailable)?;
    if !claimed {
        revoke_if_redeemed(state, req, client, &request.code).await?;
        return Err(invalid_grant("the code is invalid, expired or already used"));
    }
    let taken = state.hot.take(&code_key).await.map_err(OAuthError::unavailable)?;
    if taken.as_deref() != Some(stored.as_slice()) {
        return Err(invalid_grant("the code is invalid, expired or already used"));
    }

    let scope = token_scope(&grant.scope, server.as_deref());
    let (access_token, claims) = mint_access_token(state, client, &user.user_id, audience, &scope, binding, jti)?;
    let refresh = match family_id {
        Some(family_id) => {
            let family = NewFamily {
                family_id,
                client,
                user_id: &user.user_id,
                scope: &grant.scope,
                resources: &grant.resources,
                // BCP-7: a public client's refresh tokens are sender-constrained (RFC 9449 §5).
                jkt: (client.client_type == ClientType::Public)
                    .then(|| claims.cnf.as_ref().map(|c| c.jkt.clone()))
                    .flatten(),
                auth_time: grant.auth_time,
                sid: &grant.sid,
            };
            Some(start_family(state, family, &claims).await?)
        }
        None => None,
    };
    // A replay that came while this exchange ran revoked the access token already, but found
    // the family not yet written: revoke it now, and answer as for any used code.
    if replayed_meanwhile(state, &request.code).await? {
        if let Some((_, family_id)) = &refresh {
            revoke_family(state, family_id).await?;
        }
        return Err(invalid_grant("the code is invalid, expired or already used"));
    }

    let mut response = TokenResponse::bearer_or_dpop(access_token, &claims);
    response.refresh_token = refresh.map(|(token, _)| token);
    if grant.scope.contains("openid") {
        let authentication =
            Authentication { auth_time: grant.auth_time, sid: &grant.sid, nonce: grant.nonce.as_deref() };
        let id_token =
            id_token::sign(state, client, &user, &grant.scope, &authentication, Some(&response.access_token))
                .map_err(OAuthError::server_error)?;
        response.id_token = Some(id_token);
    }
    let mut event = crate::http::request_meta(req).event(state.clock.now(), "token.issued", "success");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(user.user_id);
    event.detail = Some(serde_json::json!({ "grant_type": "authorization_code", "jti": claims.jti }).to_string());
    state.audit.record(event);
    Ok(response)
}

/// RFC 6749 §4.1.2, RFC 9700 §4.2.4: a code presented again revokes the tokens its first use
/// issued, and the attempt is audited.
async fn revoke_if_redeemed(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    code: &str,
) -> Result<(), OAuthError> {
    let Some(bytes) = state.hot.get(&redeemed_key(code)).await.map_err(OAuthError::unavailable)? else {
        return Ok(());
    };
    let Ok(mut redeemed) = serde_json::from_slice::<Redeemed>(&bytes) else {
        return Ok(());
    };
    let now = state.clock.now();
    let latest_exp = redeemed.access_tokens.iter().map(|(_, exp)| *exp).max().unwrap_or(now);
    redeemed.replayed = true;
    let ttl = Duration::from_secs((latest_exp - now).max(CODE_LIFETIME.as_secs() as i64) as u64);
    let marked = serde_json::to_vec(&redeemed).map_err(OAuthError::server_error)?;
    state.hot.put(&redeemed_key(code), &marked, ttl).await.map_err(OAuthError::unavailable)?;
    for (jti, exp) in &redeemed.access_tokens {
        access_token::revoke(state.hot.as_ref(), jti, *exp, now).await.map_err(OAuthError::unavailable)?;
    }
    if let Some(family) = &redeemed.refresh_family {
        revoke_family(state, family).await?;
    }
    let mut event = crate::http::request_meta(req).event(now, "authorization.code.replayed", "refused");
    event.client_id = Some(client.id.as_str().to_owned());
    event.detail = Some(serde_json::json!({ "revoked_access_tokens": redeemed.access_tokens.len() }).to_string());
    state.audit.record(event);
    Ok(())
}
