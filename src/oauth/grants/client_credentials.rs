//! `grant_type=client_credentials` (RFC 6749 §4.4): a token for the client itself, for one
//! resource server (RFC 8707), with the scopes both the client and that resource allow.

use super::{mint_access_token, Audience, Binding};
use crate::domain::{ResourceIndicator, ScopeSet};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::token::TokenResponse;
use crate::services::registry::Client;
use crate::state::AppState;

#[derive(Debug)]
pub struct ClientCredentialsRequest {
    pub scope: Option<ScopeSet>,
    pub resource: Option<ResourceIndicator>,
}

pub fn issue(
    state: &AppState,
    client: &Client,
    request: ClientCredentialsRequest,
    binding: Binding,
) -> Result<TokenResponse, OAuthError> {
    let resource = request
        .resource
        .or_else(|| client.default_resource.clone())
        .ok_or(OAuthError::new(ErrorCode::InvalidTarget, "a resource is required"))?;
    if !client.allows_resource(&resource) {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, "the resource is not allowed for this client"));
    }
    let server = state
        .registry
        .resource(resource.as_str())
        .ok_or(OAuthError::new(ErrorCode::InvalidTarget, "the resource is not allowed for this client"))?;
    let allowed = client.scopes.intersection(&server.scopes);
    let scope = match request.scope {
        Some(requested) if !requested.is_subset(&allowed) => {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "a requested scope is not allowed"))
        }
        Some(requested) => requested,
        None => allowed,
    };
    let jti = crate::oauth::token::new_jti();
    let (token, claims) =
        mint_access_token(state, client, client.id.as_str(), Audience::Resource(&server), &scope, binding, jti)?;
    Ok(TokenResponse::bearer_or_dpop(token, &claims))
}
