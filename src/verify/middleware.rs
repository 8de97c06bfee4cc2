//! actix-web glue: a middleware for `actix_web::middleware::from_fn` that verifies every request
//! of a scope, and an extractor that hands handlers the [`VerifiedAccess`]. Both find the
//! [`Verifier`] in app data as `web::Data<Verifier>`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::{VerifiedAccess, Verifier};

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
