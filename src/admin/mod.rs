//! `/admin/v1`: the operator's JSON API over the same services the CLI uses (registry, users,
//! keyring, refresh families, audit). Conventions, the same on every resource: JSON bodies that
//! refuse unknown members; RFC 9457 problems with an `errors` list naming fields; `ETag` on
//! reads and `If-Match` on changes (412 when stale); cursor pagination; `Location` on 201; no
//! cookies, and no CORS. Callers are checked by [`auth`]; the OpenAPI 3.1 document of it all is
//! served at `/admin/v1/openapi.json` ([`openapi`]).

mod audit;
pub mod auth;
mod body;
mod clients;
mod error;
mod grants;
mod groups;
mod keys;
pub mod openapi;
mod page;
mod registration;
mod resources;
mod schemas;
mod users;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponseBuilder};

pub use self::error::{problems_only, AdminError, AdminResult};

/// The admin API's routes, relative to where it is mounted.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi::document)));
    clients::routes(cfg);
    resources::routes(cfg);
    users::routes(cfg);
    groups::routes(cfg);
    registration::routes(cfg);
    keys::routes(cfg);
    grants::routes(cfg);
    audit::routes(cfg);
}

/// The path the admin API is served under (after the issuer's own path).
pub const BASE_PATH: &str = "/admin/v1";

/// The request's `If-Match`, when it sent one. A value that is not visible ASCII names no
/// ETag this API gave out, so it stays a precondition that fails (412) rather than none.
fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers().get(header::IF_MATCH).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Adds the representation's `ETag` and keeps admin answers out of caches.
fn with_etag(mut response: HttpResponseBuilder, etag: &str) -> HttpResponseBuilder {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.insert_header((header::ETAG, value));
    }
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response
}
