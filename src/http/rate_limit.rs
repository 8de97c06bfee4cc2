//! The abuse limits at the edges (docs/security.md "Rate limits"): a request over its limit
//! is answered 429 with `Retry-After`, `RateLimit-Policy` and `RateLimit`, counted nowhere
//! else, and audited within the refusal budget.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages;
use crate::error::{OAuthError, RateLimited, RATELIMIT, RATELIMIT_POLICY};
use crate::services::rate_limits::{Limit, OverLimit};
use crate::state::AppState;

/// What the 429 carries.
pub fn fields(over: &OverLimit) -> RateLimited {
    RateLimited {
        retry_after_seconds: over.retry_after_seconds(),
        policy: over.policy_field(),
        limit: over.limit_field(),
    }
}

/// Audits a request refused by `over` (within the per-second refusal budget).
pub fn audit(state: &AppState, req: &HttpRequest, over: &OverLimit, client_id: Option<&str>) {
    let mut event = super::request_meta(req).event(state.clock.now(), "rate.limited", "refused");
    event.client_id = client_id.map(str::to_owned);
    event.detail = Some(serde_json::json!({ "limit": over.limit.name(), "endpoint": req.path() }).to_string());
    state.audit.record_refusal(event);
}

/// Counts one request of an authenticated client against `limit`.
pub async fn admit_client(
    state: &AppState,
    req: &HttpRequest,
    limit: Limit,
    client_id: &str,
) -> Result<(), OAuthError> {
    match state.rate_limits.admit(limit, client_id).await {
        Ok(None) => Ok(()),
        Ok(Some(over)) => {
            audit(state, req, &over, Some(client_id));
            Err(OAuthError::rate_limited(fields(&over)))
        }
        Err(e) => Err(OAuthError::unavailable(e)),
    }
}

/// The middleware of the browser pages (`/authorize`, `/login`, `/consent`, `/logout`): each
/// request counts against its client address's `rate_limits.pages`; over it, the error page,
/// before the handler stores anything (a session, an interaction) for the request.
pub async fn pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = match req.app_data::<web::Data<AppState>>() {
        Some(state) => admit_page(state, req.request()).await.err(),
        None => None,
    };
    match refused {
        Some(page) => Ok(req.into_response(page).map_into_right_body()),
        None => next.call(req).await.map(ServiceResponse::map_into_left_body),
    }
}

async fn admit_page(state: &AppState, req: &HttpRequest) -> Result<(), HttpResponse> {
    let Some(address) = super::client_address(req) else { return Ok(()) };
    match state.rate_limits.admit(Limit::Pages, &address.to_string()).await {
        Ok(None) => Ok(()),
        Ok(Some(over)) => {
            audit(state, req, &over, None);
            Err(too_many_requests_page(&over))
        }
        Err(e) => {
            tracing::error!(error = %e, "rate limit unavailable");
            Err(pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::UNAVAILABLE_TITLE,
                pages::UNAVAILABLE_MESSAGE,
            ))
        }
    }
}

/// The error page of a 429, with the limit's headers.
pub fn too_many_requests_page(over: &OverLimit) -> HttpResponse {
    let wait = over.retry_after_seconds();
    let message = format!("Too many requests from your network. Try again in {wait} seconds.");
    let mut page = pages::error_page(StatusCode::TOO_MANY_REQUESTS, "Slow down", &message);
    insert_headers(&mut page, over);
    page
}

fn insert_headers(response: &mut HttpResponse, over: &OverLimit) {
    let limited = fields(over);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(limited.retry_after_seconds));
    for (name, value) in [(RATELIMIT_POLICY, limited.policy), (RATELIMIT, limited.limit)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
