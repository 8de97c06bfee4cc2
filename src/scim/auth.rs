//! Who may provision: access tokens for the audience `<issuer>/scim`, a resource server the
//! provider registers on its first start (as it does `<issuer>/admin`), with the scope `scim`
//! (or `admin:users`, an admin API scope over the same users). HR connectors send plain
//! `Authorization: Bearer`, so it is registered with `require_dpop: false`; a DPoP-bound token
//! still needs its proof, and an operator can demand DPoP by changing that registration. Every
//! check of the token is `http::resource_token`'s, the same the admin API runs.

use actix_web::HttpRequest;

use super::error::{ScimError, ScimResult};
use crate::http::resource_token::{self, Caller, Holder};
use crate::services::registry::{RegistryError, ResourceRegistration};
use crate::state::AppState;

/// The path under the issuer that names SCIM as an audience.
pub const AUDIENCE_PATH: &str = "/scim";

/// What a SCIM token may carry; either one reaches every SCIM operation.
pub const SCOPES: [&str; 2] = ["scim", "admin:users"];

/// The audience of SCIM tokens.
pub fn audience(state: &AppState) -> String {
    state.settings.issuer.endpoint(AUDIENCE_PATH)
}

/// SCIM's resource server as first registered: Bearer tokens accepted.
pub fn resource_registration(state: &AppState) -> ResourceRegistration {
    ResourceRegistration {
        identifier: audience(state),
        name: Some("SCIM provisioning".into()),
        scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        access_token_lifetime: None,
        require_dpop: false,
        include_groups: false,
        introspection_clients: Vec::new(),
    }
}

/// Registers SCIM as a resource server unless it is.
pub async fn register_audience(state: &AppState) -> Result<(), RegistryError> {
    resource_token::register_once(state, resource_registration(state)).await
}

/// The caller of a SCIM request whose token passed every check.
pub async fn caller(state: &AppState, req: &HttpRequest) -> ScimResult<Caller> {
    // SCIM is served on the public listener only: its proofs name the issuer's origin.
    let htu = format!("{}{}", state.settings.issuer.origin(), req.path());
    let allowed = |granted: &crate::domain::ScopeSet| SCOPES.iter().any(|s| granted.contains(s));
    let caller =
        resource_token::check(state, req, &audience(state), &htu, allowed, "scim").await.map_err(ScimError::Caller)?;
    // A person's token (a client's user consented to `scim`) reaches SCIM only as a member of
    // the admin group, as it reaches the admin API.
    if caller.holder == (Holder::Person { in_admin_group: false }) {
        return Err(ScimError::plain(
            actix_web::http::StatusCode::FORBIDDEN,
            "the signed-in person is not a member of the admin group",
        ));
    }
    Ok(caller)
}
