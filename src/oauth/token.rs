//! `POST /token` (RFC 6749 §3.2): named steps, then the grant.

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::client_auth::{self, AuthenticatedRequest};
use super::dpop;
use super::grants::authorization_code::{self, AuthorizationCodeRequest};
use super::grants::client_credentials::{self, ClientCredentialsRequest};
use super::grants::refresh_token::{self, RefreshTokenRequest};
use super::grants::{Binding, GrantContext, Issued};
use crate::domain::{CodeVerifier, GrantType, ResourceIndicator, ScopeSet};
use crate::error::{no_store_response, OAuthError};
use crate::http::cors;
use crate::http::form::{read_body, FormParams};
use crate::services::rate_limits::Limit;
use crate::services::refresh_families::RefreshToken;
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
        let grant_type: GrantType =
            grant_type.parse().map_err(|_| OAuthError::unsupported_grant_type("the grant type is not supported"))?;
        match grant_type {
            GrantType::ClientCredentials => Ok(TokenRequest::ClientCredentials(ClientCredentialsRequest {
                scope: scope(params)?,
                resource: single_resource(params)?,
            })),
            GrantType::AuthorizationCode => Ok(TokenRequest::AuthorizationCode(AuthorizationCodeRequest {
                code: params.get("code").ok_or(OAuthError::invalid_request("code is required"))?.to_owned(),
                redirect_uri: params.get("redirect_uri").map(str::to_owned),
                code_verifier: params.get("code_verifier").and_then(|v| CodeVerifier::parse(v).ok()),
                resource: single_resource(params)?,
            })),
            GrantType::RefreshToken => Ok(TokenRequest::RefreshToken(RefreshTokenRequest {
                refresh_token: RefreshToken::new(
                    params.get("refresh_token").ok_or(OAuthError::invalid_request("refresh_token is required"))?,
                ),
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
        .map_err(|_| OAuthError::invalid_scope("the scope is malformed"))
}

/// RFC 8707: this provider issues one audience per token, so at most one `resource`.
fn single_resource(params: &FormParams) -> Result<Option<ResourceIndicator>, OAuthError> {
    match params.resources() {
        [] => Ok(None),
        [one] => ResourceIndicator::parse(one)
            .map(Some)
            .map_err(|_| OAuthError::invalid_target("the resource is not a valid absolute URI")),
        _ => Err(OAuthError::invalid_target("one resource per token request")),
    }
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let state = state.get_ref();
    let AuthenticatedRequest { client, params, origin, cors } = client_auth::authenticated_request(
        state,
        &req,
        &read_body(payload).await?,
        &state.endpoints.token,
        Limit::Token,
    )
    .await?;

    let issued = async {
        let request = TokenRequest::try_from(&params)?;
        if !client.allows_grant(request.grant_type()) {
            return Err(OAuthError::unauthorized_client("the client may not use this grant type"));
        }
        let proof =
            dpop::check_proof(state, &req, "POST", &state.endpoints.token, None, client.dpop_bound_access_tokens)
                .await?;
        let binding = Binding { jkt: proof.map(|p| p.jkt), origin: origin.clone() };
        let bound = binding.jkt.is_some();
        let grant = request.grant_type();
        let cx = GrantContext { state, client: &client, binding, request: crate::http::request_meta(&req) };
        let issued = match request {
            TokenRequest::ClientCredentials(request) => client_credentials::issue(&cx, request).await?,
            TokenRequest::AuthorizationCode(request) => authorization_code::issue(&cx, request).await?,
            TokenRequest::RefreshToken(request) => refresh_token::issue(&cx, request).await?,
        };
        state.metrics.token_issued(grant.as_str(), bound);
        audit_issued(&cx, grant, &issued);
        let response = issued.response;
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
            client_auth::refused(state, &req, Some(client.id.as_str()), &e);
            Err(e.with_cors(cors.as_ref()))
        }
    }
}

/// `token.issued` for every grant. Tokens a person's grant yields get a row each; tokens a
/// client gets for itself come at machine rates, so they are counted per client and interval
/// (one row per client per interval) instead of a write per token.
fn audit_issued(cx: &GrantContext<'_>, grant: GrantType, issued: &Issued) {
    let state = cx.state;
    match &issued.user_id {
        Some(user_id) => {
            let mut event = cx.request.event(state.clock.now(), "token.issued", "success");
            event.client_id = Some(cx.client.id.as_str().to_owned());
            event.user_id = Some(user_id.clone());
            let mut detail = serde_json::json!({ "grant_type": grant.as_str(), "jti": issued.jti });
            if let Some(family_id) = &issued.family_id {
                // So an operator finds the grant to revoke (`DELETE /admin/v1/refresh-families/…`).
                detail["family"] = family_id.as_str().into();
            }
            event.detail = Some(detail.to_string());
            state.audit.record(event);
        }
        None => state.audit.count_client_credentials(cx.client.id.as_str()),
    }
}

/// `OPTIONS` on the client-authenticated endpoints.
pub async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    cors::preflight(&req, |origin| state.registry.origin_registered(origin.as_str()))
}
