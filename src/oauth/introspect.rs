//! `POST /introspect` (RFC 7662): for an authenticated client, whether a token is active, and
//! its claims if the caller may see them. Expired, revoked, foreign, malformed and other
//! audiences' tokens are all simply `active: false`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_auth::refused;
use super::client_auth::{self, AuthenticatedRequest};
use super::no_store_response;
use crate::domain::ClientType;
use crate::error::OAuthError;
use crate::http::form::read_body;
use crate::services::access_tokens::signing::AccessTokenClaims;
use crate::services::rate_limits::Limit;
use crate::services::registry::Client;
use crate::state::AppState;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let state = state.get_ref();
    let AuthenticatedRequest { client: caller, params, cors, .. } = client_auth::authenticated_request(
        state,
        &req,
        &read_body(payload).await?,
        &state.endpoints.introspection,
        Limit::Introspection,
    )
    .await?;
    // INT-2: a public client proves nothing, so it could scan tokens; only confidential callers.
    if caller.client_type == ClientType::Public {
        let refusal = OAuthError::invalid_client("client authentication failed").caused_by("public client");
        refused(state, &req, Some(caller.id.as_str()), &refusal);
        return Err(refusal);
    }
    let Some(token) = params.get("token") else {
        return Err(OAuthError::invalid_request("token is required").with_cors(cors.as_ref()));
    };

    let claims = active_claims(state, &caller, token).await.map_err(|e| e.with_cors(cors.as_ref()))?;
    let mut response = no_store_response(StatusCode::OK, cors.as_ref());
    Ok(match claims {
        Some(claims) => {
            response.json(Introspection { active: true, token_type: Some(claims.token_type()), claims: Some(&claims) })
        }
        None => response.json(Introspection { active: false, token_type: None, claims: None }),
    })
}

/// RFC 7662 §2.2: `active`, and for an active token its claims (absent ones omitted) and
/// `token_type` (`DPoP` for a bound token, RFC 9449 §6.2).
#[derive(Serialize)]
struct Introspection<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    claims: Option<&'a AccessTokenClaims>,
}

/// RFC 7662 §4: signature, time, revocation, and whether this caller may see the token: the
/// client it was issued to, or a client that acts for the resource server it is for (that
/// resource server's `introspection_clients`, RFC 7662 §2.1). Another client merely allowed to
/// call the same resource server sees `active: false` (issue 10: it saw `sub`, `scope`, `jti`).
async fn active_claims(
    state: &AppState,
    caller: &Client,
    token: &str,
) -> Result<Option<AccessTokenClaims>, OAuthError> {
    let now = state.clock.now();
    let Ok(claims) = state.verified_tokens.verify(&state.keyring, state.settings.issuer.as_str(), token, now) else {
        return Ok(None);
    };
    let may_see = claims.client_id == caller.id.as_str()
        || state.registry.resource(&claims.aud).is_some_and(|resource| resource.is_acted_for_by(&caller.id));
    if !may_see {
        return Ok(None);
    }
    let revoked = state.revocations.is_revoked(&claims.jti).await.map_err(OAuthError::unavailable)?;
    Ok((!revoked).then_some(claims))
}
