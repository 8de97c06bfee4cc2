//! actix-web glue (the `actix` feature): a middleware for `actix_web::middleware::from_fn` that
//! verifies every request of a scope, an extractor that hands handlers the [`VerifiedAccess`],
//! and refusals as responses. The middleware and the extractor find the [`Verifier`] in app
//! data as `web::Data<Verifier>`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;

use crate::error::{Challenge, VerifyError};
use crate::request::{Header, Request};
use crate::{VerifiedAccess, Verifier};

impl<'a> Request<'a> {
    /// The parts of `req` the checks read: method, path, and every `Authorization`, `DPoP` and
    /// `Origin` value.
    pub fn from_http(req: &'a HttpRequest) -> Self {
        let values = |name: HeaderName| Header::from_values(req.headers().get_all(name).map(HeaderValue::as_bytes));
        Self {
            method: req.method().as_str(),
            path: req.path(),
            authorization: values(header::AUTHORIZATION),
            dpop: values(HeaderName::from_static("dpop")),
            origin: values(header::ORIGIN),
        }
    }
}

impl Verifier {
    /// Every check of `req`, in order ([`Verifier::verify`]).
    pub async fn verify_request(&self, req: &HttpRequest) -> Result<VerifiedAccess, VerifyError> {
        self.verify(&Request::from_http(req)).await
    }

    /// Renders `error` with this verifier's challenge, logging it once.
    pub fn reject(&self, error: VerifyError) -> actix_web::Error {
        self.log(&error);
        let response = error.response(self.challenge());
        actix_web::error::InternalError::from_response(error, response).into()
    }
}

impl VerifyError {
    /// [`VerifyError::refusal`] as a response.
    pub fn response(&self, challenge: Challenge) -> HttpResponse {
        let refusal = self.refusal(challenge);
        let mut response = HttpResponse::build(status(refusal.status));
        for (name, value) in refusal.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.append_header((name, value));
            }
        }
        response.body(refusal.body)
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Rendered with a `DPoP`-only challenge; [`Verifier::reject`] renders with the verifier's own
/// [`Challenge`].
impl ResponseError for VerifyError {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        self.response(Challenge::default())
    }
}

/// `.wrap(actix_web::middleware::from_fn(require_access_token))`: refuses a request without a
/// valid access token (RFC 6750 §3 / RFC 9449 §7.1 answer) and puts the [`VerifiedAccess`] in
/// the request extensions for the handler.
pub async fn require_access_token<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(verifier) = req.app_data::<web::Data<Verifier>>().cloned() else {
        return Err(missing_verifier());
    };
    match verifier.verify_request(req.request()).await {
        Ok(access) => {
            req.extensions_mut().insert(access);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => Ok(req.error_response(verifier.reject(error)).map_into_right_body()),
    }
}

/// A handler argument. Behind [`require_access_token`] it takes what the middleware verified;
/// without it, it verifies the request itself.
impl FromRequest for VerifiedAccess {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = req.extensions().get::<VerifiedAccess>().cloned();
        let req = req.clone();
        Box::pin(async move {
            if let Some(access) = verified {
                return Ok(access);
            }
            let verifier = req.app_data::<web::Data<Verifier>>().cloned().ok_or_else(missing_verifier)?;
            let access = verifier.verify_request(&req).await.map_err(|error| verifier.reject(error))?;
            req.extensions_mut().insert(access.clone());
            Ok(access)
        })
    }
}

/// A wiring mistake, not the caller's: 500, and nothing is let through.
fn missing_verifier() -> actix_web::Error {
    tracing::error!("no web::Data<Verifier> in app data; every protected request fails");
    actix_web::error::ErrorInternalServerError("the resource server is misconfigured")
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::error::{Scheme, TokenError};
    use crate::request::{check_origin, read_authorization};
    use crate::token::AccessTokenClaims;

    #[test]
    fn core_21_two_authorization_headers_are_two_values() {
        let req = TestRequest::default()
            .append_header((header::AUTHORIZATION, "Bearer a"))
            .append_header((header::AUTHORIZATION, "Bearer b"))
            .to_http_request();
        assert!(matches!(
            read_authorization(Request::from_http(&req).authorization),
            Err(VerifyError::InvalidRequest(_))
        ));
        let none = TestRequest::with_uri("/r?access_token=abc").to_http_request();
        let parts = Request::from_http(&none);
        assert!(matches!(read_authorization(parts.authorization), Err(VerifyError::MissingToken)), "CORE-20");
        assert_eq!((parts.method, parts.path), ("GET", "/r"), "the path without the query");
    }

    #[test]
    fn header_bytes_that_are_not_text_reach_the_checks_as_they_came() {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer a\xffb").unwrap()))
            .insert_header((header::ORIGIN, HeaderValue::from_bytes(b"https://app.test\xff").unwrap()))
            .to_http_request();
        let parts = Request::from_http(&req);
        assert!(matches!(read_authorization(parts.authorization), Err(VerifyError::InvalidRequest(_))));
        let claims = AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            client_id: "c".into(),
            scope: None,
            iat: 0,
            exp: 0,
            jti: "j".into(),
            cnf: None,
            origin: Some("https://app.test".into()),
            groups: None,
        };
        assert_eq!(check_origin(parts.origin, &claims), Err(TokenError::OriginMismatch));
    }

    #[test]
    fn a_refusal_renders_as_the_same_response() {
        let error = VerifyError::insufficient_scope(Scheme::Dpop, "write");
        let response = error.response(Challenge { bearer: true });
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let refusal = error.refusal(Challenge { bearer: true });
        for (name, value) in &refusal.headers {
            let sent: Vec<_> = response.headers().get_all(*name).map(|v| v.to_str().unwrap()).collect();
            assert!(sent.contains(&value.as_str()), "{name}: {value}");
        }
        assert_eq!(error.error_response().headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
        let unavailable = VerifyError::Unavailable("down".into()).response(Challenge::default());
        assert_eq!(unavailable.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }
}
