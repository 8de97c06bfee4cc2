//! Pushed authorization requests (RFC 9126): a client-authenticated `POST /par` checks the
//! authorization request as `/authorize` would and stores it for 60 s under a single-use
//! `request_uri`; `/authorize` then takes only `client_id` and that `request_uri`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::authorize::{parse_request, AuthorizeError, Pushed, RawParams, PUSHED, URN_PREFIX};
use super::client_auth::{self, AuthenticatedRequest};
use super::dpop;
use super::no_store_response;
use crate::crypto::random_token;
use crate::error::{ErrorCode, OAuthError};
use crate::http::form::read_body;
use crate::services::rate_limits::Limit;
use crate::state::AppState;
use crate::store::hot::HashedKey;

/// RFC 9126 §2.2: a short lifetime (FAPI 2.0: under 600 s).
pub const REQUEST_URI_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct PushResponse {
    request_uri: String,
    expires_in: u64,
}

/// `POST /par`.
pub async fn push(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let state = state.get_ref();
    let body = read_body(payload).await?;
    let AuthenticatedRequest { client, cors, .. } =
        client_auth::authenticated_request(state, &req, &body, &state.endpoints.par, Limit::Par).await?;
    let stored = async {
        let mut raw = RawParams::parse(&body);
        if raw.has("request_uri") {
            return Err(OAuthError::invalid_request("request_uri is not allowed in a pushed request"));
        }
        // RFC 9126 §2.1: the client_id, when sent, is the authenticated client's.
        raw.set_default("client_id", client.id.as_str());
        let (named, mut request) = parse_request(state, &raw).await.map_err(as_oauth_error)?;
        if named.id != client.id {
            return Err(OAuthError::invalid_request("client_id is not the authenticated client"));
        }
        // RFC 9449 §10.1: a proof sent with the pushed request binds the code to its key.
        let proof =
            dpop::check_proof(state, &req, "POST", &state.endpoints.par, None, client.dpop_bound_access_tokens).await?;
        if let Some(proof) = proof {
            match &request.dpop_jkt {
                Some(jkt) if *jkt != proof.jkt => {
                    return Err(OAuthError::invalid_dpop_proof("dpop_jkt is not the thumbprint of the proof key"))
                }
                _ => request.dpop_jkt = Some(proof.jkt),
            }
        }
        let request_uri = format!("{URN_PREFIX}{}", random_token());
        let hash = HashedKey::of(&request_uri);
        request.pushed = Some(hash.clone());
        let pushed = Pushed { request, expires_at: state.clock.now() + REQUEST_URI_LIFETIME.as_secs() as i64 };
        PUSHED.put(state.hot.as_ref(), &hash, &pushed, REQUEST_URI_LIFETIME).await.map_err(OAuthError::unavailable)?;
        Ok(request_uri)
    }
    .await;
    match stored {
        Ok(request_uri) => Ok(no_store_response(StatusCode::CREATED, cors.as_ref())
            .json(PushResponse { request_uri, expires_in: REQUEST_URI_LIFETIME.as_secs() })),
        Err(e) => Err(e.with_cors(cors.as_ref())),
    }
}

/// RFC 9126 §2.3: the pushed request's problems as token-endpoint-style errors.
fn as_oauth_error(error: AuthorizeError) -> OAuthError {
    match error {
        AuthorizeError::Page { status, .. } if status.is_server_error() => {
            OAuthError::unavailable("the pushed request could not be checked")
        }
        AuthorizeError::Page { .. } => OAuthError::invalid_request("the client or redirect_uri is not valid"),
        AuthorizeError::Redirect { code, description, .. } => {
            let code = match code {
                ErrorCode::InvalidScope => ErrorCode::InvalidScope,
                ErrorCode::InvalidTarget => ErrorCode::InvalidTarget,
                ErrorCode::UnauthorizedClient => ErrorCode::UnauthorizedClient,
                _ => ErrorCode::InvalidRequest,
            };
            OAuthError::new(code, description)
        }
    }
}
