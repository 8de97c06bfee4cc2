//! `POST /introspect` (RFC 7662): for an authenticated client, whether a token is active, and
//! its claims if the caller may see them. Expired, revoked, foreign, malformed and other
//! audiences' tokens are all simply `active: false`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::access_token::{revoked_key, AccessTokenClaims};
use super::client_auth::{self, AuthenticatedRequest};
use super::token::refused;
use crate::domain::ClientType;
use crate::error::OAuthError;
use crate::policy::cors;
use crate::registry::Client;
use crate::startup::AppState;

pub async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let state = state.get_ref();
    let AuthenticatedRequest { client: caller, params, cors, .. } =
        client_auth::authenticated_request(state, &req, &body, &state.endpoints.introspection).await?;
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
    let body = match claims {
        Some(claims) => json!({
            "active": true,
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": claims.aud,
            "client_id": claims.client_id,
            "scope": claims.scope,
            "iat": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
            "token_type": claims.token_type(),
            "cnf": claims.cnf,
            "origin": claims.origin,
        }),
        None => json!({ "active": false }),
    };
    let mut body = body;
    if let Some(map) = body.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let Some(origin) = &cors {
        cors::add_actual_headers(&mut response, origin);
    }
    Ok(response.json(body))
}

/// RFC 7662 §4: signature, time, revocation, and whether this caller may see the token (its
/// audience is one of the caller's resources, or the caller is the client it was issued to).
async fn active_claims(
    state: &AppState,
    caller: &Client,
    token: &str,
) -> Result<Option<AccessTokenClaims>, OAuthError> {
    let now = state.clock.now();
    let Ok(claims) = state.verified_tokens.verify(&state.keyring, state.settings.issuer.as_str(), token, now) else {
        return Ok(None);
    };
    let may_see = claims.client_id == caller.id.as_str() || caller.resources.iter().any(|r| r.as_str() == claims.aud);
    if !may_see {
        return Ok(None);
    }
    let revoked = state.hot.get(&revoked_key(&claims.jti)).await.map_err(OAuthError::unavailable)?;
    Ok(revoked.is_none().then_some(claims))
}
