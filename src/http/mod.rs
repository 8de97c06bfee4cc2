//! What the HTTP edges share below themselves: CORS for the client-called endpoints, reading a
//! bounded form body, the HTML page shell (CSP, templates, same-origin form checks), DPoP proof
//! checks, and the token check of the provider's own resource servers (admin API, SCIM).

pub mod cors;
pub mod dpop;
pub mod form;
pub mod pages;
pub mod resource_token;
pub mod session;

use actix_web::{HttpMessage, HttpRequest};

use crate::services::audit::RequestMeta;
use crate::telemetry::RequestId;

/// What the audit trail records of `req`: its request id, origin and peer address.
pub fn request_meta(req: &HttpRequest) -> RequestMeta {
    RequestMeta {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        origin: req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| o.chars().take(200).collect()),
        ip: req.peer_addr().map(|a| a.ip().to_string()),
    }
}
