//! `/Groups` (RFC 7643 §4.2, RFC 7644 §3) over the groups service the admin API and the CLI
//! use: create (with members), read, list, replace, PATCH (members added and removed, by value
//! or by a value filter such as `members[value eq "<user id>"]`), delete.
//!
//! | SCIM | group |
//! |---|---|
//! | `id` | `group_id` |
//! | `displayName` | `name` (unique, kept as sent: the value of the `groups` claim) |
//! | `externalId` | `external_id` |
//! | `members[].value` | a member's user id; `$ref` is their `/Users/{id}`, `type` is `User` |
//!
//! Groups are fewer than users: a list or a filter reads them all (at most [`MAX_GROUPS`],
//! beyond which a filter is refused with `tooMany`) and filters in memory, by the same
//! grammar, with `displayName` compared without case and `id`, `externalId` and member ids
//! with it.

use std::cmp::Ordering;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimResult, ScimType};
use super::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use super::query::parse_instant;
use super::schema::{self, GROUP_SCHEMA};
use super::user::{timestamp, Projection};
use super::users::{if_match, json_body, list_response, names, projection, Search};
use super::{answer, auth, method_not_allowed, patch, BASE_PATH};
use crate::services::groups::{Group, GroupChange, GroupError};
use crate::state::AppState;

/// The most groups a list or a filter reads.
pub const MAX_GROUPS: i64 = 10_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Groups/.search").route(web::post().to(search)).default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups/{id}")
            .route(web::get().to(read))
            .route(web::put().to(replace))
            .route(web::patch().to(modify))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

impl From<GroupError> for ScimError {
    fn from(error: GroupError) -> Self {
        match error {
            GroupError::Invalid(field) => {
                let attribute = match field.field.as_str() {
                    "name" => "displayName",
                    "external_id" => "externalId",
                    other => other,
                };
                Self::invalid_value(format!("{attribute}: {}", field.message))
            }
            GroupError::Conflict => Self::Status {
                status: StatusCode::CONFLICT,
                scim_type: Some(ScimType::Uniqueness),
                detail: "a group with this displayName already exists".into(),
            },
            GroupError::NotFound => Self::not_found(),
            GroupError::NoSuchUser => Self::invalid_value("members: a value is no user's id"),
            GroupError::Stale => Self::precondition_failed(),
            GroupError::Store(e) => Self::Unavailable(e.to_string()),
        }
    }
}

fn location(state: &AppState, group: &Group) -> String {
    state.settings.issuer.endpoint(&format!("{BASE_PATH}/Groups/{}", group.group_id))
}

fn user_location(state: &AppState, user_id: &str) -> String {
    state.settings.issuer.endpoint(&format!("{BASE_PATH}/Users/{user_id}"))
}

/// The group's attributes as SCIM names them (what a PATCH applies to); `members` when known.
fn attributes(state: &AppState, group: &Group, members: Option<&[String]>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(external_id) = &group.external_id {
        out.insert("externalId".into(), json!(external_id));
    }
    out.insert("displayName".into(), json!(group.name));
    if let Some(members) = members.filter(|m| !m.is_empty()) {
        let members: Vec<Value> =
            members.iter().map(|id| json!({ "value": id, "$ref": user_location(state, id), "type": "User" })).collect();
        out.insert("members".into(), Value::Array(members));
    }
    out
}

fn resource(state: &AppState, group: &Group, members: Option<&[String]>) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP_SCHEMA]));
    out.insert("id".into(), json!(group.group_id));
    out.extend(attributes(state, group, members));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": timestamp(group.created_at),
            "lastModified": timestamp(group.updated_at),
            "location": location(state, group),
            "version": group.etag(),
        }),
    );
    Value::Object(out)
}

/// Whether an answer with `projection` shows members (they are read only then).
fn shows_members(projection: &Projection) -> bool {
    projection.apply(json!({ "members": [{ "value": "x" }] })).get("members").is_some()
}

async fn members_if_shown(state: &AppState, group: &Group, projection: &Projection) -> ScimResult<Option<Vec<String>>> {
    match shows_members(projection) {
        true => Ok(Some(state.groups.member_ids(&group.group_id).await?)),
        false => Ok(None),
    }
}

async fn shown(state: &AppState, group: &Group, status: StatusCode, projection: &Projection) -> ScimResult {
    let members = members_if_shown(state, group, projection).await?;
    let mut response = HttpResponse::build(status);
    if let Ok(etag) = HeaderValue::from_str(&group.etag()) {
        response.insert_header((header::ETAG, etag));
    }
    if status == StatusCode::CREATED {
        response.insert_header((header::LOCATION, location(state, group)));
    }
    Ok(answer(response, &projection.apply(resource(state, group, members.as_deref()))))
}

/// A Group body as read: its name, external id and member ids (RFC 7643 §4.2).
fn read_group(body: &Map<String, Value>, check_schema: bool) -> ScimResult<GroupChange> {
    let member = |name: &str| body.iter().find(|(k, _)| super::user::member_name(k).as_deref() == Some(name));
    if check_schema {
        let names_group = body
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .and_then(|(_, v)| v.as_array())
            .is_some_and(|l| l.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(GROUP_SCHEMA))));
        if !names_group {
            return Err(ScimError::invalid_syntax(format!("schemas must list {GROUP_SCHEMA}")));
        }
    }
    let text = |name: &str, attribute: &str| -> ScimResult<Option<String>> {
        match member(name) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some(_) => Err(ScimError::invalid_value(format!("{attribute} must be a string"))),
        }
    };
    let name =
        text("displayname", "displayName")?.ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let external_id = text("externalid", "externalId")?;
    let mut members = Vec::new();
    match member("members").map(|(_, v)| v) {
        None | Some(Value::Null) => {}
        Some(Value::Array(values)) => {
            for value in values {
                let Some(entry) = value.as_object() else {
                    return Err(ScimError::invalid_value("members must be a list of {\"value\": \"<user id>\"}"));
                };
                let field = |name: &str| entry.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
                let Some(Value::String(id)) = field("value") else {
                    return Err(ScimError::invalid_value("a member needs a value: a user's id"));
                };
                if field("type").and_then(Value::as_str).is_some_and(|t| !t.eq_ignore_ascii_case("User")) {
                    return Err(ScimError::invalid_value("members are users: groups do not nest"));
                }
                if !members.contains(id) {
                    members.push(id.clone());
                }
            }
        }
        Some(_) => return Err(ScimError::invalid_value("members must be a list")),
    }
    Ok(GroupChange { name, external_id, members: Some(members) })
}

async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let change = read_group(&json_body(&req, &body)?, true)?;
    let group = state.groups.provision(change, &caller.actor).await?;
    shown(&state, &group, StatusCode::CREATED, &projection).await
}

async fn read(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> ScimResult {
    auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let group = state.groups.find(&id).await?;
    let unchanged = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if unchanged.is_some_and(|list| names(list, &group.etag())) {
        return Ok(HttpResponse::NotModified().finish());
    }
    shown(&state, &group, StatusCode::OK, &projection).await
}

async fn replace(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let change = read_group(&json_body(&req, &body)?, true)?;
    let current = state.groups.find(&id).await?;
    let precondition = if_match(&req).or_else(|| Some(current.etag()));
    let group = state.groups.replace(&id, change, precondition, &caller.actor).await?;
    shown(&state, &group, StatusCode::OK, &projection).await
}

async fn modify(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, body: web::Bytes) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    let projection = projection(&req)?;
    let operations = patch::read(&Value::Object(json_body(&req, &body)?))?;
    let current = state.groups.find(&id).await?;
    let precondition = if_match(&req).or_else(|| Some(current.etag()));
    let members = state.groups.member_ids(&id).await?;
    let patched = patch::apply(&schema::GROUP, attributes(&state, &current, Some(&members)), operations)?;
    let change = read_group(&patched.attributes, false)?;
    let group = state.groups.replace(&id, change, precondition, &caller.actor).await?;
    shown(&state, &group, StatusCode::OK, &projection).await
}

async fn delete(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> ScimResult {
    let caller = auth::caller(&state, &req).await?;
    if let Some(list) = if_match(&req) {
        let current = state.groups.find(&id).await?;
        if !names(&list, &current.etag()) {
            return Err(ScimError::precondition_failed());
        }
    }
    state.groups.delete(&id, &caller.actor).await?;
    Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> ScimResult {
    auth::caller(&state, &req).await?;
    respond(&state, Search::from_query(&req)?).await
}

async fn search(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ScimResult {
    auth::caller(&state, &req).await?;
    respond(&state, Search::from_body(&req, &body)?).await
}

/// What a group attribute path is, for filtering and sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    ExternalId,
    DisplayName,
    Created,
    Modified,
    ResourceType,
    /// A member's `value`, `$ref` or `type` (or `members` compared directly: its value).
    Member(&'static str),
    /// `members` with `pr`, or `meta`.
    Complex,
}

fn field(path: &AttrPath, within_members: bool) -> ScimResult<Field> {
    if path.uri.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(GROUP_SCHEMA)) {
        return Err(ScimError::invalid_filter(format!("`{path}`: only attributes of {GROUP_SCHEMA}")));
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    let (name, sub) = match within_members {
        true if sub.is_none() => ("members".to_owned(), Some(name)),
        true => return Err(ScimError::invalid_filter(format!("`{path}`: a value filter names sub-attributes"))),
        false => (name, sub),
    };
    Ok(match (name.as_str(), sub.as_deref()) {
        ("id", None) => Field::Id,
        ("externalid", None) => Field::ExternalId,
        ("displayname", None) => Field::DisplayName,
        ("members", Some("value")) => Field::Member("value"),
        ("members", Some("$ref")) => Field::Member("$ref"),
        ("members", Some("type")) => Field::Member("type"),
        ("members", None) if !within_members => Field::Complex,
        ("meta", None) => Field::Complex,
        ("meta", Some("created")) => Field::Created,
        ("meta", Some("lastmodified")) => Field::Modified,
        ("meta", Some("resourcetype")) => Field::ResourceType,
        _ => return Err(ScimError::invalid_filter(format!("`{path}` is not an attribute groups can be searched by"))),
    })
}

/// Checks every path and operator of a filter before any group is read.
fn check(filter: &Filter, within_members: bool) -> ScimResult<bool> {
    Ok(match filter {
        Filter::And(a, b) | Filter::Or(a, b) => check(a, within_members)? | check(b, within_members)?,
        Filter::Not(inner) => check(inner, within_members)?,
        Filter::ValuePath { path, filter } => {
            if within_members || !path.name.eq_ignore_ascii_case("members") || path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!("`{path}[…]`: members is the multi-valued attribute")));
            }
            check(filter, true)?;
            true
        }
        Filter::Present(path) => matches!(field(path, within_members)?, Field::Member(_) | Field::Complex),
        Filter::Compare { path, op, value } => {
            let field = field(path, within_members)?;
            let date = matches!(field, Field::Created | Field::Modified);
            match (field, value) {
                (Field::Complex, _) => {
                    return Err(ScimError::invalid_filter(format!("`{path}` is complex: name a sub-attribute")))
                }
                (_, CompValue::Null) if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                    return Err(ScimError::invalid_filter("null compares with eq and ne only"))
                }
                (_, CompValue::Null) => {}
                (_, CompValue::String(text)) if date => {
                    if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                        return Err(ScimError::invalid_filter(format!(
                            "`{path}` is a dateTime: `{}` does not apply",
                            op.as_str()
                        )));
                    }
                    if parse_instant(text).is_none() {
                        return Err(ScimError::invalid_filter(format!("`{text}` is not an RFC 3339 date and time")));
                    }
                }
                (_, CompValue::String(_)) => {}
                _ => {
                    return Err(ScimError::invalid_filter(format!(
                        "`{path}` is a string: compare it with a \"string\""
                    )))
                }
            }
            within_members || matches!(field, Field::Member(_))
        }
    })
}

/// The group's values at `field` (a member field: each member's).
fn values(field: Field, group: &Group, members: &[String], state: &AppState) -> Vec<(String, bool)> {
    // (text, compared with case)
    match field {
        Field::Id => vec![(group.group_id.clone(), true)],
        Field::ExternalId => group.external_id.iter().map(|e| (e.clone(), true)).collect(),
        Field::DisplayName => vec![(group.name.clone(), false)],
        Field::Created => vec![(timestamp(group.created_at), true)],
        Field::Modified => vec![(timestamp(group.updated_at), true)],
        Field::ResourceType => vec![("Group".to_owned(), false)],
        Field::Member("value") => members.iter().map(|m| (m.clone(), true)).collect(),
        Field::Member("$ref") => members.iter().map(|m| (user_location(state, m), true)).collect(),
        Field::Member(_) => members.iter().map(|_| ("User".to_owned(), false)).collect(),
        Field::Complex => Vec::new(),
    }
}

fn compare(have: &str, op: CompareOp, want: &str, exact: bool, date: bool) -> bool {
    if date {
        let (Some(have), Some(want)) = (parse_instant(have), parse_instant(want)) else { return false };
        return match op {
            CompareOp::Eq => have == want,
            CompareOp::Ne => have != want,
            CompareOp::Gt => have > want,
            CompareOp::Ge => have >= want,
            CompareOp::Lt => have < want,
            CompareOp::Le => have <= want,
            _ => false,
        };
    }
    let (have, want) = match exact {
        true => (have.to_owned(), want.to_owned()),
        false => (have.to_lowercase(), want.to_lowercase()),
    };
    match op {
        CompareOp::Eq => have == want,
        CompareOp::Ne => have != want,
        CompareOp::Co => have.contains(&want),
        CompareOp::Sw => have.starts_with(&want),
        CompareOp::Ew => have.ends_with(&want),
        CompareOp::Gt => have > want,
        CompareOp::Ge => have >= want,
        CompareOp::Lt => have < want,
        CompareOp::Le => have <= want,
    }
}

/// Whether a (checked) filter holds for a group with `members`.
fn holds(filter: &Filter, group: &Group, members: &[String], state: &AppState) -> bool {
    let field_of = |path: &AttrPath| field(path, false).unwrap_or(Field::Complex);
    match filter {
        Filter::And(a, b) => holds(a, group, members, state) && holds(b, group, members, state),
        Filter::Or(a, b) => holds(a, group, members, state) || holds(b, group, members, state),
        Filter::Not(inner) => !holds(inner, group, members, state),
        Filter::ValuePath { filter, .. } => members.iter().any(|m| {
            let entry = json!({ "value": m, "$ref": user_location(state, m), "type": "User" });
            patch::matches(filter, &entry)
        }),
        Filter::Present(path) => match field_of(path) {
            Field::Complex if path.name.eq_ignore_ascii_case("members") => !members.is_empty(),
            Field::Complex => true,
            field => !values(field, group, members, state).is_empty(),
        },
        Filter::Compare { path, op, value } => {
            let field = field_of(path);
            let found = values(field, group, members, state);
            let date = matches!(field, Field::Created | Field::Modified);
            match value {
                CompValue::Null => (found.is_empty()) == (*op == CompareOp::Eq),
                CompValue::String(want) if found.is_empty() => *op == CompareOp::Ne && !want.is_empty(),
                CompValue::String(want) => match op {
                    // `ne` holds when no value equals.
                    CompareOp::Ne => {
                        !found.iter().any(|(have, exact)| compare(have, CompareOp::Eq, want, *exact, date))
                    }
                    _ => found.iter().any(|(have, exact)| compare(have, *op, want, *exact, date)),
                },
                _ => false,
            }
        }
    }
}

async fn respond(state: &AppState, search: Search) -> ScimResult {
    let filter = match search.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(text) => Some(filter::parse(text).map_err(|e| ScimError::invalid_filter(e.0))?),
        None => None,
    };
    let needs_members = filter.as_ref().map(|f| check(f, false)).transpose()?.unwrap_or(false);
    let descending = search.descending()?;
    let sort = match search.sort_by.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(text) => {
            let path = filter::parse_attr_path(text).map_err(|e| ScimError::invalid_value(e.0))?;
            match field(&path, false) {
                Ok(f @ (Field::Id | Field::ExternalId | Field::DisplayName | Field::Created | Field::Modified)) => {
                    Some(f)
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "`{text}` is not an attribute groups can be sorted by"
                    )))
                }
            }
        }
        None => None,
    };
    let mut groups = state.groups.page(None, MAX_GROUPS + 1).await?;
    if groups.len() as i64 > MAX_GROUPS && filter.is_some() {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!("more than {MAX_GROUPS} groups: too many to filter"),
        ));
    }
    if let Some(filter) = &filter {
        let mut kept = Vec::new();
        for group in groups {
            let members = match needs_members {
                true => state.groups.member_ids(&group.group_id).await?,
                false => Vec::new(),
            };
            if holds(filter, &group, &members, state) {
                kept.push(group);
            }
        }
        groups = kept;
    }
    if let Some(sort) = sort {
        let key = |g: &Group| -> (bool, String, i64) {
            match sort {
                Field::Id => (false, g.group_id.clone(), 0),
                Field::ExternalId => (g.external_id.is_none(), g.external_id.clone().unwrap_or_default(), 0),
                Field::Created => (false, String::new(), g.created_at),
                Field::Modified => (false, String::new(), g.updated_at),
                _ => (false, g.name.to_lowercase(), 0),
            }
        };
        groups.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            // Groups without the value last either way.
            ka.0.cmp(&kb.0).then_with(|| {
                let order = (&ka.1, ka.2).cmp(&(&kb.1, kb.2));
                if descending {
                    order.reverse()
                } else {
                    order
                }
            })
        });
    } else {
        groups.sort_by(|a, b| a.name.cmp(&b.name).then(Ordering::Equal));
    }
    let (start_index, count) = search.window();
    let total = groups.len() as i64;
    let mut resources = Vec::new();
    for group in groups.iter().skip((start_index - 1) as usize).take(count as usize) {
        let members = members_if_shown(state, group, &search.projection).await?;
        resources.push(search.projection.apply(resource(state, group, members.as_deref())));
    }
    Ok(list_response(total, start_index, resources))
}
