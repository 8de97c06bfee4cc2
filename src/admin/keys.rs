//! Signing keys (`Area::Keys`): list them with their state, rotate (on schedule's terms, or
//! at once in an emergency), retire one early. Each change is one call to the keyring service,
//! which writes it with its audit row in one transaction and announces it on the keys channel,
//! so every node signs and publishes the same keys within a moment (`idp keys` makes the same
//! calls).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::{caller, Access, Area};
use super::body::{self, JSON};
use super::error::AdminResult;
use crate::error::Problem;
use crate::services::keys::{PublishedKey, Retirement, Rotation, RotationOutcome};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/keys").route(web::get().to(list)))
        .service(web::resource("/keys/rotate").route(web::post().to(rotate)))
        .service(web::resource("/keys/{kid}/retire").route(web::post().to(retire)));
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.insert_header(("cache-control", "no-store"));
    response
}

/// The published keys: few, so one page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub items: Vec<PublishedKey>,
}

/// List the keys in the JWKS with their state.
#[utoipa::path(get, path = "/keys", operation_id = "listKeys", tag = "keys",
    responses(
        (status = 200, description = "The published keys", body = KeyList),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> AdminResult {
    caller(&state, &req, Area::Keys, Access::Read).await?;
    Ok(no_store().json(KeyList { items: state.keyring.published() }))
}

/// `POST /keys/rotate`: which algorithms, and whether it is an emergency.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// ES256, RS256 or EdDSA; none means all.
    #[serde(default)]
    pub algs: Vec<String>,
    /// The successor signs at once (a published `next` key is promoted, else one is made); the
    /// old key stays published until the tokens it signed have expired. Without it, a
    /// successor is published and signs after the publish window.
    #[serde(default)]
    pub now: bool,
    /// With `now`: the old key leaves the JWKS at once, and its tokens stop verifying.
    #[serde(default)]
    pub revoke: bool,
}

/// What a rotation did, per algorithm.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotationResult {
    pub rotated: Vec<RotationOutcome>,
}

/// Rotate the signing keys.
#[utoipa::path(post, path = "/keys/rotate", operation_id = "rotateKeys", tag = "keys", request_body(content = Option<RotationRequest>,
        description = "Optional; without a body every algorithm is rotated on the publish window's terms"),
    responses(
        (status = 200, description = "Rotated", body = RotationResult),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 409, response = super::schemas::Conflict),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn rotate(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Keys, Access::Write).await?;
    let request: RotationRequest =
        if body.is_empty() { RotationRequest::default() } else { body::parse(&req, &body, JSON)? };
    let rotation = Rotation::parse(&request.algs, request.now, request.revoke)
        .map_err(|field| Problem::invalid_fields(vec![field]))?;
    let rotated = state.keyring.rotate(rotation, &caller.actor).await?;
    Ok(no_store().json(RotationResult { rotated }))
}

/// `POST /keys/{kid}/retire`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireRequest {
    /// Leave the JWKS at once: the tokens the key signed stop verifying.
    #[serde(default)]
    pub force: bool,
}

/// Retire a key early: an active key stops signing (its successor signs at once) and leaves
/// the JWKS once nothing it signed can still be valid, or at once with `force`.
#[utoipa::path(post, path = "/keys/{kid}/retire", operation_id = "retireKey", tag = "keys", params(("kid" = String, Path)),
    request_body(content = Option<RetireRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Retired", body = Retirement),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 409, response = super::schemas::Conflict),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn retire(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Keys, Access::Write).await?;
    let request: RetireRequest =
        if body.is_empty() { RetireRequest::default() } else { body::parse(&req, &body, JSON)? };
    let retired = state.keyring.retire(&path, request.force, &caller.actor).await?;
    Ok(no_store().json(retired))
}
