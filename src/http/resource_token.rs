//! The token check of the provider's own resource servers: the admin API (`<issuer>/admin`)
//! and SCIM (`<issuer>/scim`). Each is registered in the registry like any resource server,
//! so whether it demands DPoP is that registration's `require_dpop`. A refusal is the RFC 6750
//! §3 / RFC 9449 §7.1 challenge any resource server sends (docs/security.md §3); each edge
//! renders it in its own error shape.

use actix_web::HttpRequest;
use idp_verify::request::{check_origin, read_authorization, read_proof};
use idp_verify::{ProofError, Request, Scheme, TokenError, VerifyError};

use super::dpop;
use super::request_meta;
use crate::domain::{ClientId, ScopeSet};
use crate::services::audit::Actor;
use crate::services::registry::{RegistryError, ResourceRegistration};
use crate::state::AppState;

/// Registers one of the provider's own resource servers unless it is registered (first start;
/// a node racing another finds it registered). An operator's later changes to it stay.
pub async fn register_once(state: &AppState, registration: ResourceRegistration) -> Result<(), RegistryError> {
    if state.registry.resource(&registration.identifier).is_some() {
        return Ok(());
    }
    match state.registry.create_resource(registration, &Actor::system()).await {
        Ok(_) | Err(RegistryError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A token that passed, as its edge needs it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The audit trail's actor: the client, or the person its token was issued to.
    pub actor: Actor,
    pub scopes: ScopeSet,
    pub holder: Holder,
}

/// Whom a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The client itself (client_credentials).
    Client,
    /// A person (an enabled user) through a client; `in_admin_group`: a member of `admin_group`,
    /// without which scopes the client may ask for do not reach the provider's own APIs (any
    /// user of that client could consent to them).
    Person { in_admin_group: bool },
}

/// Why a token was refused; `bearer` says whether a Bearer challenge is offered beside the
/// DPoP one (the resource server accepts Bearer tokens).
#[derive(Debug)]
pub struct Refused {
    pub error: VerifyError,
    pub bearer: bool,
}

/// Checks the request's access token for `audience`: signature, issuer, audience, expiry,
/// binding (and the DPoP proof for this request at `htu`, the URL without its query), origin,
/// revocation, that `scope_ok` accepts its scopes (else 403 naming `needed`), that its client is
/// still registered and enabled, and for a person's token that the person is an enabled user
/// (whether they are in the admin group is the caller's to act on).
pub async fn check(
    state: &AppState,
    req: &HttpRequest,
    audience: &str,
    htu: &str,
    scope_ok: impl FnOnce(&ScopeSet) -> bool,
    needed: &str,
) -> Result<Caller, Refused> {
    let require_dpop = state.registry.resource(audience).is_none_or(|r| r.require_dpop);
    let refuse = |error: VerifyError| Refused { error, bearer: !require_dpop };
    let parts = Request::from_http(req);
    let presented = read_authorization(parts.authorization).map_err(refuse)?;
    let now = state.clock.now();
    let issuer = state.settings.issuer.as_str();
    let claims =
        state.verified_tokens.verify(&state.keyring, issuer, presented.token, now).map_err(|e| refuse(e.into()))?;
    if claims.aud != audience {
        return Err(refuse(TokenError::WrongAudience.into()));
    }
    match (presented.scheme, &claims.cnf) {
        (Scheme::Bearer, None) if require_dpop => return Err(refuse(TokenError::BearerNotAccepted.into())),
        (Scheme::Bearer, None) => {}
        (Scheme::Bearer, Some(_)) => return Err(refuse(TokenError::BoundTokenAsBearer.into())),
        (Scheme::Dpop, None) => return Err(refuse(TokenError::NotBound.into())),
        (Scheme::Dpop, Some(cnf)) => {
            let proof = read_proof(parts.dpop).map_err(|e| refuse(e.into()))?;
            let proof = dpop::verify(state, proof, parts.method, htu, Some(presented.token))
                .map_err(|e| refuse(ProofError::from(e).into()))?;
            if proof.jkt != cnf.jkt {
                return Err(refuse(TokenError::KeyMismatch.into()));
            }
            if !dpop::first_use(state, htu, &proof.jti).await.map_err(|e| refuse(unavailable(e)))? {
                return Err(refuse(ProofError::Replayed.into()));
            }
        }
    }
    check_origin(parts.origin, &claims).map_err(|e| refuse(e.into()))?;
    if state.revocations.is_revoked(&claims.jti).await.map_err(|e| refuse(unavailable(e)))? {
        return Err(refuse(TokenError::Revoked.into()));
    }
    let scopes = claims.scope.as_deref().and_then(|s| ScopeSet::parse(s).ok()).unwrap_or_else(ScopeSet::empty);
    if !scope_ok(&scopes) {
        return Err(refuse(VerifyError::insufficient_scope(presented.scheme, needed)));
    }
    // A disabled or deleted client loses the API at once, not when its token expires.
    let client = match ClientId::parse(&claims.client_id) {
        Ok(id) => state.registry.client(&id).await.map_err(|e| refuse(unavailable(e)))?,
        Err(_) => None,
    };
    if !client.is_some_and(|c| c.enabled) {
        return Err(refuse(TokenError::Revoked.into()));
    }
    let meta = request_meta(req);
    if claims.sub == claims.client_id {
        return Ok(Caller { actor: Actor::client(&claims.client_id, meta), scopes, holder: Holder::Client });
    }
    let user = state.users.find(&claims.sub).await.map_err(|e| refuse(unavailable(e)))?;
    if !user.is_some_and(|u| u.enabled) {
        return Err(refuse(TokenError::Revoked.into()));
    }
    let groups = state.groups.names_of(&claims.sub).await.map_err(|e| refuse(unavailable(e)))?;
    let holder = Holder::Person { in_admin_group: groups.contains(&state.settings.admin_group) };
    Ok(Caller { actor: Actor::user(&claims.sub, meta), scopes, holder })
}

fn unavailable(error: impl std::fmt::Display) -> VerifyError {
    VerifyError::Unavailable(error.to_string())
}
