//! `/admin/v1/resource-servers`: the audiences tokens are issued for. A resource server is
//! named in paths by its identifier, percent-encoded (`https%3A%2F%2Fapi.example.com`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{caller, Access, Area};
use super::body::{self, JSON, MERGE_PATCH};
use super::error::AdminResult;
use super::page::{self, PageQuery};
use super::{if_match, with_etag};
use crate::error::Problem;
use crate::services::merge_patch;
use crate::services::registry::{ResourceRegistration, ResourceServer};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/resource-servers").route(web::get().to(list)).route(web::post().to(create))).service(
        web::resource("/resource-servers/{identifier}")
            .route(web::get().to(read))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    );
}

fn shown(resource: &ResourceServer, status: StatusCode) -> HttpResponse {
    with_etag(HttpResponse::build(status), &resource.etag()).json(resource)
}

fn find(state: &AppState, identifier: &str) -> Result<std::sync::Arc<ResourceServer>, Problem> {
    state.registry.resource(identifier).ok_or_else(Problem::not_found)
}

/// Register a resource server.
#[utoipa::path(post, path = "/resource-servers", operation_id = "createResourceServer", tag = "resource servers",
    request_body = ResourceRegistration,
    responses(
        (status = 201, description = "Registered", body = ResourceServer,
            headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 409, response = super::schemas::Conflict),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    let registration: ResourceRegistration = body::parse(&req, &body, JSON)?;
    let resource = state.registry.create_resource(registration, &caller.actor).await?;
    let encoded =
        percent_encoding::utf8_percent_encode(resource.identifier.as_str(), percent_encoding::NON_ALPHANUMERIC);
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, format!("{}/{encoded}", req.path())));
    Ok(with_etag(response, &resource.etag()).json(&resource))
}

/// List resource servers by identifier.
#[utoipa::path(get, path = "/resource-servers", operation_id = "listResourceServers", tag = "resource servers",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of resource servers", body = super::schemas::ResourceServerPage),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> AdminResult {
    caller(&state, &req, Area::Clients, Access::Read).await?;
    let query = PageQuery::from_request(&req)?;
    let limit = query.limit();
    let after: Option<String> = query.after()?;
    // Few enough to live in every node's memory; paged the same way as every listing.
    let items: Vec<_> = state
        .registry
        .resources()
        .into_iter()
        .filter(|r| after.as_deref().is_none_or(|after| r.identifier.as_str() > after))
        .take(limit as usize + 1)
        .map(|r| (*r).clone())
        .collect();
    Ok(page::respond(&req, items, limit, |r| r.identifier.as_str().to_owned()))
}

/// Read a resource server.
#[utoipa::path(get, path = "/resource-servers/{identifier}",
    operation_id = "getResourceServer", tag = "resource servers",
    params(("identifier" = String, Path, example = "https://api.example.com",
        description = "The identifier, percent-encoded (`https%3A%2F%2Fapi.example.com`)")),
    responses(
        (status = 200, description = "The resource server", body = ResourceServer, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn read(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    caller(&state, &req, Area::Clients, Access::Read).await?;
    Ok(shown(&*find(&state, &path)?, StatusCode::OK))
}

/// Replace a resource server's registration; its identifier stays.
#[utoipa::path(put, path = "/resource-servers/{identifier}",
    operation_id = "replaceResourceServer", tag = "resource servers",
    request_body = ResourceRegistration,
    params(("identifier" = String, Path, example = "https://api.example.com",
        description = "The identifier, percent-encoded (`https%3A%2F%2Fapi.example.com`)"),
        ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Replaced", body = ResourceServer, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 412, response = super::schemas::PreconditionFailed),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    let registration: ResourceRegistration = body::parse(&req, &body, JSON)?;
    let resource = state.registry.update_resource(&path, registration, if_match(&req), &caller.actor).await?;
    Ok(shown(&resource, StatusCode::OK))
}

/// Change some members of a resource server (RFC 7396 JSON Merge Patch).
#[utoipa::path(patch, path = "/resource-servers/{identifier}",
    operation_id = "patchResourceServer", tag = "resource servers",
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Members of ResourceRegistration to change"),
    params(("identifier" = String, Path, example = "https://api.example.com",
        description = "The identifier, percent-encoded (`https%3A%2F%2Fapi.example.com`)"),
        ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Changed", body = ResourceServer, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 412, response = super::schemas::PreconditionFailed),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    let patch: serde_json::Value = body::parse(&req, &body, MERGE_PATCH)?;
    let current = find(&state, &path)?;
    let if_match = if_match(&req).or_else(|| Some(current.etag()));
    let registration =
        merge_patch::patched(&current.registration(), patch).map_err(|field| Problem::invalid_fields(vec![field]))?;
    let resource = state.registry.update_resource(&path, registration, if_match, &caller.actor).await?;
    Ok(shown(&resource, StatusCode::OK))
}

/// Delete a resource server no client may still get tokens for.
#[utoipa::path(delete, path = "/resource-servers/{identifier}",
    operation_id = "deleteResourceServer", tag = "resource servers",
    params(("identifier" = String, Path, example = "https://api.example.com",
        description = "The identifier, percent-encoded (`https%3A%2F%2Fapi.example.com`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 409, response = super::schemas::Conflict),
    ))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    if *path == super::auth::audience(&state) {
        return Err(Problem::conflict("the admin API's own resource server stays registered").into());
    }
    state.registry.delete_resource(&path, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}
