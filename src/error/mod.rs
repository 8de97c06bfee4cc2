//! The error vocabulary clients see. One table of protocol error codes ([`ErrorCode`]), and the
//! shapes built from it: [`OAuthError`] for the OAuth endpoints (RFC 6749 §5.2), the
//! authorization endpoint's redirects (`oauth::authorize`), and [`Problem`] (RFC 9457) for
//! everything else. Public wording is generic; the cause goes to the log only.
//!
//! This is a foundation: it depends on nothing else in the crate.

mod oauth;
mod problem;
mod response;

use actix_web::http::StatusCode;

pub use self::oauth::{OAuthError, RateLimited};
pub use self::problem::{FieldError, Problem};
pub use self::response::{add_cors_headers, no_store_response, DPOP_NONCE, RATELIMIT, RATELIMIT_POLICY};

/// Every protocol error code this provider answers with: RFC 6749 §4.1.2.1 and §5.2, RFC 6750
/// §3.1, RFC 7009, RFC 7591 §3.2.2, RFC 7662, RFC 8707, RFC 9126, RFC 9449, and OpenID Connect
/// Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    InvalidTarget,
    InvalidDpopProof,
    UseDpopNonce,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    InvalidRequestUri,
    ServerError,
    TemporarilyUnavailable,
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidSoftwareStatement,
    InvalidToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::InvalidToken => "invalid_token",
        }
    }

    /// The status of a direct (non-redirect) answer with this code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
