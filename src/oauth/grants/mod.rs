//! One module per grant type, and the access token they all end with. Every grant has the same
//! contract: `issue(&GrantContext, its request) -> Result<Issued, OAuthError>`; the token
//! endpoint builds the context once, dispatches on the parsed request, and audits what was
//! issued, so adding a grant is a module here and a variant of `token::TokenRequest`.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use std::sync::Arc;

use serde::Serialize;

use crate::crypto::b64url;
use crate::domain::{Origin, ResourceIndicator, ScopeSet};
use crate::error::OAuthError;
use crate::services::access_tokens::signing::{self as access_token, AccessTokenClaims, Confirmation};
use crate::services::audit::RequestMeta;
use crate::services::registry::{Client, ResourceServer};
use crate::state::AppState;
use crate::store::HotStoreError;
use idp_verify::Jkt;

/// What every grant receives, built once by the token endpoint.
pub struct GrantContext<'a> {
    pub state: &'a AppState,
    /// The authenticated client.
    pub client: &'a Client,
    /// What the token will be bound to (the DPoP key, the calling origin).
    pub binding: Binding,
    /// For the audit trail.
    pub request: RequestMeta,
}

/// What a grant issued.
#[derive(Debug)]
pub struct Issued {
    pub response: TokenResponse,
    /// The user the tokens act for; `None` when the client acts for itself.
    pub user_id: Option<String>,
    /// The access token's id.
    pub jti: String,
    /// The refresh family (grant) the tokens belong to, when they came with a refresh token.
    pub family_id: Option<String>,
}

/// The token endpoint's success body (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    pub fn bearer_or_dpop(access_token: String, claims: &AccessTokenClaims) -> Self {
        Self {
            access_token,
            token_type: claims.token_type(),
            expires_in: claims.exp - claims.iat,
            scope: claims.scope.clone(),
            refresh_token: None,
            id_token: None,
        }
    }
}

/// A hot store that did not answer is 503 (try again); a record it holds that cannot be read
/// is a fault of ours, 500.
pub fn hot_store_error(error: HotStoreError) -> OAuthError {
    match error {
        HotStoreError::Corrupt { .. } => OAuthError::server_error(error),
        other => OAuthError::unavailable(other),
    }
}

/// A fresh token id: 128 random bits.
pub fn new_jti() -> String {
    b64url(uuid::Uuid::new_v4().as_bytes())
}

/// What an issued token is bound to.
#[derive(Debug, Default, Clone)]
pub struct Binding {
    pub jkt: Option<Jkt>,
    pub origin: Option<Origin>,
}

/// Who a token is for: a resource server, or this provider itself (userinfo).
pub enum Audience<'a> {
    Resource(&'a ResourceServer),
    Provider,
}

/// Seconds an access token for `client` at `audience` lives: the client's override, else the
/// resource server's, else the configured default.
pub fn access_token_lifetime(state: &AppState, client: &Client, audience: &Audience<'_>) -> i64 {
    let server_lifetime = match audience {
        Audience::Resource(server) => server.access_token_lifetime,
        Audience::Provider => None,
    };
    client
        .access_token_lifetime
        .or(server_lifetime)
        .unwrap_or(state.settings.tokens.access_token_lifetime.as_secs() as i64)
}

/// The resource server a user-delegated grant (code or refresh) yields a token for: the
/// requested resource if the user authorized it, the provider itself (`None`, for userinfo)
/// when asked by its issuer identifier and `openid` was granted, else the first authorized
/// resource, else the provider.
pub fn grant_audience(
    state: &AppState,
    granted_resources: &[ResourceIndicator],
    granted_scope: &ScopeSet,
    requested: Option<&ResourceIndicator>,
) -> Result<Option<Arc<ResourceServer>>, OAuthError> {
    let resource = match requested {
        Some(r) if granted_resources.contains(r) => Some(r),
        Some(r) if r.as_str() == state.settings.issuer.as_str() && granted_scope.contains("openid") => None,
        Some(_) => return Err(OAuthError::invalid_target("the resource was not authorized")),
        None => granted_resources.first(),
    };
    resource
        .map(|r| state.registry.resource(r.as_str()).ok_or(OAuthError::invalid_target("the resource is not available")))
        .transpose()
}

/// The scopes of a user-delegated token: those granted that its resource server accepts, or
/// for the provider itself the OpenID Connect ones.
pub fn token_scope(granted: &ScopeSet, server: Option<&ResourceServer>) -> ScopeSet {
    match server {
        Some(server) => granted.intersection(&server.scopes),
        None => granted
            .iter()
            .filter(|s| matches!(s.as_str(), "openid" | "profile" | "email" | "groups"))
            .cloned()
            .collect(),
    }
}

/// Whom an access token is about: a user (with their groups when the grant released them) or
/// the client itself.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub id: &'a str,
    /// The `groups` claim, for a resource server that opted in (`include_groups`).
    pub groups: Option<&'a [String]>,
}

impl<'a> Subject<'a> {
    pub fn client(client_id: &'a str) -> Self {
        Self { id: client_id, groups: None }
    }
}

/// The user's groups when the grant's scope releases them (`groups`), for the ID token,
/// userinfo and the access tokens of resource servers that opted in.
pub async fn released_groups(
    state: &AppState,
    user_id: &str,
    scope: &ScopeSet,
) -> Result<Option<Vec<String>>, OAuthError> {
    if !scope.contains("groups") {
        return Ok(None);
    }
    state.groups.names_of(user_id).await.map(Some).map_err(OAuthError::unavailable)
}

/// Signs an RFC 9068 access token with id `jti` for `subject` and `audience`.
pub fn mint_access_token(
    state: &AppState,
    client: &Client,
    subject: Subject<'_>,
    audience: Audience<'_>,
    scope: &ScopeSet,
    binding: Binding,
    jti: String,
) -> Result<(String, AccessTokenClaims), OAuthError> {
    let lifetime = access_token_lifetime(state, client, &audience);
    let groups = match &audience {
        Audience::Resource(server) if server.include_groups => subject.groups.map(<[String]>::to_vec),
        _ => None,
    };
    let aud = match audience {
        Audience::Resource(server) => {
            if server.require_dpop && binding.jkt.is_none() {
                return Err(OAuthError::invalid_dpop_proof("a DPoP proof is required for this resource"));
            }
            server.identifier.as_str().to_owned()
        }
        Audience::Provider => state.settings.issuer.as_str().to_owned(),
    };
    let now = state.clock.now();
    let claims = AccessTokenClaims {
        iss: state.settings.issuer.as_str().to_owned(),
        sub: subject.id.to_owned(),
        aud,
        client_id: client.id.as_str().to_owned(),
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        iat: now,
        exp: now + lifetime,
        jti,
        cnf: binding.jkt.map(|jkt| Confirmation { jkt }),
        origin: binding.origin.map(|o| o.as_str().to_owned()),
        groups,
    };
    let token = access_token::sign(&state.keyring, &claims).map_err(OAuthError::server_error)?;
    Ok((token, claims))
}
