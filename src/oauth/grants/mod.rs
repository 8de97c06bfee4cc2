//! One module per grant type, and the access token they all end with.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use crate::domain::{Origin, ScopeSet};
use crate::error::OAuthError;
use crate::oauth::access_token::{self, AccessTokenClaims, Confirmation};
use crate::registry::{Client, ResourceServer};
use crate::startup::AppState;

/// What an issued token is bound to.
#[derive(Debug, Default, Clone)]
pub struct Binding {
    pub jkt: Option<String>,
    pub origin: Option<Origin>,
}

/// Who a token is for: a resource server, or this provider itself (userinfo).
pub enum Audience<'a> {
    Resource(&'a ResourceServer),
    Provider,
}

/// Signs an RFC 9068 access token for `subject` and `audience`; the lifetime is the client's
/// override, else the resource server's, else the configured default.
pub fn mint_access_token(
    state: &AppState,
    client: &Client,
    subject: &str,
    audience: Audience<'_>,
    scope: &ScopeSet,
    binding: Binding,
) -> Result<(String, AccessTokenClaims), OAuthError> {
    let (aud, server_lifetime) = match audience {
        Audience::Resource(server) => {
            if server.require_dpop && binding.jkt.is_none() {
                return Err(OAuthError::invalid_dpop_proof("a DPoP proof is required for this resource"));
            }
            (server.identifier.as_str().to_owned(), server.access_token_lifetime)
        }
        Audience::Provider => (state.settings.issuer.as_str().to_owned(), None),
    };
    let now = state.clock.now();
    let lifetime = client
        .access_token_lifetime
        .or(server_lifetime)
        .unwrap_or(state.settings.tokens.access_token_lifetime.as_secs() as i64);
    let claims = AccessTokenClaims {
        iss: state.settings.issuer.as_str().to_owned(),
        sub: subject.to_owned(),
        aud,
        client_id: client.id.as_str().to_owned(),
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        iat: now,
        exp: now + lifetime,
        jti: crate::oauth::token::new_jti(),
        cnf: binding.jkt.map(|jkt| Confirmation { jkt }),
        origin: binding.origin.map(|o| o.as_str().to_owned()),
    };
    let token = access_token::sign(&state.keyring, &claims).map_err(OAuthError::server_error)?;
    Ok((token, claims))
}
