//! SCIM's one error shape (RFC 7644 §3.12): `application/scim+json` with the Error schema,
//! `status` as a string, a `scimType` where RFC 7644 Table 9 has one, and `detail`. A refused
//! token keeps its RFC 6750 / RFC 9449 challenge in `WWW-Authenticate` and gets this body.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use idp_verify::Challenge;
use serde_json::json;

use super::schema::ERROR;
use super::MEDIA_TYPE;
use crate::http::resource_token::Refused;
use crate::services::users::UserError;

/// RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    TooMany,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::TooMany => "tooMany",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// The access token (or its proof) was refused.
    #[error("{}", .0.error)]
    Caller(Refused),
    /// A SCIM error: `detail` is public text.
    #[error("{detail}")]
    Status { status: StatusCode, scim_type: Option<ScimType>, detail: String },
    /// A failure of ours: the cause is logged, the caller reads a generic detail.
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
}

pub type ScimResult<T = HttpResponse> = Result<T, ScimError>;

impl ScimError {
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::Status { status: StatusCode::BAD_REQUEST, scim_type: Some(scim_type), detail: detail.into() }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    pub fn plain(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::Status { status, scim_type: None, detail: detail.into() }
    }

    pub fn not_found() -> Self {
        Self::plain(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn method_not_allowed() -> Self {
        Self::plain(StatusCode::METHOD_NOT_ALLOWED, "this method is not allowed on this endpoint")
    }

    pub fn precondition_failed() -> Self {
        Self::plain(StatusCode::PRECONDITION_FAILED, "the resource changed since the version in If-Match")
    }
}

/// The body of a SCIM error.
fn body(status: StatusCode, scim_type: Option<ScimType>, detail: &str) -> String {
    let mut error = json!({ "schemas": [ERROR], "status": status.as_u16().to_string(), "detail": detail });
    if let Some(scim_type) = scim_type {
        error["scimType"] = json!(scim_type.as_str());
    }
    error.to_string()
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Caller(refused) => StatusCode::from_u16(refused.error.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            Self::Status { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE)));
        let detail = match self {
            Self::Caller(Refused { error, bearer }) => {
                if matches!(error, idp_verify::VerifyError::Unavailable(_)) {
                    tracing::error!(error = %error, "SCIM could not check a token");
                }
                // The challenge headers of the RFC 6750 / RFC 9449 refusal; the body is SCIM's.
                for (name, value) in error.refusal(Challenge { bearer: *bearer }).headers {
                    if name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("cache-control") {
                        continue;
                    }
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        response.append_header((name, value));
                    }
                }
                error.description().to_owned()
            }
            Self::Status { detail, .. } => detail.clone(),
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "a SCIM request failed");
                "the request could not be completed".to_owned()
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "a SCIM request met an unavailable store");
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
                "the service is unavailable; retry shortly".to_owned()
            }
        };
        let scim_type = match self {
            Self::Status { scim_type, .. } => *scim_type,
            _ => None,
        };
        response.body(body(status, scim_type, &detail))
    }
}

/// The SCIM attribute a users-service field error is about.
pub fn attribute_of(field: &str) -> &str {
    match field {
        "username" => "userName",
        "email" => "emails",
        "name" => "name.formatted",
        "given_name" => "name.givenName",
        "family_name" => "name.familyName",
        "display_name" => "displayName",
        "external_id" => "externalId",
        other => other,
    }
}

impl From<UserError> for ScimError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::Invalid(field) => {
                Self::invalid_value(format!("{}: {}", attribute_of(&field.field), field.message))
            }
            UserError::Conflict => Self::Status {
                status: StatusCode::CONFLICT,
                scim_type: Some(ScimType::Uniqueness),
                detail: "a user with this userName already exists".into(),
            },
            UserError::Stale => Self::precondition_failed(),
            UserError::NotFound => Self::not_found(),
            UserError::Store(e) => Self::Unavailable(e.to_string()),
            e @ (UserError::Hash(_) | UserError::Grants(_)) => Self::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_error_schema_a_string_status_and_a_scim_type() {
        let response = ScimError::invalid_filter("`x` is not an operator").error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers().get(header::CONTENT_TYPE).unwrap(), MEDIA_TYPE);
        let body: serde_json::Value = serde_json::from_str(&body(
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidFilter),
            "`x` is not an operator",
        ))
        .unwrap();
        assert_eq!(body["schemas"], json!([ERROR]));
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
    }

    #[test]
    fn a_service_field_error_names_the_scim_attribute() {
        let error = ScimError::from(UserError::invalid("given_name", "too long"));
        assert!(matches!(&error, ScimError::Status { detail, .. } if detail == "name.givenName: too long"));
        assert_eq!(ScimError::from(UserError::Conflict).status_code(), StatusCode::CONFLICT);
        assert_eq!(ScimError::from(UserError::Stale).status_code(), StatusCode::PRECONDITION_FAILED);
    }
}
