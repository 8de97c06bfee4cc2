//! `grant_type=client_credentials` (RFC 6749 §4.4): a token for the client itself, for one
//! resource server (RFC 8707), with the scopes both the client and that resource allow.

use crate::domain::{Origin, ResourceIndicator, ScopeSet};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::access_token::{self, AccessTokenClaims, Confirmation};
use crate::oauth::token::TokenResponse;
use crate::registry::Client;
use crate::startup::AppState;

#[derive(Debug)]
pub struct ClientCredentialsRequest {
    pub scope: Option<ScopeSet>,
    pub resource: Option<ResourceIndicator>,
}

/// What the issued token is bound to.
#[derive(Debug, Default)]
pub struct Binding {
    pub jkt: Option<String>,
    pub origin: Option<Origin>,
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
    if server.require_dpop && binding.jkt.is_none() {
        return Err(OAuthError::invalid_dpop_proof("a DPoP proof is required for this resource"));
    }
    let allowed = client.scopes.intersection(&server.scopes);
    let scope = match request.scope {
        Some(requested) if !requested.is_subset(&allowed) => {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "a requested scope is not allowed"))
        }
        Some(requested) => requested,
        None => allowed,
    };
    let now = state.clock.now();
    let lifetime = client
        .access_token_lifetime
        .or(server.access_token_lifetime)
        .unwrap_or(state.settings.tokens.access_token_lifetime.as_secs() as i64);
    let claims = AccessTokenClaims {
        iss: state.settings.issuer.as_str().to_owned(),
        sub: client.id.as_str().to_owned(),
        aud: resource.as_str().to_owned(),
        client_id: client.id.as_str().to_owned(),
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        iat: now,
        exp: now + lifetime,
        jti: crate::oauth::token::new_jti(),
        cnf: binding.jkt.map(|jkt| Confirmation { jkt }),
        origin: binding.origin.map(|o| o.as_str().to_owned()),
    };
    let token = access_token::sign(&state.keyring, &claims).map_err(OAuthError::server_error)?;
    Ok(TokenResponse {
        access_token: token,
        token_type: claims.token_type(),
        expires_in: lifetime,
        scope: claims.scope,
    })
}
