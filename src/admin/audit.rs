//! `/admin/v1/audit-events`: the audit trail, newest first, filtered by time, action, outcome,
//! client, user, actor and origin, in keyset pages (`services::audit::AuditTrail`, the same
//! listing `idp audit list` prints). The filter's rules are the service's (`AuditQuery::parse`);
//! this edge only reads the query string, refusing unknown and repeated parameters.

use actix_web::{web, HttpRequest};

use super::auth::{caller, Access, Area};
use super::error::AdminResult;
use super::page::{self, PageQuery};
use crate::error::{FieldError, Problem};
use crate::services::audit::{AuditQuery, AuditRecord};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit-events").route(web::get().to(list)));
}

/// The query parameters of `GET /audit-events`, as the OpenAPI document names them (the
/// handler reads the query string itself, so a bad value is a problem naming its parameter).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditParams {
    /// Events at or after this time: Unix seconds, RFC 3339, or a duration ago (`15m`, `7d`).
    since: Option<String>,
    /// Events before this time (same forms as `since`).
    until: Option<String>,
    /// Only this action (`client.update`, `login`, ...).
    action: Option<String>,
    /// Only this outcome: success, refused, failure, locked, granted or denied.
    outcome: Option<String>,
    /// Only events about this client.
    client_id: Option<String>,
    /// Only events about this user.
    user_id: Option<String>,
    /// Only changes by this actor: `cli`, `system`, `client:<id>`, `user:<id>`.
    actor: Option<String>,
    /// Only requests with this `Origin`.
    origin: Option<String>,
    /// Events per page, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `cursor` of the previous page's `next` link.
    cursor: Option<String>,
}

/// List audit events, newest first.
#[utoipa::path(get, path = "/audit-events", operation_id = "listAuditEvents", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "A page of audit events, newest first",
            body = super::schemas::AuditEventPage),
        (status = 400, response = super::schemas::BadRequest),
        (status = 401, response = super::schemas::Unauthorized),
        (status = 403, response = super::schemas::Forbidden),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> AdminResult {
    caller(&state, &req, Area::Audit, Access::Read).await?;
    let (query, page) = read_query(req.query_string())?;
    let filter = query.parse(state.clock.now()).map_err(|field| Problem::invalid_fields(vec![field]))?;
    let limit = page.limit();
    let before: Option<(i64, String)> = page.after()?;
    let items = state.audit_trail.list(filter, before, limit + 1).await.map_err(Problem::unavailable)?;
    Ok(page::respond(&req, items, limit, AuditRecord::cursor))
}

/// The listing's parameters from the query string: each at most once, none unknown.
fn read_query(text: &str) -> Result<(AuditQuery, PageQuery), Problem> {
    let mut query = AuditQuery::default();
    let mut limit = None;
    let mut cursor = None;
    let mut errors = Vec::new();
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        let slot = match name.as_ref() {
            "since" => &mut query.since,
            "until" => &mut query.until,
            "action" => &mut query.action,
            "outcome" => &mut query.outcome,
            "client_id" => &mut query.client_id,
            "user_id" => &mut query.user_id,
            "actor" => &mut query.actor,
            "origin" => &mut query.origin,
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            other => {
                errors.push(FieldError::new(other, "is not a parameter of this listing"));
                continue;
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            errors.push(FieldError::new(name.as_ref(), "is given more than once"));
        }
    }
    let limit = match limit {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=super::page::MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new("limit", "must be 1 to 200"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Problem::invalid_fields(errors));
    }
    Ok((query, PageQuery { limit, cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let problem = read_query("acton=login&since=1&since=2").unwrap_err();
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["acton", "since"]);
    }

    #[test]
    fn a_limit_that_is_no_number_is_named() {
        let problem = read_query("limit=ten").unwrap_err();
        assert_eq!(problem.errors[0].field, "limit");
    }

    #[test]
    fn the_filter_and_the_page_are_read_apart() {
        let (query, page) = read_query("action=client.update&limit=5&cursor=abc&origin=https%3A%2F%2Fa.test").unwrap();
        assert_eq!(query.action.as_deref(), Some("client.update"));
        assert_eq!(query.origin.as_deref(), Some("https://a.test"));
        assert_eq!((page.limit, page.cursor.as_deref()), (Some(5), Some("abc")));
    }
}
