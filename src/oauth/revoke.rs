//! `POST /revoke` (RFC 7009): a client revokes its own access tokens. The token id enters the
//! revoked set in the hot store until the token would have expired, so every node refuses it
//! at once. Unknown, expired and foreign-issuer tokens get 200 (§2.2).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::client_auth::{self, AuthenticatedRequest};
use crate::error::{no_store_response, OAuthError};
use crate::http::form::read_body;
use crate::services::access_tokens::signing as access_token;
use crate::services::rate_limits::Limit;
use crate::services::refresh_families::RefreshToken;
use crate::state::AppState;

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let state = state.get_ref();
    let AuthenticatedRequest { client: caller, params, cors, .. } = client_auth::authenticated_request(
        state,
        &req,
        &read_body(payload).await?,
        &state.endpoints.revocation,
        Limit::Revocation,
    )
    .await?;
    let Some(token) = params.get("token") else {
        return Err(OAuthError::invalid_request("token is required").with_cors(cors.as_ref()));
    };

    let now = state.clock.now();
    if RefreshToken::has_prefix(token) {
        // RFC 7009 §2.1: revoking a refresh token revokes its grant and its access tokens.
        let family = state.refresh_families.family_of(&RefreshToken::new(token)).await;
        if let Some(family) = family.map_err(|e| OAuthError::from(e).with_cors(cors.as_ref()))? {
            if family.client_id != caller.id.as_str() {
                return Err(
                    OAuthError::unauthorized_client("the token was not issued to this client").with_cors(cors.as_ref())
                );
            }
            let revoked = state
                .refresh_families
                .revoke(&family.family_id)
                .await
                .map_err(|e| OAuthError::from(e).with_cors(cors.as_ref()))?;
            let mut event = crate::http::request_meta(&req).event(now, "refresh_token.revoke", "success");
            event.client_id = Some(caller.id.as_str().to_owned());
            event.user_id = Some(family.user_id);
            event.detail =
                Some(serde_json::json!({ "family": family.family_id, "revoked_access_tokens": revoked }).to_string());
            state.audit.record(event);
        }
        return Ok(no_store_response(StatusCode::OK, cors.as_ref()).finish());
    }
    if let Ok(claims) = access_token::verify(&state.keyring, state.settings.issuer.as_str(), token, now) {
        if claims.client_id != caller.id.as_str() {
            return Err(
                OAuthError::unauthorized_client("the token was not issued to this client").with_cors(cors.as_ref())
            );
        }
        state
            .revocations
            .revoke(&claims.jti, claims.exp, now)
            .await
            .map_err(|e| OAuthError::unavailable(e).with_cors(cors.as_ref()))?;
        let mut event = crate::http::request_meta(&req).event(now, "token.revoke", "success");
        event.client_id = Some(caller.id.as_str().to_owned());
        event.detail = Some(serde_json::json!({ "jti": claims.jti, "aud": claims.aud }).to_string());
        state.audit.record(event);
    }

    Ok(no_store_response(StatusCode::OK, cors.as_ref()).finish())
}
