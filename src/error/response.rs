//! The headers every OAuth endpoint answer carries, success or error, so the error shapes and
//! the handlers build them one way.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponseBuilder;

pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");
/// draft-ietf-httpapi-ratelimit-headers-10: the quota policies that apply, and what is left.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1, RFC 7662 §4), and the CORS
/// headers when a registered browser origin asked.
pub fn no_store_response(status: StatusCode, cors: Option<&HeaderValue>) -> HttpResponseBuilder {
    let mut response = HttpResponseBuilder::new(status);
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let Some(origin) = cors {
        add_cors_headers(&mut response, origin);
    }
    response
}

/// Headers of an actual (non-preflight) cross-origin response to an allowed origin: that one
/// origin echoed, never `*`, with `Vary: Origin` (docs/security.md §2).
pub fn add_cors_headers(response: &mut HttpResponseBuilder, origin: &HeaderValue) {
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
        .insert_header((header::VARY, HeaderValue::from_static("Origin")))
        .insert_header((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("DPoP-Nonce, WWW-Authenticate"),
        ));
}
