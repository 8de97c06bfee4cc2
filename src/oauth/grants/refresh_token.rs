//! `grant_type=refresh_token` (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12.2): the refresh
//! family service checks the presented token and rotates it; this grant decides the scope and
//! audience of the new access token and signs it (and an ID token when `openid` was granted).

use super::{
    grant_audience, hot_store_error, mint_access_token, new_jti, released_groups, token_scope, Audience, GrantContext,
    Issued, Subject, TokenResponse,
};
use crate::domain::{ResourceIndicator, ScopeSet};
use crate::error::OAuthError;
use crate::oauth::id_token::{self, Authentication};
use crate::services::refresh_families::{Presenter, RefreshError, RefreshToken};

#[derive(Debug)]
pub struct RefreshTokenRequest {
    pub refresh_token: RefreshToken,
    pub scope: Option<ScopeSet>,
    pub resource: Option<ResourceIndicator>,
}

const INVALID: &str = "the refresh token is invalid, expired or revoked";

impl From<RefreshError> for OAuthError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Invalid | RefreshError::Reused => OAuthError::invalid_grant(INVALID),
            RefreshError::OtherKey => OAuthError::invalid_grant("the refresh token is bound to another DPoP key"),
            RefreshError::Hot(e) => hot_store_error(e),
            RefreshError::Db(e) => OAuthError::unavailable(e),
        }
    }
}

pub async fn issue(cx: &GrantContext<'_>, request: RefreshTokenRequest) -> Result<Issued, OAuthError> {
    let (state, client) = (cx.state, cx.client);
    let presenter =
        Presenter { client_id: client.id.as_str(), client_type: client.client_type, jkt: cx.binding.jkt.as_ref() };
    let refresh = state.refresh_families.begin(&request.refresh_token, presenter, &cx.request).await?;
    let grant = refresh.grant().clone();
    let scope = match &request.scope {
        Some(asked) if !asked.is_subset(&grant.scope) => {
            return Err(OAuthError::invalid_scope("the scope exceeds the grant"))
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
                .ok_or(OAuthError::invalid_grant(INVALID))?,
        ),
        false => None,
    };
    let audience = match &server {
        Some(server) => Audience::Resource(server),
        None => Audience::Provider,
    };
    let access_scope = token_scope(&scope, server.as_deref());
    // The user's current groups, as with every other claim on refresh.
    let groups = released_groups(state, &grant.user_id, &scope).await?;
    let subject = Subject { id: &grant.user_id, groups: groups.as_deref() };
    let (access_token, claims) =
        mint_access_token(state, client, subject, audience, &access_scope, cx.binding.clone(), new_jti())?;
    let next = state.refresh_families.rotate(refresh, (claims.jti.clone(), claims.exp)).await?;

    let mut response = TokenResponse::bearer_or_dpop(access_token, &claims);
    response.refresh_token = Some(next.into_string());
    if let Some(user) = &user {
        // OIDC-18: same iss, sub, aud, auth_time; no nonce.
        let authentication =
            Authentication { auth_time: grant.auth_time, sid: &grant.sid, nonce: None, groups: groups.as_deref() };
        let id_token = id_token::sign(state, client, user, &scope, &authentication, Some(&response.access_token))
            .map_err(OAuthError::server_error)?;
        response.id_token = Some(id_token);
    }
    Ok(Issued { response, user_id: Some(grant.user_id), jti: claims.jti, family_id: Some(grant.family_id) })
}
