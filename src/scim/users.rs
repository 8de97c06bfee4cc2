//! `/Users` (RFC 7644 §3): one call to the users service each, as the admin API makes them.
//!
//! - `POST /Users`: 201 with `Location`, `ETag` and the user;
//! - `GET /Users/{id}` (304 on a matching `If-None-Match`); `GET /Users?filter=…&sortBy=…&
//!   sortOrder=…&startIndex=…&count=…` and `POST /Users/.search` (and `POST /.search`, Users
//!   being the only resource type): a ListResponse;
//! - `PUT` replaces, `PATCH` applies operations; both take `If-Match` (412 when stale) and,
//!   without one, still apply only to the version they were made from;
//! - `DELETE` 204; `active: false` disables the user and revokes their grants.
//!
//! Every answer showing users takes `attributes` or `excludedAttributes`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimResult};
use super::user::{self, Projection, ScimUser};
use super::{answer, auth, filter, method_not_allowed, patch, query, schema, BASE_PATH, MEDIA_TYPE};
use crate::services::users::{PasswordChange, User, UserCondition};
use crate::state::AppState;

/// The most users one page shows (`filter.maxResults` of the ServiceProviderConfig).
pub const MAX_COUNT: i64 = 200;
/// Users per page when `count` is not given.
pub const DEFAULT_COUNT: i64 = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // `.search` before `{id}`, which would otherwise take it.
    cfg.service(
        web::resource("/.search").route(web::post().to(search_all)).default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/Users/.search").route(web::post().to(search)).default_service(web::to(method_not_allowed)))
    .service(
        web::resource("/Users")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(read))
            .route(web::put().to(replace))
            .route(web::patch().to(modify))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

pub(super) fn location(state: &AppState, user: &User) -> String {
    state.settings.issuer.endpoint(&format!("{BASE_PATH}/Users/{}", user.user_id))
}

/// The query's parameters, by name (the first of a repeated one).
pub(super) fn query_parameters(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).map(|(n, v)| (n.into_owned(), v.into_owned())).collect()
}

pub(super) fn parameter<'a>(parameters: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parameters.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `attributes` / `excludedAttributes` of the query.
pub(super) fn projection(req: &HttpRequest) -> ScimResult<Projection> {
    let parameters = query_parameters(req);
    Projection::parse(parameter(&parameters, "attributes"), parameter(&parameters, "excludedAttributes"))
}

/// The user as an answer with its `ETag`, showing what `projection` asks for.
fn shown(state: &AppState, user: &User, status: StatusCode, projection: &Projection) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
        response.insert_header((header::ETAG, etag));
    }
    answer(response, &projection.apply(user::resource(user, &location(state, user))))
}

/// The request body as a JSON object, sent as SCIM (or plain) JSON.
pub(super) fn json_body(req: &HttpRequest, body: &[u8]) -> ScimResult<Map<String, Value>> {
    let sent = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = sent.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !essence.is_empty() && essence != MEDIA_TYPE && essence != "application/json" {
        return Err(ScimError::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send {MEDIA_TYPE} (or application/json)"),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(members)) => Ok(members),
        Ok(_) => Err(ScimError::invalid_syntax("the body must be a JSON object")),
        Err(_) => Err(ScimError::invalid_syntax("the body is not valid JSON")),
    }
}

pub(super) fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers().get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Whether an `If-None-Match` / `If-Match` list names `etag` (weak or strong, or `*`).
pub(super) fn names(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

pub(super) async fn find(state: &AppState, id: &str) -> ScimResult<User> {
    state.users.find(id).await?.ok_or_else(ScimError::not_found)
}

async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let new = ScimUser::read(&json_body(&req, &body)?)?.into_new_user()?;
    let user = state.users.create(new, &caller.actor).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, location(&state, &user)));
    if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
        response.insert_header((header::ETAG, etag));
    }
    Ok(answer(response, &projection.apply(user::resource(&user, &location(&state, &user)))))
}

async fn read(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> ScimResult {
    auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let user = find(&state, &id).await?;
    let unchanged = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if unchanged.is_some_and(|list| names(list, &user.etag())) {
        let mut response = HttpResponse::NotModified();
        if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
            response.insert_header((header::ETAG, etag));
        }
        return Ok(response.finish());
    }
    Ok(shown(&state, &user, StatusCode::OK, &projection))
}

async fn replace(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let body = ScimUser::read(&json_body(&req, &body)?)?;
    let current = find(&state, &id).await?;
    // Without If-Match the change still applies only to the version it was made from.
    let precondition = if_match(&req).or_else(|| Some(current.etag()));
    let update = body.into_update(&current, PasswordChange::Keep)?;
    let (user, _) = state.users.update(&id, update, precondition, &caller.actor).await?;
    Ok(shown(&state, &user, StatusCode::OK, &projection))
}

async fn modify(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let operations = patch::read(&Value::Object(json_body(&req, &body)?))?;
    let current = find(&state, &id).await?;
    let precondition = if_match(&req).or_else(|| Some(current.etag()));
    let patched = patch::apply(&schema::USER, user::attributes(&current), operations)?;
    let update = ScimUser::read_attributes(&patched.attributes)?.into_update(&current, patched.password)?;
    let (user, _) = state.users.update(&id, update, precondition, &caller.actor).await?;
    Ok(shown(&state, &user, StatusCode::OK, &projection))
}

async fn delete(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    if let Some(list) = if_match(&req) {
        let current = find(&state, &id).await?;
        if !names(&list, &current.etag()) {
            return Err(ScimError::precondition_failed());
        }
    }
    state.users.delete(&id, &caller.actor).await?;
    Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}

/// A query, from the URL's parameters or a SearchRequest body (RFC 7644 §3.4.2, §3.4.3).
#[derive(Debug, Default)]
pub(super) struct Search {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub projection: Projection,
}

fn integer(name: &str, text: &str) -> ScimResult<i64> {
    text.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
}

impl Search {
    /// `?filter=&sortBy=&sortOrder=&startIndex=&count=&attributes=&excludedAttributes=`.
    pub fn from_query(req: &HttpRequest) -> ScimResult<Self> {
        let parameters = query_parameters(req);
        let get = |name: &str| parameter(&parameters, name);
        Ok(Self {
            filter: get("filter").map(str::to_owned),
            sort_by: get("sortBy").map(str::to_owned),
            sort_order: get("sortOrder").map(str::to_owned),
            start_index: get("startIndex").map(|t| integer("startIndex", t)).transpose()?,
            count: get("count").map(|t| integer("count", t)).transpose()?,
            projection: Projection::parse(get("attributes"), get("excludedAttributes"))?,
        })
    }

    /// A SearchRequest body (`POST …/.search`).
    pub fn from_body(req: &HttpRequest, body: &[u8]) -> ScimResult<Self> {
        let body = json_body(req, body)?;
        let member = |name: &str| body.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let names_search = member("schemas").and_then(Value::as_array).is_some_and(|list| {
            list.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema::SEARCH_REQUEST)))
        });
        if !names_search {
            return Err(ScimError::invalid_syntax(format!("schemas must list {}", schema::SEARCH_REQUEST)));
        }
        let text = |name: &str| -> ScimResult<Option<String>> {
            match member(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
            }
        };
        let number = |name: &str| -> ScimResult<Option<i64>> {
            match member(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => {
                    n.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer")))
                }
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be an integer"))),
            }
        };
        let list = |name: &str| -> ScimResult<Option<String>> {
            match member(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => {
                    let items: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    let items = items.ok_or_else(|| ScimError::invalid_value(format!("{name} must list strings")))?;
                    Ok(Some(items.join(",")))
                }
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must list strings"))),
            }
        };
        Ok(Self {
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            start_index: number("startIndex")?,
            count: number("count")?,
            projection: Projection::parse(list("attributes")?.as_deref(), list("excludedAttributes")?.as_deref())?,
        })
    }

    /// `sortOrder`: whether descending.
    pub fn descending(&self) -> ScimResult<bool> {
        match self.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => Ok(false),
            Some("descending") => Ok(true),
            Some(_) => Err(ScimError::invalid_value("sortOrder must be ascending or descending")),
        }
    }

    /// `startIndex` (1-based, less is 1) and `count` (0 to [`MAX_COUNT`]).
    pub fn window(&self) -> (i64, i64) {
        let start_index = self.start_index.unwrap_or(1).clamp(1, i64::from(i32::MAX));
        (start_index, self.count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT))
    }
}

/// A ListResponse.
pub(super) fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> HttpResponse {
    let body = json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    });
    answer(HttpResponse::Ok(), &body)
}

/// `POST /.search` across resource types is not supported (RFC 7644 §3.4.3 lets a server
/// answer 501): a connector searches `/Users/.search` or `/Groups/.search`.
async fn search_all(req: HttpRequest, state: web::Data<AppState>) -> ScimResult {
    auth::caller(&state, &req).await?;
    Err(ScimError::plain(
        StatusCode::NOT_IMPLEMENTED,
        "search one resource type at a time: POST /Users/.search or /Groups/.search",
    ))
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> ScimResult {
    auth::caller(&state, &req).await?;
    respond(&state, Search::from_query(&req)?).await
}

async fn search(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ScimResult {
    auth::caller(&state, &req).await?;
    respond(&state, Search::from_body(&req, &body)?).await
}

/// The ListResponse of a search (RFC 7644 §3.4.2): `startIndex` is 1-based (less is 1), `count`
/// at most [`MAX_COUNT`] (negative is 0: only `totalResults`).
async fn respond(state: &AppState, search: Search) -> ScimResult {
    let condition = match search.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(text) => query::condition(&filter::parse(text).map_err(|e| ScimError::invalid_filter(e.0))?)?,
        None => UserCondition::Always,
    };
    let descending = search.descending()?;
    let order = match search.sort_by.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(text) => {
            let path = filter::parse_attr_path(text).map_err(|e| ScimError::invalid_value(e.0))?;
            Some((query::sort(&path)?, descending))
        }
        None => None,
    };
    let (start_index, count) = search.window();
    let (total, users) = state.users.search(condition, order, start_index - 1, count).await?;
    let resources: Vec<Value> =
        users.iter().map(|u| search.projection.apply(user::resource(u, &location(state, u)))).collect();
    Ok(list_response(total, start_index, resources))
}
