//! The discovery documents (RFC 7644 §4, RFC 7643 §5-7): what this server supports, its one
//! resource type (User) and the User schema as kept here. They describe no one, so they are
//! served without a token: a connector reads them while it is being set up.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{self, GROUP_SCHEMA, LIST_RESPONSE, RESOURCE_TYPE, SERVICE_PROVIDER_CONFIG, USER_SCHEMA};
use super::users::MAX_COUNT;
use super::{answer, method_not_allowed, BASE_PATH};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ServiceProviderConfig")
            .route(web::get().to(service_provider_config))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ResourceTypes")
            .route(web::get().to(resource_types))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ResourceTypes/{id}")
            .route(web::get().to(resource_type))
            .default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/Schemas").route(web::get().to(schemas)).default_service(web::to(method_not_allowed)))
    .service(
        web::resource("/Schemas/{id}").route(web::get().to(schema_by_id)).default_service(web::to(method_not_allowed)),
    );
}

fn url(state: &AppState, path: &str) -> String {
    state.settings.issuer.endpoint(&format!("{BASE_PATH}{path}"))
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

async fn service_provider_config(state: web::Data<AppState>) -> HttpResponse {
    let config = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_COUNT },
        "changePassword": { "supported": true },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An access token of this provider for the audience <issuer>/scim with the scope scim (client_credentials)",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": url(&state, "/ServiceProviderConfig") },
    });
    answer(HttpResponse::Ok(), &config)
}

fn user_resource_type(state: &AppState) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "meta": { "resourceType": "ResourceType", "location": url(state, "/ResourceTypes/User") },
    })
}

fn group_resource_type(state: &AppState) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": GROUP_SCHEMA,
        "meta": { "resourceType": "ResourceType", "location": url(state, "/ResourceTypes/Group") },
    })
}

async fn resource_types(state: web::Data<AppState>) -> HttpResponse {
    answer(HttpResponse::Ok(), &list(vec![user_resource_type(&state), group_resource_type(&state)]))
}

async fn resource_type(state: web::Data<AppState>, id: web::Path<String>) -> ScimResult {
    match id.as_str() {
        "User" => Ok(answer(HttpResponse::Ok(), &user_resource_type(&state))),
        "Group" => Ok(answer(HttpResponse::Ok(), &group_resource_type(&state))),
        _ => Err(ScimError::not_found()),
    }
}

fn user_schema(state: &AppState) -> Value {
    schema::user_schema(&url(state, &format!("/Schemas/{USER_SCHEMA}")))
}

fn group_schema(state: &AppState) -> Value {
    schema::group_schema(&url(state, &format!("/Schemas/{GROUP_SCHEMA}")))
}

async fn schemas(state: web::Data<AppState>) -> HttpResponse {
    answer(HttpResponse::Ok(), &list(vec![user_schema(&state), group_schema(&state)]))
}

async fn schema_by_id(req: HttpRequest, state: web::Data<AppState>) -> ScimResult {
    let id = req.match_info().get("id").unwrap_or("");
    if id.eq_ignore_ascii_case(USER_SCHEMA) {
        Ok(answer(HttpResponse::Ok(), &user_schema(&state)))
    } else if id.eq_ignore_ascii_case(GROUP_SCHEMA) {
        Ok(answer(HttpResponse::Ok(), &group_schema(&state)))
    } else {
        Err(ScimError::not_found())
    }
}
