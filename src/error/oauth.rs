//! The RFC 6749 §5.2 error of the OAuth endpoints.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::response::{no_store_response, DPOP_NONCE, RATELIMIT, RATELIMIT_POLICY};
use super::ErrorCode;

/// An error of an OAuth endpoint: `{"error", "error_description"}` with `Cache-Control:
/// no-store`, a `Basic` challenge when the client tried HTTP Basic, `DPoP-Nonce` when a nonce
/// is asked for, and CORS headers only when the request's origin was verified for the client.
#[derive(Debug)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: &'static str,
    status: StatusCode,
    dpop_nonce: Option<String>,
    cors_origin: Option<HeaderValue>,
    /// `WWW-Authenticate: Basic` on a 401 (see [`OAuthError::with_basic_challenge`]).
    basic_challenge: bool,
    /// Logged with the request id, never sent.
    cause: Option<String>,
    /// On a 429: `Retry-After` seconds, `RateLimit-Policy` and `RateLimit` values.
    rate_limited: Option<Box<RateLimited>>,
}

/// What a 429 tells the client about the limit it hit.
#[derive(Debug, Clone)]
pub struct RateLimited {
    pub retry_after_seconds: u64,
    pub policy: String,
    pub limit: String,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

impl OAuthError {
    pub fn new(code: ErrorCode, description: &'static str) -> Self {
        debug_assert!(description.bytes().all(is_error_text_byte), "RFC 6749 §5.2 charset: {description}");
        Self {
            code,
            description,
            status: code.status(),
            dpop_nonce: None,
            cors_origin: None,
            basic_challenge: false,
            cause: None,
            rate_limited: None,
        }
    }

    /// 429 Too Many Requests (RFC 6585 §4) with `temporarily_unavailable`, the RFC 6749 code a
    /// client library already treats as "try again later"; the headers say when.
    pub fn rate_limited(limited: RateLimited) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            rate_limited: Some(Box::new(limited)),
            ..Self::new(ErrorCode::TemporarilyUnavailable, "too many requests; retry after the time Retry-After gives")
        }
    }

    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    pub fn invalid_target(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    pub fn unauthorized_client(description: &'static str) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    pub fn unsupported_grant_type(description: &'static str) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, description)
    }

    pub fn use_dpop_nonce(description: &'static str) -> Self {
        Self::new(ErrorCode::UseDpopNonce, description)
    }

    pub fn invalid_dpop_proof(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidDpopProof, description)
    }

    /// A cross-origin request from an origin the client did not register: 403, no CORS.
    pub fn origin_not_allowed() -> Self {
        Self { status: StatusCode::FORBIDDEN, ..Self::invalid_request("origin not allowed") }
    }

    pub fn payload_too_large() -> Self {
        Self { status: StatusCode::PAYLOAD_TOO_LARGE, ..Self::invalid_request("the request body is too large") }
    }

    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::ServerError, "the server could not complete the request").caused_by(cause)
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "the server is temporarily unavailable").caused_by(cause)
    }

    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn with_dpop_nonce(mut self, nonce: String) -> Self {
        self.dpop_nonce = Some(nonce);
        self
    }

    /// RFC 6749 §5.2: a client that tried to authenticate with the `Authorization` header (or
    /// sent no credentials) gets a `WWW-Authenticate` challenge naming the scheme; one that
    /// authenticated in the body (a secret, an assertion) gets none, which would not fit it.
    pub fn with_basic_challenge(mut self) -> Self {
        self.basic_challenge = true;
        self
    }

    pub fn with_cors(mut self, origin: Option<&HeaderValue>) -> Self {
        self.cors_origin = origin.cloned();
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// RFC 6749 §5.2: error and error_description use %x20-21 / %x23-5B / %x5D-7E only.
fn is_error_text_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(
                error.code = self.code.as_str(),
                error.cause = self.cause.as_deref(),
                "oauth request failed"
            );
        } else {
            tracing::info!(
                error.code = self.code.as_str(),
                error.description = self.description,
                error.cause = self.cause.as_deref(),
                "oauth request refused"
            );
        }
        let description: String =
            self.description.bytes().map(|b| if is_error_text_byte(b) { b as char } else { ' ' }).collect();
        let body = serde_json::json!({ "error": self.code.as_str(), "error_description": description });
        let mut response = no_store_response(self.status, self.cors_origin.as_ref());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        if self.status == StatusCode::UNAUTHORIZED && self.basic_challenge {
            // RFC 6749 §5.2 / RFC 9110 §11.6.1: the scheme to authenticate with.
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"idp\"")));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if let Some(limited) = &self.rate_limited {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(limited.retry_after_seconds)));
            for (name, value) in [(RATELIMIT_POLICY, &limited.policy), (RATELIMIT, &limited.limit)] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.insert_header((name, value));
                }
            }
        }
        if let Some(nonce) = self.dpop_nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
            response.insert_header((DPOP_NONCE, nonce));
        }
        response.body(body.to_string())
    }
}
