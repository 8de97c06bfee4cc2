//! `grant_type=client_credentials` (RFC 6749 §4.4): a token for the client itself, for one
//! resource server (RFC 8707), with the scopes both the client and that resource allow.

use super::{mint_access_token, new_jti, Audience, GrantContext, Issued, Subject, TokenResponse};
use crate::domain::{ResourceIndicator, ScopeSet};
use crate::error::OAuthError;

#[derive(Debug)]
pub struct ClientCredentialsRequest {
    pub scope: Option<ScopeSet>,
    pub resource: Option<ResourceIndicator>,
}

pub async fn issue(cx: &GrantContext<'_>, request: ClientCredentialsRequest) -> Result<Issued, OAuthError> {
    let (state, client) = (cx.state, cx.client);
    let resource = request
        .resource
        .or_else(|| client.default_resource.clone())
        .ok_or(OAuthError::invalid_target("a resource is required"))?;
    if !client.allows_resource(&resource) {
        return Err(OAuthError::invalid_target("the resource is not allowed for this client"));
    }
    let server = state
        .registry
        .resource(resource.as_str())
        .ok_or(OAuthError::invalid_target("the resource is not allowed for this client"))?;
    let allowed = client.scopes.intersection(&server.scopes);
    let scope = match request.scope {
        Some(requested) if !requested.is_subset(&allowed) => {
            return Err(OAuthError::invalid_scope("a requested scope is not allowed"))
        }
        Some(requested) => requested,
        None => allowed,
    };
    let (token, claims) = mint_access_token(
        state,
        client,
        Subject::client(client.id.as_str()),
        Audience::Resource(&server),
        &scope,
        cx.binding.clone(),
        new_jti(),
    )?;
    Ok(Issued {
        jti: claims.jti.clone(),
        response: TokenResponse::bearer_or_dpop(token, &claims),
        user_id: None,
        family_id: None,
    })
}
