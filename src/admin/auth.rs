//! Who may call the admin API. It is a resource server of this provider: audience
//! `<issuer>/admin`, registered at first start; its tokens carry `admin:*` scopes and, unless an
//! operator relaxes that resource server, must be DPoP-bound (RFC 9449). Refusals are the
//! RFC 6750 §3 / RFC 9449 §7.1 challenges any resource server sends (docs/security.md §3).

use actix_web::HttpRequest;

use super::error::{AdminError, AdminResult};
use crate::domain::ScopeSet;
use crate::http::resource_token::{self, Holder, Refused};
use crate::services::audit::Actor;
use crate::services::registry::ResourceRegistration;
use crate::state::AppState;

/// The path under the issuer that names the admin API as an audience.
pub const AUDIENCE_PATH: &str = "/admin";

/// What the admin API's scopes grant. `admin:read` reads everything; `admin:write` reads and
/// changes everything; an area scope (`admin:users`, ...) reads and changes that area only,
/// for automation that should reach no further (an HR connector needs `admin:users`).
pub const SCOPES: [&str; 7] =
    ["admin:read", "admin:write", "admin:clients", "admin:users", "admin:keys", "admin:grants", "admin:audit"];

/// The part of the API a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Clients and resource servers.
    Clients,
    /// Users, their sessions and consents.
    Users,
    Keys,
    /// Refresh families and access tokens.
    Grants,
    Audit,
}

impl Area {
    fn scope(self) -> &'static str {
        match self {
            Self::Clients => "admin:clients",
            Self::Users => "admin:users",
            Self::Keys => "admin:keys",
            Self::Grants => "admin:grants",
            Self::Audit => "admin:audit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether `granted` allows `access` to `area`.
pub fn allows(granted: &ScopeSet, area: Area, access: Access) -> bool {
    granted.contains("admin:write")
        || granted.contains(area.scope())
        || (access == Access::Read && granted.contains("admin:read"))
}

/// The audience of admin tokens.
pub fn audience(state: &AppState) -> String {
    state.settings.issuer.endpoint(AUDIENCE_PATH)
}

/// The admin API's resource server as first registered: every admin scope, DPoP required.
pub fn resource_registration(state: &AppState) -> ResourceRegistration {
    ResourceRegistration {
        identifier: audience(state),
        name: Some("Admin API".into()),
        scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        access_token_lifetime: None,
        require_dpop: true,
        include_groups: false,
        introspection_clients: Vec::new(),
    }
}

/// Registers the admin API as a resource server unless it is (first start; a node racing
/// another finds it registered).
pub async fn register_audience(state: &AppState) -> Result<(), crate::services::registry::RegistryError> {
    resource_token::register_once(state, resource_registration(state)).await
}

/// The caller of an admin request, once its token has passed.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The audit trail's actor: the admin client, or the person its token was issued to.
    pub actor: Actor,
}

/// Checks the request's token for `access` to `area` (`http::resource_token` does every check
/// of the token; this names the audience, the URL its proof must name, and the scopes).
pub async fn caller(state: &AppState, req: &HttpRequest, area: Area, access: Access) -> AdminResult<Caller> {
    let needed = match access {
        Access::Read => format!("admin:read {}", area.scope()),
        Access::Write => format!("admin:write {}", area.scope()),
    };
    let htu = request_url(state, req);
    let checked =
        resource_token::check(state, req, &audience(state), &htu, |granted| allows(granted, area, access), &needed)
            .await
            .map_err(|Refused { error, bearer }| AdminError::Caller { error, bearer })?;
    // A person's token: scopes a client may ask for are not enough, since any user of that
    // client could consent to them; the person must be an enabled member of the admin group.
    if checked.holder == (Holder::Person { in_admin_group: false }) {
        let refusal = crate::error::Problem::new(actix_web::http::StatusCode::FORBIDDEN, "Forbidden")
            .with_detail("the signed-in person is not a member of the admin group");
        return Err(refusal.into());
    }
    Ok(Caller { actor: checked.actor })
}

/// The origin callers reach the admin listener at (`admin_url`), set on that listener only.
#[derive(Debug, Clone)]
pub struct AdminOrigin(pub String);

/// The URL a DPoP proof for this request names (RFC 9449 §4.3: without query and fragment):
/// the origin of the listener it came in on, as configured (never the Host header), and the
/// path as received.
fn request_url(state: &AppState, req: &HttpRequest) -> String {
    match req.app_data::<actix_web::web::Data<AdminOrigin>>() {
        Some(origin) => format!("{}{}", origin.0, req.path()),
        None => format!("{}{}", state.settings.issuer.origin(), req.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    #[test]
    fn read_scope_reads_everything_and_changes_nothing() {
        let granted = scopes("admin:read");
        for area in [Area::Clients, Area::Users, Area::Keys, Area::Grants, Area::Audit] {
            assert!(allows(&granted, area, Access::Read), "{area:?}");
            assert!(!allows(&granted, area, Access::Write), "{area:?}");
        }
    }

    #[test]
    fn an_area_scope_reaches_its_area_only() {
        let granted = scopes("admin:users");
        assert!(allows(&granted, Area::Users, Access::Write));
        assert!(allows(&granted, Area::Users, Access::Read));
        assert!(!allows(&granted, Area::Clients, Access::Read));
        assert!(!allows(&granted, Area::Keys, Access::Write));
    }

    #[test]
    fn write_scope_reaches_everything_and_no_scope_nothing() {
        assert!(allows(&scopes("admin:write"), Area::Keys, Access::Write));
        assert!(!allows(&scopes("openid"), Area::Audit, Access::Read));
    }
}
