//! `POST /token` (RFC 6749 §3.2): named steps, then the grant.

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::access_token::AccessTokenClaims;
use super::client_auth::{self, AuthenticatedRequest};
use super::dpop;
use super::grants::authorization_code::{self, AuthorizationCodeRequest};
use super::grants::client_credentials::{self, ClientCredentialsRequest};
use super::grants::refresh_token::{self, RefreshTokenRequest};
use super::grants::Binding;
use super::no_store_response;
use crate::crypto::b64url;
use crate::domain::{GrantType, ResourceIndicator, ScopeSet};
use crate::error::{ErrorCode, OAuthError};
use crate::http::cors;
use crate::http::form::{read_body, FormParams};
use crate::state::AppState;

/// A token request, parsed: each grant with exactly what it needs.
#[derive(Debug)]
pub enum TokenRequest {
    ClientCredentials(ClientCredentialsRequest),
    AuthorizationCode(AuthorizationCodeRequest),
    RefreshToken(RefreshTokenRequest),
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::ClientCredentials(_) => GrantType::ClientCredentials,
            TokenRequest::AuthorizationCode(_) => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken(_) => GrantType::RefreshToken,
        }
    }
}

impl TryFrom<&FormParams> for TokenRequest {
    type Error = OAuthError;

    fn try_from(params: &FormParams) -> Result<Self, OAuthError> {
        let grant_type = params.get("grant_type").ok_or(OAuthError::invalid_request("grant_type is required"))?;
        let grant_type: GrantType = grant_type
            .parse()
            .map_err(|_| OAuthError::new(ErrorCode::UnsupportedGrantType, "the grant type is not supported"))?;
        match grant_type {
            GrantType::ClientCredentials => Ok(TokenRequest::ClientCredentials(ClientCredentialsRequest {
                scope: scope(params)?,
                resource: single_resource(params)?,
            })),
            GrantType::AuthorizationCode => Ok(TokenRequest::AuthorizationCode(AuthorizationCodeRequest {
                code: params.get("code").ok_or(OAuthError::invalid_request("code is required"))?.to_owned(),
                redirect_uri: params.get("redirect_uri").map(str::to_owned),
                code_verifier: params.get("code_verifier").map(str::to_owned),
                resource: single_resource(params)?,
            })),
            GrantType::RefreshToken => Ok(TokenRequest::RefreshToken(RefreshTokenRequest {
                refresh_token: params
                    .get("refresh_token")
                    .ok_or(OAuthError::invalid_request("refresh_token is required"))?
                    .to_owned(),
                scope: scope(params)?,
                resource: single_resource(params)?,
            })),
        }
    }
}

fn scope(params: &FormParams) -> Result<Option<ScopeSet>, OAuthError> {
    params
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "the scope is malformed"))
}

/// RFC 8707: this provider issues one audience per token, so at most one `resource`.
fn single_resource(params: &FormParams) -> Result<Option<ResourceIndicator>, OAuthError> {
    match params.resources() {
        [] => Ok(None),
        [one] => ResourceIndicator::parse(one)
            .map(Some)
            .map_err(|_| OAuthError::new(ErrorCode::InvalidTarget, "the resource is not a valid absolute URI")),
        _ => Err(OAuthError::new(ErrorCode::InvalidTarget, "one resource per token request")),
    }
}

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

/// A fresh token id: 128 random bits.
pub fn new_jti() -> String {
    b64url(uuid::Uuid::new_v4().as_bytes())
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let state = state.get_ref();
    let AuthenticatedRequest { client, params, origin, cors } =
        client_auth::authenticated_request(state, &req, &read_body(payload).await?, &state.endpoints.token).await?;

    let issued = async {
        let request = TokenRequest::try_from(&params)?;
        if !client.allows_grant(request.grant_type()) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant type"));
        }
        let proof =
            dpop::check_proof(state, &req, "POST", &state.endpoints.token, None, client.dpop_bound_access_tokens)
                .await?;
        let binding = Binding { jkt: proof.map(|p| p.jkt), origin: origin.clone() };
        let bound = binding.jkt.is_some();
        let grant = request.grant_type();
        let response = match request {
            TokenRequest::ClientCredentials(request) => client_credentials::issue(state, &client, request, binding)?,
            TokenRequest::AuthorizationCode(request) => {
                authorization_code::issue(state, &req, &client, request, binding).await?
            }
            TokenRequest::RefreshToken(request) => refresh_token::issue(state, &req, &client, request, binding).await?,
        };
        state.metrics.token_issued(grant.as_str(), bound);
        Ok((response, bound))
    }
    .await;

    match issued {
        Ok((response, bound)) => {
            let mut http = no_store_response(StatusCode::OK, cors.as_ref());
            if bound {
                // Keeps DPoP clients on a current nonce without an extra round trip.
                if let Ok(nonce) = HeaderValue::from_str(&state.nonces.current(state.clock.now())) {
                    http.insert_header((cors::DPOP_NONCE, nonce));
                }
            }
            Ok(http.json(response))
        }
        Err(e) => {
            refused(state, &req, Some(client.id.as_str()), &e);
            Err(e.with_cors(cors.as_ref()))
        }
    }
}

/// Audits the refusals an operator must be able to see (SECURITY.md §7).
pub fn refused(state: &AppState, req: &HttpRequest, client_id: Option<&str>, error: &OAuthError) {
    let action = match (error.code, error.status().as_u16()) {
        (_, 403) => "origin.refused",
        (ErrorCode::InvalidClient, _) => "client.authentication.failed",
        (ErrorCode::InvalidDpopProof, _) => "dpop.refused",
        _ => return,
    };
    let mut event = crate::http::request_meta(req).event(state.clock.now(), action, "refused");
    event.client_id = client_id.map(str::to_owned);
    event.detail = Some(
        serde_json::json!({ "endpoint": req.path(), "error": error.code.as_str(), "reason": error.to_string() })
            .to_string(),
    );
    state.audit.record_refusal(event);
}

/// `OPTIONS` on the client-authenticated endpoints.
pub async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    cors::preflight(&req, |origin| state.registry.origin_registered(origin.as_str()))
}
