//! The admin API's one error type: a refused caller (the RFC 6750 / RFC 9449 challenge any
//! resource server sends, with a problem body) or an RFC 9457 problem, mapped once from each
//! service's error.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use idp_verify::{Challenge, VerifyError};

use crate::error::Problem;
use crate::services::grants::GrantsError;
use crate::services::keys::KeyringError;
use crate::services::refresh_families::RefreshError;
use crate::services::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The token (or its DPoP proof) was refused; `bearer` says whether a Bearer challenge is
    /// offered beside the DPoP one.
    #[error("{error}")]
    Caller { error: VerifyError, bearer: bool },
    #[error(transparent)]
    Problem(#[from] Problem),
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Caller { error, .. } => StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            Self::Problem(problem) => problem.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Caller { error, bearer } => {
                if matches!(error, VerifyError::Unavailable(_)) {
                    tracing::error!(error = %error, "the admin API could not check a token");
                }
                refusal_problem(error, Challenge { bearer: *bearer })
            }
            Self::Problem(problem) => problem.error_response(),
        }
    }
}

/// A refused caller as every admin error answers, an RFC 9457 problem, with the RFC 6750 §3 /
/// RFC 9449 §7.1 challenges (and a 503's `Retry-After`) a resource server's refusal carries.
/// The error code is in the challenge; the body says only what the verifier's generic
/// description says.
fn refusal_problem(error: &VerifyError, challenge: Challenge) -> HttpResponse {
    let refusal = error.refusal(challenge);
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let title = status.canonical_reason().unwrap_or("Unauthorized");
    let mut response = Problem::new(status, title).with_detail(error.description()).error_response();
    for (name, value) in refusal.headers.iter().filter(|(name, _)| matches!(*name, "www-authenticate" | "retry-after"))
    {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().append(HeaderName::from_static(name), value);
        }
    }
    response
}

impl From<RegistryError> for AdminError {
    fn from(error: RegistryError) -> Self {
        let problem = match error {
            RegistryError::Invalid(field) => Problem::invalid_fields(vec![field]),
            RegistryError::Conflict(what) => Problem::conflict(format!("{what} already exists")),
            RegistryError::InUse(why) => Problem::conflict(why),
            RegistryError::Stale(_) => Problem::precondition_failed(),
            RegistryError::NotFound(_) => Problem::not_found(),
            RegistryError::Store(e) => Problem::unavailable(e),
            e @ RegistryError::Corrupt { .. } => Problem::internal(e),
        };
        Self::Problem(problem)
    }
}

impl From<GrantsError> for AdminError {
    fn from(error: GrantsError) -> Self {
        let problem = match error {
            GrantsError::Invalid(field) => Problem::invalid_fields(vec![field]),
            GrantsError::NotFound(_) => Problem::not_found(),
            GrantsError::Registry(e) => return e.into(),
            GrantsError::Refresh(RefreshError::Db(e)) | GrantsError::Store(e) => Problem::unavailable(e),
            GrantsError::Refresh(RefreshError::Hot(e)) | GrantsError::Hot(e) => Problem::unavailable(e),
            e @ GrantsError::Refresh(_) => Problem::internal(e),
        };
        Self::Problem(problem)
    }
}

impl From<KeyringError> for AdminError {
    fn from(error: KeyringError) -> Self {
        let problem = match error {
            KeyringError::NotFound => Problem::not_found(),
            e @ KeyringError::Conflict => Problem::conflict(e.to_string()),
            KeyringError::Store(e) => Problem::unavailable(e),
            e => Problem::internal(e),
        };
        Self::Problem(problem)
    }
}

pub type AdminResult<T = HttpResponse> = Result<T, AdminError>;

/// The admin scope's last word on errors (`ErrorHandlers::default_handler`): an error answer
/// that is not already a problem (actix's own: a 405 with its `Allow`, a body over the payload
/// limit, a path that does not decode) becomes one of the same status, keeping its headers, so
/// every admin error is `application/problem+json` as the OpenAPI document says.
pub fn problems_only<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let (req, res) = response.into_parts();
    let status = res.status();
    let problem = Problem::new(status, status.canonical_reason().unwrap_or("Error")).error_response();
    let (problem_head, problem_body) = problem.into_parts();
    let mut answer = res.set_body(problem_body);
    // The problem's body, content type and cache policy; every other header stays (`Allow`).
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(value) = problem_head.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, answer).map_into_right_body()))
}
