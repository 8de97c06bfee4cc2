//! Protocol endpoints.

pub mod access_token;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod form;
pub mod grants;
pub mod id_token;
pub mod introspect;
pub mod jwks;
pub mod par;
pub mod revoke;
pub mod token;
pub mod userinfo;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponseBuilder;

/// Every answer of the token, introspection and revocation endpoints, success or error:
/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1, RFC 7662 §4), and the CORS
/// headers when a registered browser origin asked.
pub fn no_store_response(status: StatusCode, cors: Option<&HeaderValue>) -> HttpResponseBuilder {
    let mut response = HttpResponseBuilder::new(status);
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let Some(origin) = cors {
        crate::policy::cors::add_actual_headers(&mut response, origin);
    }
    response
}
