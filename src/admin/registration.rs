//! `/admin/v1/initial-access-tokens`: what lets a client register itself (RFC 7591 §3), minted
//! by an operator for a number of registrations and a lifetime.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::{caller, Access, Area};
use super::body::{self, JSON};
use super::clients::parse_seconds;
use super::error::{AdminError, AdminResult};
use crate::error::{FieldError, Problem};
use crate::services::registration::RegistrationError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/initial-access-tokens").route(web::post().to(mint)));
}

impl From<RegistrationError> for AdminError {
    fn from(error: RegistrationError) -> Self {
        match error {
            RegistrationError::Registry(e) => e.into(),
            RegistrationError::Store(e) => Problem::unavailable(e).into(),
            other => Problem::bad_request(other.to_string()).into(),
        }
    }
}

/// What an initial access token is good for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialTokenRequest {
    /// Seconds or text such as `1h`, 1 minute to 30 days (default `1d`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "1d")]
    pub expires_in: Option<serde_json::Value>,
    /// How many clients it may register, 1 to 1000 (default 1).
    #[serde(default)]
    pub uses: Option<i64>,
}

/// A minted initial access token, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InitialToken {
    pub initial_access_token: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
    pub uses: i64,
}

/// Mint an initial access token for dynamic client registration (`POST /register`).
#[utoipa::path(post, path = "/initial-access-tokens", operation_id = "createInitialAccessToken", tag = "registration",
    request_body(content = Option<InitialTokenRequest>, description = "Optional: no body is one use for a day"),
    responses(
        (status = 201, description = "Minted", body = InitialToken),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 409, response = super::schemas::Conflict),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn mint(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    if !state.registration.enabled() {
        return Err(Problem::conflict("dynamic client registration is off (registration.enabled)").into());
    }
    let request: InitialTokenRequest = if body.is_empty() {
        InitialTokenRequest { expires_in: None, uses: None }
    } else {
        body::parse(&req, &body, JSON)?
    };
    let lifetime = match &request.expires_in {
        None => 86_400,
        Some(value) => parse_seconds(value).ok_or_else(|| {
            Problem::invalid_fields(vec![FieldError::new(
                "expires_in",
                "a duration: whole seconds or text such as \"1h\"",
            )])
        })?,
    };
    let uses = request.uses.unwrap_or(1);
    let (token, expires_at) = state.registration.mint_initial_token(lifetime, uses, &caller.actor).await?;
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(InitialToken {
        initial_access_token: token,
        expires_at,
        uses,
    }))
}
