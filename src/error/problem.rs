//! RFC 9457 problem details (`application/problem+json`) for every endpoint that is not an
//! OAuth protocol endpoint.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError};
use serde::Serialize;

/// An RFC 9457 problem (`application/problem+json`) for non-OAuth endpoints.
#[derive(Debug, thiserror::Error)]
#[error("{title} ({status}){}", .cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: Option<String>,
    /// Logged, never sent.
    pub cause: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str) -> Self {
        Self { status, title, detail: None, cause: None }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self { cause: Some(cause.to_string()), ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error") }
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self { cause: Some(cause.to_string()), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable") }
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
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
