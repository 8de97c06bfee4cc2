//! The admin API's one error type: a refused caller (an RFC 6750 / RFC 9449 challenge, as any
//! resource server answers) or an RFC 9457 problem, mapped once from each service's error.

use actix_web::http::StatusCode;
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
                error.response(Challenge { bearer: *bearer })
            }
            Self::Problem(problem) => problem.error_response(),
        }
    }
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
