//! What the HTTP edges share below themselves: CORS for the client-called endpoints, reading a
//! bounded form body, the HTML page shell (CSP, templates, same-origin form checks), DPoP proof
//! checks, and the token check of the provider's own resource servers (admin API, SCIM).

pub mod cors;
pub mod dpop;
pub mod form;
pub mod pages;
pub mod rate_limit;
pub mod resource_token;
pub mod session;

use actix_web::{HttpMessage, HttpRequest};

use crate::services::audit::RequestMeta;
use crate::telemetry::{ClientAddress, RequestId};

/// The client's address (`trusted_proxies` decides whether a forwarded one counts), resolved
/// once per request by `telemetry::observe`; the peer address where that did not run.
pub fn client_address(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ClientAddress>()
        .map(|client| client.0)
        .or_else(|| req.peer_addr().map(|peer| crate::config::canonical_ip(peer.ip())))
}

/// What the audit trail records of `req`: its request id, origin and client address.
pub fn request_meta(req: &HttpRequest) -> RequestMeta {
    RequestMeta {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        origin: req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| o.chars().take(200).collect()),
        ip: client_address(req).map(|a| a.to_string()),
    }
}
