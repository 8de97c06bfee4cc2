//! `/scim/v2`: SCIM 2.0 (RFC 7643, RFC 7644) for provisioning from HR systems and directories,
//! an edge over the same users service the admin API, the CLI and the sign-in pages use (no
//! second user store): `/Users` (create, read, list with filters, sorting and pages, replace,
//! PATCH, delete; `active: false` disables the user and revokes their grants), `/Groups` over the
//! groups service (members added and removed by PATCH), and the discovery documents
//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`. Errors are SCIM's
//! (`error.rs`); callers need a token for `<issuer>/scim` (`auth.rs`). docs/scim.md is the
//! operator's guide.

pub mod auth;
mod discovery;
mod error;
pub mod filter;
mod groups;
mod patch;
mod query;
pub mod schema;
mod user;
mod users;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse, HttpResponseBuilder, ResponseError};

pub use self::error::{ScimError, ScimResult};

/// The path SCIM is served under (after the issuer's own path).
pub const BASE_PATH: &str = "/scim/v2";

/// RFC 7644 §8.1.
pub const MEDIA_TYPE: &str = "application/scim+json";

/// SCIM's routes, relative to where it is mounted.
pub fn routes(cfg: &mut web::ServiceConfig) {
    discovery::routes(cfg);
    users::routes(cfg);
    groups::routes(cfg);
}

/// Any other path under `/scim/v2`.
pub async fn not_found() -> HttpResponse {
    ScimError::not_found().error_response()
}

async fn method_not_allowed() -> HttpResponse {
    ScimError::method_not_allowed().error_response()
}

/// A SCIM answer: `application/scim+json`, never cached.
fn answer(mut response: HttpResponseBuilder, body: &serde_json::Value) -> HttpResponse {
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE)));
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response.body(body.to_string())
}
