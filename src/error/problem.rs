//! RFC 9457 problem details (`application/problem+json`) for every endpoint that is not an
//! OAuth protocol endpoint: the admin API, SCIM's neighbours, health and metrics.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError};
use serde::Serialize;

/// One field of a request body that was refused, named as the body names it (a JSON field, or
/// a `/`-separated path into nested members), never as a CLI flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl FieldError {
    /// The member a JSON document was refused at, named as the document names it (`colour`,
    /// `tags[1]`); `None` when the text is not JSON at all.
    pub fn from_json_error(error: serde_path_to_error::Error<serde_json::Error>) -> Option<Self> {
        let at = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return None;
        }
        let message = inner.to_string();
        // serde reports a missing member at its parent: name the member itself.
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()));
        let field = match (named, at.as_str()) {
            (Some(name), "." | "") => name.to_owned(),
            // An unknown member is already in the path; a missing one is not.
            (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => String::new(),
            (None, path) => path.to_owned(),
        };
        // Drop serde's trailing position; the member name says where.
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        Some(Self::new(field, message))
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// An RFC 9457 problem (`application/problem+json`) for non-OAuth endpoints.
#[derive(Debug, thiserror::Error)]
#[error("{title} ({status}){}", .cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: Option<String>,
    /// The `errors` extension member: which fields of the body were refused and why.
    pub errors: Vec<FieldError>,
    /// Logged, never sent.
    pub cause: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str) -> Self {
        Self { status, title, detail: None, errors: Vec::new(), cause: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    }

    /// 400 with the fields that were refused.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.to_string(),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self { errors, ..Self::new(StatusCode::BAD_REQUEST, "Bad Request").with_detail(detail) }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request").with_detail(detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict").with_detail(detail)
    }

    /// RFC 9110 §13.1.1: `If-Match` named a representation that is no longer current.
    pub fn precondition_failed() -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
            .with_detail("the resource changed since it was read; read it again and retry")
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type")
            .with_detail(format!("the body must be {expected}"))
    }

    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large")
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self { cause: Some(cause.to_string()), ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error") }
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self { cause: Some(cause.to_string()), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable") }
    }
}

/// The body of every problem this provider sends (also the admin API's documented schema).
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            // The cause stays here, with the request id the telemetry span carries.
            tracing::warn!(status = self.status.as_u16(), cause = %cause, "answered with a problem");
        }
        let body = ProblemBody {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
            errors: &self.errors,
        };
        HttpResponse::build(self.status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// Handlers may return a `Problem` directly as their response.
impl Responder for Problem {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}
