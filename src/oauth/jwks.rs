//! `GET /jwks`: the public signing keys (next, active and retired), served from memory.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::discovery::Metadata;
use crate::services::keys::Keyring;

pub async fn jwks(req: HttpRequest, keyring: web::Data<Keyring>, metadata: web::Data<Metadata>) -> HttpResponse {
    let document = keyring.jwks();
    let etag = HeaderValue::from_str(&document.etag).expect("base64url makes a header value");
    let cache_control = metadata.cache_control.clone();
    let cors = HeaderValue::from_static("*");
    if if_none_match(&req, &document.etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, cors))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, cors))
        .body(document.body.clone())
}

/// RFC 9110 §13.1.2: weak comparison, a list of tags, or `*`.
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
}
