//! `/admin/v1/groups`: create, rename, delete, and add or remove members, over the groups
//! service (which the CLI and SCIM use too). Groups are people's business: `admin:users`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::auth::{caller, Access, Area};
use super::body::{self, JSON, MERGE_PATCH};
use super::error::{AdminError, AdminResult};
use super::page::{self, PageQuery};
use super::{if_match, with_etag};
use crate::error::Problem;
use crate::services::groups::{Group, GroupError};
use crate::services::merge_patch;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/groups").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/groups/{group_id}")
                .route(web::get().to(read))
                .route(web::patch().to(rename))
                .route(web::delete().to(delete)),
        )
        .service(
            web::resource("/groups/{group_id}/members").route(web::get().to(members)).route(web::post().to(add_member)),
        )
        .service(web::resource("/groups/{group_id}/members/{user_id}").route(web::delete().to(remove_member)));
}

impl From<GroupError> for AdminError {
    fn from(error: GroupError) -> Self {
        let problem = match error {
            GroupError::Invalid(field) => Problem::invalid_fields(vec![field]),
            GroupError::Conflict => Problem::conflict("a group with this name already exists"),
            GroupError::NotFound => Problem::not_found(),
            GroupError::NoSuchUser => {
                Problem::invalid_fields(vec![crate::error::FieldError::new("user_id", "no such user")])
            }
            GroupError::Stale => Problem::precondition_failed(),
            GroupError::Store(e) => Problem::unavailable(e),
        };
        Self::Problem(problem)
    }
}

/// A group's name: the body of a create, and what a `PATCH` changes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupName {
    /// 1 to 100 characters; what apps see in the `groups` claim.
    pub name: String,
}

/// A member to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub user_id: String,
}

/// A member of a group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
}

/// A page of a group's members.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MemberPage {
    items: Vec<Member>,
    next: Option<String>,
}

fn shown(group: &Group, status: StatusCode) -> HttpResponse {
    with_etag(HttpResponse::build(status), &group.etag()).json(group)
}

/// Create a group.
#[utoipa::path(post, path = "/groups", operation_id = "createGroup", tag = "groups", request_body = GroupName,
    responses(
        (status = 201, description = "Created", body = Group, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 409, response = super::schemas::Conflict),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let new: GroupName = body::parse(&req, &body, JSON)?;
    let group = state.groups.create(&new.name, &caller.actor).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, format!("{}/{}", req.path(), group.group_id)));
    Ok(with_etag(response, &group.etag()).json(&group))
}

/// List groups by name.
#[utoipa::path(get, path = "/groups", operation_id = "listGroups", tag = "groups", params(PageQuery),
    responses(
        (status = 200, description = "A page of groups", body = super::schemas::GroupPage),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> AdminResult {
    caller(&state, &req, Area::Users, Access::Read).await?;
    let query = PageQuery::from_request(&req)?;
    let limit = query.limit();
    let after: Option<String> = query.after()?;
    let groups = state.groups.page(after, limit + 1).await?;
    Ok(page::respond(&req, groups, limit, |g| g.name.clone()))
}

/// Read a group.
#[utoipa::path(get, path = "/groups/{group_id}", operation_id = "getGroup", tag = "groups", params(("group_id" = String, Path)),
    responses(
        (status = 200, description = "The group", body = Group, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn read(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    caller(&state, &req, Area::Users, Access::Read).await?;
    Ok(shown(&state.groups.find(&path).await?, StatusCode::OK))
}

/// Rename a group (RFC 7396 JSON Merge Patch of `name`).
#[utoipa::path(patch, path = "/groups/{group_id}", operation_id = "renameGroup", tag = "groups",
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "`{\"name\": …}` renames; `{}` changes nothing"),
    params(("group_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Renamed", body = Group, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 409, response = super::schemas::Conflict),
        (status = 412, response = super::schemas::PreconditionFailed),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let patch: serde_json::Value = body::parse(&req, &body, MERGE_PATCH)?;
    let current = state.groups.find(&path).await?;
    let changed = merge_patch::patched(&GroupName { name: current.name.clone() }, patch)
        .map_err(|field| Problem::invalid_fields(vec![field]))?;
    let if_match = if_match(&req).or_else(|| Some(current.etag()));
    let group = state.groups.rename(&path, &changed.name, if_match, &caller.actor).await?;
    Ok(shown(&group, StatusCode::OK))
}

/// Delete a group (its memberships go with it).
#[utoipa::path(delete, path = "/groups/{group_id}", operation_id = "deleteGroup", tag = "groups", params(("group_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    state.groups.delete(&path, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a group's members by user id.
#[utoipa::path(get, path = "/groups/{group_id}/members", operation_id = "listGroupMembers", tag = "groups", params(("group_id" = String, Path), PageQuery),
    responses(
        (status = 200, description = "A page of members", body = MemberPage),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn members(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    caller(&state, &req, Area::Users, Access::Read).await?;
    let query = PageQuery::from_request(&req)?;
    let limit = query.limit();
    let after: Option<String> = query.after()?;
    let members: Vec<Member> =
        state.groups.members(&path, after, limit + 1).await?.into_iter().map(|user_id| Member { user_id }).collect();
    Ok(page::respond(&req, members, limit, |m| m.user_id.clone()))
}

/// Add a member (adding one twice changes nothing).
#[utoipa::path(post, path = "/groups/{group_id}/members", operation_id = "addGroupMember", tag = "groups", request_body = NewMember,
    params(("group_id" = String, Path)),
    responses(
        (status = 204, description = "A member"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let member: NewMember = body::parse(&req, &body, JSON)?;
    state.groups.add_member(&path, &member.user_id, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a member.
#[utoipa::path(delete, path = "/groups/{group_id}/members/{user_id}", operation_id = "removeGroupMember", tag = "groups",
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let (group_id, user_id) = path.into_inner();
    state.groups.remove_member(&group_id, &user_id, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}
