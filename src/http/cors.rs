//! CORS for the endpoints a browser client calls with its own credentials (token,
//! introspection, revocation): the origin must be one the authenticated client registered;
//! the answer echoes that one origin, never `*`, with `Vary: Origin`. Preflights get a fixed
//! answer that reflects nothing but an origin some client registered.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use crate::domain::Origin;
use crate::error::OAuthError;

pub use crate::error::DPOP_NONCE;

/// The request's `Origin`, if it sent one. `null` and malformed origins are refused outright.
pub fn request_origin(req: &HttpRequest) -> Result<Option<Origin>, OAuthError> {
    let mut values = req.headers().get_all(header::ORIGIN);
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(OAuthError::origin_not_allowed());
    }
    let text = value.to_str().map_err(|_| OAuthError::origin_not_allowed())?;
    Origin::parse_header(text).map(Some).map_err(|_| OAuthError::origin_not_allowed())
}

/// SECURITY.md §1: lacking `Origin`, a browser's `Referer` still names the page's origin, and
/// that too must be one the client registered (403 otherwise). Nothing is echoed: without
/// `Origin` this is not a CORS request, and only `Origin` binds a token to an origin.
pub fn check_referer(client: &crate::services::registry::Client, req: &HttpRequest) -> Result<(), OAuthError> {
    if req.headers().contains_key(header::ORIGIN) {
        return Ok(());
    }
    let mut values = req.headers().get_all(header::REFERER);
    let Some(value) = values.next() else { return Ok(()) };
    if values.next().is_some() {
        return Err(OAuthError::origin_not_allowed());
    }
    let origin = value
        .to_str()
        .ok()
        .and_then(|text| url::Url::parse(text).ok())
        .map(|url| url.origin().ascii_serialization())
        .and_then(|origin| Origin::parse_header(&origin).ok())
        .ok_or_else(OAuthError::origin_not_allowed)?;
    if client.allows_origin(&origin) {
        Ok(())
    } else {
        Err(OAuthError::origin_not_allowed())
    }
}

/// Answer to `OPTIONS` on a client-authenticated POST endpoint.
pub fn preflight(req: &HttpRequest, origin_is_registered: impl Fn(&Origin) -> bool) -> HttpResponse {
    preflight_for(req, origin_is_registered, "POST")
}

/// Answer to `OPTIONS` on an endpoint taking `methods`.
pub fn preflight_for(
    req: &HttpRequest,
    origin_is_registered: impl Fn(&Origin) -> bool,
    methods: &'static str,
) -> HttpResponse {
    let origin = match request_origin(req) {
        Ok(Some(origin)) if origin_is_registered(&origin) => origin,
        _ => return HttpResponse::Forbidden().finish(),
    };
    let Ok(origin) = HeaderValue::from_str(origin.as_str()) else {
        return HttpResponse::Forbidden().finish();
    };
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::VARY, HeaderValue::from_static("Origin")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods)))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, DPoP, Content-Type"),
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600")))
        .finish()
}

/// For a request that carried `Origin`: the origin must be one the authenticated client
/// registered (else 403 with no CORS headers). Returns the value to echo.
pub fn allowed_origin(
    client: &crate::services::registry::Client,
    origin: Option<&Origin>,
) -> Result<Option<HeaderValue>, OAuthError> {
    match origin {
        None => Ok(None),
        Some(origin) if client.allows_origin(origin) => {
            HeaderValue::from_str(origin.as_str()).map(Some).map_err(|_| OAuthError::origin_not_allowed())
        }
        Some(_) => Err(OAuthError::origin_not_allowed()),
    }
}
