//! Grants and tokens (`Area::Grants`): revoke a refresh family, every grant of a user or of a
//! client, an access token by `jti`. Each verb is one call to `services::grants`, which revokes
//! in the hot store every node and resource server reads, and audits in the same transaction as
//! the durable change (`idp grants …` makes the same calls). Answers carry counts.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{caller, Access, Area};
use super::body::{self, JSON};
use super::error::AdminResult;
use crate::services::grants::RevokedToken;
use crate::services::refresh_families::Revoked;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/refresh-families/{family_id}").route(web::delete().to(revoke_family)))
        .service(web::resource("/users/{user_id}/revoke-grants").route(web::post().to(revoke_user)))
        .service(web::resource("/clients/{client_id}/revoke-grants").route(web::post().to(revoke_client)))
        .service(web::resource("/access-tokens/revoke").route(web::post().to(revoke_access_token)));
}

fn counted(revoked: Revoked) -> HttpResponse {
    HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(revoked)
}

/// Revoke a refresh family: its refresh token is refused from now on, and the access tokens
/// issued with it are revoked, as refresh-token reuse does.
#[utoipa::path(delete, path = "/refresh-families/{family_id}", operation_id = "revokeRefreshFamily", tag = "grants",
    params(("family_id" = String, Path)),
    responses(
        (status = 200, description = "Revoked (0 families when it was revoked before)", body = Revoked),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn revoke_family(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Grants, Access::Write).await?;
    Ok(counted(state.grants.revoke_family(&path, &caller.actor).await?))
}

/// Revoke every live grant a user gave, to any client.
#[utoipa::path(post, path = "/users/{user_id}/revoke-grants", operation_id = "revokeUserGrants", tag = "grants",
    params(("user_id" = String, Path)),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn revoke_user(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Grants, Access::Write).await?;
    Ok(counted(state.grants.revoke_user(&path, &caller.actor).await?))
}

/// Revoke every live grant of a client, for every user (also of a client deleted since).
#[utoipa::path(post, path = "/clients/{client_id}/revoke-grants", operation_id = "revokeClientGrants", tag = "grants",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn revoke_client(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Grants, Access::Write).await?;
    Ok(counted(state.grants.revoke_client(&path, &caller.actor).await?))
}

/// `POST /access-tokens/revoke`: which token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevocation {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp` (Unix seconds), if known: the `jti` stays revoked until then. Without
    /// it, for the longest lifetime an access token of this provider may have.
    #[serde(default)]
    pub exp: Option<i64>,
}

/// Revoke an access token by its `jti`: every node and every resource server that reads the
/// shared revoked set refuses it from now on.
#[utoipa::path(post, path = "/access-tokens/revoke", operation_id = "revokeAccessToken", tag = "grants", request_body = TokenRevocation,
    responses(
        (status = 200, description = "Revoked", body = RevokedToken),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn revoke_access_token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Grants, Access::Write).await?;
    let revocation: TokenRevocation = body::parse(&req, &body, JSON)?;
    let revoked = state.grants.revoke_access_token(&revocation.jti, revocation.exp, &caller.actor).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(revoked))
}
