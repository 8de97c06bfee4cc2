//! `POST /register` (RFC 7591) and `GET|PUT|DELETE /register/{client_id}` (RFC 7592): a client
//! registers itself with an initial access token and manages its registration with the
//! registration access token it got. Off (404) unless `registration.enabled`. Errors are
//! RFC 7591 §3.2.2 bodies; a bad token gets an RFC 6750 `Bearer` challenge.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::error::{ErrorCode, Problem};
use crate::services::registration::{ClientMetadataRequest, Registered, RegistrationError};
use crate::state::AppState;

/// The endpoint's one error type: an RFC 7591 error, a Bearer challenge, or a problem.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RegistrationRefusal(#[from] RegistrationError);

impl ResponseError for RegistrationRefusal {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            RegistrationError::Disabled => StatusCode::NOT_FOUND,
            RegistrationError::InvalidToken => StatusCode::UNAUTHORIZED,
            RegistrationError::Registry(crate::services::registry::RegistryError::Store(_))
            | RegistrationError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            RegistrationError::Registry(crate::services::registry::RegistryError::Corrupt { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, description) = match &self.0 {
            RegistrationError::Disabled => return Problem::not_found().error_response(),
            RegistrationError::InvalidToken => {
                return HttpResponse::Unauthorized()
                    .insert_header((
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer error=\"invalid_token\""),
                    ))
                    .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                    .json(json!({ "error": ErrorCode::InvalidToken.as_str() }));
            }
            RegistrationError::InvalidRedirectUri(text) => (ErrorCode::InvalidRedirectUri, text.clone()),
            RegistrationError::InvalidMetadata(text) => (ErrorCode::InvalidClientMetadata, text.clone()),
            RegistrationError::SoftwareStatement => (ErrorCode::InvalidSoftwareStatement, self.0.to_string()),
            RegistrationError::Registry(crate::services::registry::RegistryError::Store(e)) => {
                return Problem::unavailable(e).error_response()
            }
            RegistrationError::Store(e) => return Problem::unavailable(e).error_response(),
            other => {
                let status = self.status_code();
                if status.is_server_error() {
                    return Problem::internal(other).error_response();
                }
                (ErrorCode::InvalidClientMetadata, other.to_string())
            }
        };
        HttpResponse::build(self.status_code())
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .json(json!({ "error": code.as_str(), "error_description": description }))
    }
}

type Answer = Result<HttpResponse, RegistrationRefusal>;

/// The token of `Authorization: Bearer …`, or why not.
fn bearer(req: &HttpRequest) -> Result<&str, RegistrationRefusal> {
    let value = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(RegistrationError::InvalidToken.into()),
    }
}

fn metadata(body: &[u8]) -> Result<ClientMetadataRequest, RegistrationRefusal> {
    serde_json::from_slice(body)
        .map_err(|e| RegistrationError::InvalidMetadata(format!("the body is not client metadata ({e})")).into())
}

/// RFC 7591 §3.2.1 client information (RFC 7592 §3 for reads and updates).
fn information(state: &AppState, registered: &Registered) -> Value {
    let mut body = serde_json::to_value(registered.client.metadata(registered.secret.as_ref())).unwrap_or_default();
    body["response_types"] = json!(["code"]);
    body["registration_client_uri"] =
        Value::String(state.settings.issuer.endpoint(&format!("/register/{}", registered.client.id)));
    if let Some(token) = &registered.registration_access_token {
        body["registration_access_token"] = Value::String(token.clone());
    }
    body
}

fn answer(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .json(body)
}

/// `POST /register`.
pub async fn register(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Answer {
    if !state.registration.enabled() {
        return Err(RegistrationError::Disabled.into());
    }
    let token = bearer(&req)?;
    let request = metadata(&body)?;
    let registered = state.registration.register(token, request).await?;
    Ok(answer(StatusCode::CREATED, information(&state, &registered)))
}

/// `GET /register/{client_id}`.
pub async fn read(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Answer {
    if !state.registration.enabled() {
        return Err(RegistrationError::Disabled.into());
    }
    let client = state.registration.read(&path, bearer(&req)?).await?;
    let registered = Registered { client, secret: None, registration_access_token: None };
    Ok(answer(StatusCode::OK, information(&state, &registered)))
}

/// `PUT /register/{client_id}`.
pub async fn update(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>, body: web::Bytes) -> Answer {
    if !state.registration.enabled() {
        return Err(RegistrationError::Disabled.into());
    }
    let token = bearer(&req)?;
    let registered = state.registration.update(&path, token, metadata(&body)?).await?;
    Ok(answer(StatusCode::OK, information(&state, &registered)))
}

/// `DELETE /register/{client_id}`.
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Answer {
    if !state.registration.enabled() {
        return Err(RegistrationError::Disabled.into());
    }
    state.registration.delete(&path, bearer(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
