//! `GET|POST /userinfo` (OIDC Core §5.3): the claims the token's scopes release about its
//! user. The token must be one this provider issued for itself (`aud` = the issuer) with
//! `openid`; a DPoP-bound token needs the `DPoP` scheme and a proof (RFC 9449 §7), an unbound
//! one comes as `Bearer` (RFC 6750 §2.1). Errors are RFC 6750 / RFC 9449 challenges.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use idp_verify::request::{check_origin, read_authorization, read_proof};
use idp_verify::{Challenge, ProofError, Request, Scheme, TokenError, VerifyError};

use crate::domain::{ClientId, ScopeSet};
use crate::http::cors;
use crate::oauth::dpop;
use crate::oauth::id_token::user_claims;
use crate::state::AppState;

pub async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
    let outcome = claims(state, &req).await;
    // CORS for the token's own client's origins (docs/security.md §2); an error answers CORS only
    // to an origin some client registered, so a browser app can read why it was refused.
    let origin = cors::request_origin(&req).ok().flatten();
    let allowed = match (&origin, &outcome) {
        (Some(origin), Ok((_, client_id))) => match ClientId::parse(client_id) {
            Ok(client_id) => match state.registry.client(&client_id).await {
                Ok(Some(client)) => client.allows_origin(origin),
                _ => false,
            },
            Err(_) => false,
        },
        (Some(origin), Err(_)) => state.registry.origin_registered(origin.as_str()),
        (None, _) => false,
    };
    let mut response = match outcome {
        Ok((claims, _)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(serde_json::Value::Object(claims).to_string()),
        Err(error) => {
            if matches!(error, VerifyError::Unavailable(_)) {
                tracing::error!(error = %error, "userinfo could not check a token");
            }
            error.response(Challenge { bearer: true })
        }
    };
    if let Some(origin) = origin.filter(|_| allowed).and_then(|o| HeaderValue::from_str(o.as_str()).ok()) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("WWW-Authenticate"));
    }
    response
}

/// The user's claims and the token's client, or why not.
async fn claims(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(serde_json::Map<String, serde_json::Value>, String), VerifyError> {
    let parts = Request::from_http(req);
    let presented = read_authorization(parts.authorization)?;
    let now = state.clock.now();
    let issuer = state.settings.issuer.as_str();
    let claims = state.verified_tokens.verify(&state.keyring, issuer, presented.token, now)?;
    if claims.aud != issuer {
        return Err(TokenError::WrongAudience.into());
    }
    match (presented.scheme, &claims.cnf) {
        (Scheme::Bearer, None) => {}
        (Scheme::Bearer, Some(_)) => return Err(TokenError::BoundTokenAsBearer.into()),
        (Scheme::Dpop, None) => return Err(TokenError::NotBound.into()),
        (Scheme::Dpop, Some(cnf)) => {
            let endpoint = &state.endpoints.userinfo;
            let proof = dpop::verify(state, read_proof(parts.dpop)?, parts.method, endpoint, Some(presented.token))
                .map_err(ProofError::from)?;
            if proof.jkt != cnf.jkt {
                return Err(TokenError::KeyMismatch.into());
            }
            if !dpop::first_use(state, endpoint, &proof.jti).await.map_err(unavailable)? {
                return Err(ProofError::Replayed.into());
            }
        }
    }
    check_origin(parts.origin, &claims)?;
    if state.revocations.is_revoked(&claims.jti).await.map_err(unavailable)? {
        return Err(TokenError::Revoked.into());
    }
    let scope = claims.scope.as_deref().map(ScopeSet::parse).transpose().ok().flatten().unwrap_or_else(ScopeSet::empty);
    if !scope.contains("openid") {
        return Err(VerifyError::insufficient_scope(presented.scheme, "openid"));
    }
    let user = state.users.find(&claims.sub).await.map_err(unavailable)?.filter(|u| u.enabled);
    let user = user.ok_or(VerifyError::InvalidToken(TokenError::Revoked))?;
    let groups = match scope.contains("groups") {
        true => Some(state.groups.names_of(&user.user_id).await.map_err(unavailable)?),
        false => None,
    };
    Ok((user_claims(&user, &scope, groups.as_deref()), claims.client_id))
}

fn unavailable(error: impl std::fmt::Display) -> VerifyError {
    VerifyError::Unavailable(error.to_string())
}

/// `OPTIONS /userinfo`.
pub async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    cors::preflight_for(&req, |origin| state.registry.origin_registered(origin.as_str()), "GET, POST")
}
