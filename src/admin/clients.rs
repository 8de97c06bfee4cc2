//! `/admin/v1/clients`: register, read, list, replace, patch, enable/disable, delete, rotate a
//! secret. Each verb is one call to the registry service, which validates, audits in the same
//! transaction and announces the change to every node (the CLI makes the same calls).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{caller, Access, Area};
use super::body::{self, JSON, MERGE_PATCH};
use super::error::AdminResult;
use super::page::{self, PageQuery};
use super::{if_match, with_etag};
use crate::error::{FieldError, Problem};
use crate::services::merge_patch;
use crate::services::registry::{Client, ClientMetadata, ClientRegistration};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/clients").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/clients/{client_id}")
                .route(web::get().to(read))
                .route(web::put().to(replace))
                .route(web::patch().to(patch))
                .route(web::delete().to(delete)),
        )
        .service(web::resource("/clients/{client_id}/enable").route(web::post().to(enable)))
        .service(web::resource("/clients/{client_id}/disable").route(web::post().to(disable)))
        .service(web::resource("/clients/{client_id}/secrets").route(web::post().to(rotate_secret)));
}

fn shown(client: &Client, metadata: ClientMetadata, status: actix_web::http::StatusCode) -> HttpResponse {
    with_etag(HttpResponse::build(status), &client.etag()).json(metadata)
}

/// Register a client. A secret-based client's secret is in this answer only.
#[utoipa::path(post, path = "/clients", operation_id = "createClient", tag = "clients",
    request_body = ClientRegistration,
    responses(
        (status = 201, description = "Registered", body = ClientMetadata,
            headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    let registration: ClientRegistration = body::parse(&req, &body, JSON)?;
    let (client, secret) = state.registry.create_client(registration, &caller.actor).await?;
    let location = format!("{}/{}", req.path(), client.id);
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, location)).insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(with_etag(response, &client.etag()).json(client.metadata(secret.as_ref())))
}

/// List clients by id.
#[utoipa::path(get, path = "/clients", operation_id = "listClients", tag = "clients", params(PageQuery),
    responses(
        (status = 200, description = "A page of clients", body = super::schemas::ClientPage),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> AdminResult {
    caller(&state, &req, Area::Clients, Access::Read).await?;
    let query = PageQuery::from_request(&req)?;
    let limit = query.limit();
    let after: Option<String> = query.after()?;
    let clients = state.registry.clients_page(after, limit + 1).await?;
    let items: Vec<ClientMetadata> = clients.iter().map(|c| c.metadata(None)).collect();
    Ok(page::respond(&req, items, limit, |c| c.client_id.clone()))
}

/// Read a client.
#[utoipa::path(get, path = "/clients/{client_id}", operation_id = "getClient", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, description = "The client", body = ClientMetadata, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn read(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    caller(&state, &req, Area::Clients, Access::Read).await?;
    let client = state.registry.load_client(&path).await?;
    Ok(shown(&client, client.metadata(None), actix_web::http::StatusCode::OK))
}

/// Replace a client's registration (`If-Match` makes it conditional). Its id and secrets stay.
#[utoipa::path(put, path = "/clients/{client_id}", operation_id = "replaceClient", tag = "clients",
    request_body = ClientRegistration,
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Replaced", body = ClientMetadata, headers(("ETag" = String))),
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
    let registration: ClientRegistration = body::parse(&req, &body, JSON)?;
    let (client, secret) = state.registry.update_client(&path, registration, if_match(&req), &caller.actor).await?;
    Ok(shown(&client, client.metadata(secret.as_ref()), actix_web::http::StatusCode::OK))
}

/// Change some members of a client's registration (RFC 7396 JSON Merge Patch).
#[utoipa::path(patch, path = "/clients/{client_id}", operation_id = "patchClient", tag = "clients",
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Members of ClientRegistration to change; null removes an optional one"),
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Changed", body = ClientMetadata, headers(("ETag" = String))),
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
    let current = state.registry.load_client(&path).await?;
    // The patch applies to the representation it was read as; the service checks that it is
    // still current, so a patch never lands on a client another change has moved on from.
    let if_match = if_match(&req).or_else(|| Some(current.etag()));
    let registration =
        merge_patch::patched(&current.registration(), patch).map_err(|field| Problem::invalid_fields(vec![field]))?;
    let (client, secret) = state.registry.update_client(&path, registration, if_match, &caller.actor).await?;
    Ok(shown(&client, client.metadata(secret.as_ref()), actix_web::http::StatusCode::OK))
}

/// Delete a client: its secrets go with it, and it can no longer authenticate.
#[utoipa::path(delete, path = "/clients/{client_id}", operation_id = "deleteClient", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    state.registry.delete_client(&path, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Enable a client.
#[utoipa::path(post, path = "/clients/{client_id}/enable", operation_id = "enableClient", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, description = "Enabled", body = ClientMetadata, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn enable(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    set_enabled(req, state, path, true).await
}

/// Disable a client: it can no longer authenticate or use its grants, on every node at once.
#[utoipa::path(post, path = "/clients/{client_id}/disable", operation_id = "disableClient", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, description = "Disabled", body = ClientMetadata, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn disable(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    set_enabled(req, state, path, false).await
}

async fn set_enabled(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>, on: bool) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    let client = state.registry.set_enabled(&path, on, &caller.actor).await?;
    Ok(shown(&client, client.metadata(None), actix_web::http::StatusCode::OK))
}

/// `POST /clients/{id}/secrets`: the body of a secret rotation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// How long the previous secrets stay valid: seconds or text such as `1h` (default 0,
    /// at most 30 days), so a fleet can pick up the new one before the old one stops working.
    #[serde(default)]
    #[schema(schema_with = overlap_schema)]
    pub overlap: Option<serde_json::Value>,
}

/// `overlap` as [`parse_seconds`] reads it: whole seconds (the service allows up to 30 days),
/// humantime text, or null for the default.
fn overlap_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(30 * 86_400)))
        .item(ObjectBuilder::new().schema_type(Type::String).examples([serde_json::json!("1h")]))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "How long the previous secrets stay valid: whole seconds or text such as `1h` (default 0, at most \
             30 days)",
        ))
        .build()
        .into()
}

/// The new secret, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedSecret {
    pub client_secret: String,
    /// Seconds since the epoch at which the previous secrets stop working.
    pub previous_secrets_expire_at: i64,
}

/// Issue a new secret; the previous ones keep working for `overlap`.
#[utoipa::path(post, path = "/clients/{client_id}/secrets", operation_id = "rotateClientSecret", tag = "clients",
    request_body(content = Option<SecretRotation>, description = "Optional: no body (or `null`) is `{}`"),
    params(("client_id" = String, Path)),
    responses(
        (status = 201, description = "Issued", body = IssuedSecret),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Clients, Access::Write).await?;
    // No body, or JSON `null`, asks for the defaults (the document's optional, nullable body).
    let rotation: SecretRotation = match body.is_empty() {
        true => SecretRotation::default(),
        false => body::parse::<Option<SecretRotation>>(&req, &body, JSON)?.unwrap_or_default(),
    };
    let overlap = match &rotation.overlap {
        None => 0,
        Some(value) => parse_seconds(value).ok_or_else(|| {
            Problem::invalid_fields(vec![FieldError::new(
                "overlap",
                "a duration: whole seconds or text such as \"1h\"",
            )])
        })?,
    };
    let secret = state.registry.rotate_secret(&path, overlap, &caller.actor).await?;
    let issued = IssuedSecret {
        client_secret: secret.expose().to_owned(),
        previous_secrets_expire_at: state.clock.now() + overlap,
    };
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(issued))
}

/// A duration as settings write one: whole seconds, or humantime text (`90s`, `1h`, `7d`).
pub fn parse_seconds(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
        serde_json::Value::String(text) => {
            humantime::parse_duration(text.trim()).ok().and_then(|d| i64::try_from(d.as_secs()).ok())
        }
        _ => None,
    }
}
