//! `/admin/v1/users`: create, read, list (search by username or email prefix), change the
//! profile, set a password, disable/enable (disabling revokes their grants), delete, lift a
//! sign-in lock, and their consents. One call to the users (or consents, sign-in limits)
//! service each, the same the CLI and the sign-in pages use.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{caller, Access, Area};
use super::body::{self, JSON, MERGE_PATCH};
use super::error::{AdminError, AdminResult};
use super::page::{self, PageQuery};
use super::{if_match, with_etag};
use crate::error::Problem;
use crate::services::consents::GrantedConsent;
use crate::services::merge_patch;
use crate::services::users::{NewUser, Password, User, UserError};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/users/{user_id}")
                .route(web::get().to(read))
                .route(web::patch().to(patch))
                .route(web::delete().to(delete)),
        )
        .service(web::resource("/users/{user_id}/password").route(web::put().to(set_password)))
        .service(web::resource("/users/{user_id}/enable").route(web::post().to(enable)))
        .service(web::resource("/users/{user_id}/disable").route(web::post().to(disable)))
        .service(web::resource("/users/{user_id}/unlock").route(web::post().to(unlock)))
        .service(web::resource("/addresses/{address}/unlock").route(web::post().to(unlock_address)))
        .service(web::resource("/users/{user_id}/consents").route(web::get().to(consents)))
        .service(web::resource("/users/{user_id}/consents/{client_id}").route(web::delete().to(withdraw_consent)));
}

impl From<UserError> for AdminError {
    fn from(error: UserError) -> Self {
        let problem = match error {
            UserError::Invalid(field) => Problem::invalid_fields(vec![field]),
            UserError::Conflict => Problem::conflict("a user with this username already exists"),
            UserError::Stale => Problem::precondition_failed(),
            UserError::NotFound => Problem::not_found(),
            UserError::Store(e) => Problem::unavailable(e),
            e @ (UserError::Hash(_) | UserError::Grants(_)) => Problem::internal(e),
        };
        Self::Problem(problem)
    }
}

fn shown(user: &User, status: StatusCode) -> HttpResponse {
    with_etag(HttpResponse::build(status), &user.etag()).json(user)
}

async fn find(state: &AppState, user_id: &str) -> AdminResult<User> {
    Ok(state.users.find(user_id).await?.ok_or_else(Problem::not_found)?)
}

/// `?q=` of the user listing.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Only users whose username or email starts with this (at most 254 characters).
    #[param(max_length = 254)]
    pub q: Option<String>,
}

impl UserSearch {
    /// `q`, read as the page parameters are: a refusal names it.
    fn from_request(req: &HttpRequest) -> Result<Self, Problem> {
        let refuse = |message: &str| Problem::invalid_fields(vec![crate::error::FieldError::new("q", message)]);
        let mut q = None;
        for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            if name == "q" {
                if q.is_some() {
                    return Err(refuse("is given more than once"));
                }
                if value.chars().count() > 254 {
                    return Err(refuse("is at most 254 characters"));
                }
                q = Some(value.into_owned());
            }
        }
        Ok(Self { q })
    }
}

/// Create a user (with a password, or without one: they cannot sign in with a password until
/// one is set).
#[utoipa::path(post, path = "/users", operation_id = "createUser", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 409, response = super::schemas::Conflict),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let new: NewUser = body::parse(&req, &body, JSON)?;
    let user = state.users.create(new, &caller.actor).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, format!("{}/{}", req.path(), user.user_id)));
    Ok(with_etag(response, &user.etag()).json(&user))
}

/// List users by username, optionally those whose username or email starts with `q`.
#[utoipa::path(get, path = "/users", operation_id = "listUsers", tag = "users", params(UserSearch, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = super::schemas::UserPage),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> AdminResult {
    caller(&state, &req, Area::Users, Access::Read).await?;
    let query = PageQuery::from_request(&req)?;
    let limit = query.limit();
    let after: Option<String> = query.after()?;
    let users = state.users.page(UserSearch::from_request(&req)?.q, after, limit + 1).await?;
    Ok(page::respond(&req, users, limit, |u| u.username.clone()))
}

/// Read a user.
#[utoipa::path(get, path = "/users/{user_id}", operation_id = "getUser", tag = "users", params(("user_id" = String, Path)),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn read(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    caller(&state, &req, Area::Users, Access::Read).await?;
    Ok(shown(&find(&state, &path).await?, StatusCode::OK))
}

/// Change a user's profile (RFC 7396 JSON Merge Patch of username, email, email_verified,
/// name, given_name, family_name).
#[utoipa::path(patch, path = "/users/{user_id}", operation_id = "patchUser", tag = "users",
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Members of the profile to change; null removes an optional one"),
    params(("user_id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Changed", body = User, headers(("ETag" = String))),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 409, response = super::schemas::Conflict),
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
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let patch: serde_json::Value = body::parse(&req, &body, MERGE_PATCH)?;
    let current = find(&state, &path).await?;
    let if_match = if_match(&req).or_else(|| Some(current.etag()));
    let profile =
        merge_patch::patched(&current.profile(), patch).map_err(|field| Problem::invalid_fields(vec![field]))?;
    let user = state.users.update_profile(&path, profile, if_match, &caller.actor).await?;
    Ok(shown(&user, StatusCode::OK))
}

/// Delete a user: their grants are revoked; their consents and refresh tokens go with them.
#[utoipa::path(delete, path = "/users/{user_id}", operation_id = "deleteUser", tag = "users", params(("user_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    state.users.delete(&path, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body of a password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// At least 8 characters, at most 1024 bytes.
    #[schema(value_type = String, format = Password)]
    pub password: Password,
}

/// Set a user's password.
#[utoipa::path(put, path = "/users/{user_id}/password", operation_id = "setUserPassword", tag = "users", request_body = NewPassword,
    params(("user_id" = String, Path)),
    responses(
        (status = 204, description = "Set"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 413, response = super::schemas::PayloadTooLarge),
        (status = 415, response = super::schemas::UnsupportedMediaType),
    ))]
pub async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let new: NewPassword = body::parse(&req, &body, JSON)?;
    state.users.set_password(&path, new.password, &caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What disabling or enabling did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EnabledChange {
    pub user: User,
    /// Refresh-token grants (and their access tokens) revoked by disabling.
    pub revoked_grants: usize,
}

/// Enable a user.
#[utoipa::path(post, path = "/users/{user_id}/enable", operation_id = "enableUser", tag = "users", params(("user_id" = String, Path)),
    responses(
        (status = 200, description = "Enabled", body = EnabledChange),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn enable(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    set_enabled(req, state, path, true).await
}

/// Disable a user: they cannot sign in, and every grant they gave is revoked at once.
#[utoipa::path(post, path = "/users/{user_id}/disable", operation_id = "disableUser", tag = "users", params(("user_id" = String, Path)),
    responses(
        (status = 200, description = "Disabled", body = EnabledChange),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn disable(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    set_enabled(req, state, path, false).await
}

async fn set_enabled(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>, on: bool) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let (user, revoked_grants) = state.users.set_enabled(&path, on, &caller.actor).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(EnabledChange { user, revoked_grants }))
}

/// Lift the sign-in lock that failed attempts put on the user's username.
#[utoipa::path(post, path = "/users/{user_id}/unlock", operation_id = "unlockUser", tag = "users", params(("user_id" = String, Path)),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
        (status = 503, description = "The hot store is unavailable", body = super::schemas::Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn unlock(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let user = find(&state, &path).await?;
    state.sign_in_limits.unlock(&user.username).await.map_err(Problem::unavailable)?;
    let event = caller.actor.event(state.clock.now(), "user.unlock", format!("user:{}", user.user_id));
    state.audit.record(crate::store::models::NewAuditEvent { user_id: Some(user.user_id), ..event });
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a client address's sign-in and client-authentication failure allowances and its
/// page quota: for an office behind one address that someone slowed down by failing on
/// purpose (docs/security.md "Rate limits").
#[utoipa::path(post, path = "/addresses/{address}/unlock", operation_id = "unlockAddress", tag = "users",
    params(("address" = String, Path, description = "An IPv4 or IPv6 address")),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 503, description = "The hot store is unavailable", body = super::schemas::Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn unlock_address(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let Ok(address) = path.parse::<std::net::IpAddr>() else {
        return Err(Problem::invalid_fields(vec![crate::error::FieldError::new(
            "address",
            "must be an IPv4 or IPv6 address",
        )])
        .into());
    };
    let address = crate::config::canonical_ip(address).to_string();
    state.sign_in_limits.unlock_address(&address).await.map_err(Problem::unavailable)?;
    state.audit.record(caller.actor.event(state.clock.now(), "address.unlock", format!("address:{address}")));
    Ok(HttpResponse::NoContent().finish())
}

/// The consents a user gave.
#[utoipa::path(get, path = "/users/{user_id}/consents", operation_id = "listUserConsents", tag = "users", params(("user_id" = String, Path)),
    responses(
        (status = 200, description = "The consents", body = Vec<GrantedConsent>),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn consents(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> AdminResult {
    caller(&state, &req, Area::Users, Access::Read).await?;
    let user = find(&state, &path).await?;
    let consents = state.consents.list(&user.user_id).await.map_err(Problem::unavailable)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(consents))
}

/// What withdrawing a consent did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsentWithdrawal {
    /// Refresh-token grants (and their access tokens) the consent allowed, now revoked.
    pub revoked_grants: usize,
}

/// Withdraw a user's consent for a client: the next sign-in asks again, and the grants it
/// allowed are revoked.
#[utoipa::path(delete, path = "/users/{user_id}/consents/{client_id}", operation_id = "withdrawUserConsent", tag = "users",
    params(("user_id" = String, Path), ("client_id" = String, Path)),
    responses(
        (status = 200, description = "Withdrawn", body = ConsentWithdrawal),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
        (status = 404, response = super::schemas::NotFound),
    ))]
pub async fn withdraw_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> AdminResult {
    let caller = caller(&state, &req, Area::Users, Access::Write).await?;
    let (user_id, client_id) = path.into_inner();
    let user = find(&state, &user_id).await?;
    let withdrawal =
        state.consents.withdraw(&user.user_id, &client_id, &caller.actor).await.map_err(Problem::unavailable)?;
    if !withdrawal.existed && withdrawal.revoked_grants == 0 {
        return Err(Problem::not_found().into());
    }
    let body = ConsentWithdrawal { revoked_grants: withdrawal.revoked_grants };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}
