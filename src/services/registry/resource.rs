//! Resource servers: the audiences access tokens are issued for.

use serde::Serialize;

use super::RegistryError;
use crate::domain::{ClientId, ResourceIndicator, Scope, ScopeSet};
use crate::store::models::ResourceServerRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResourceServer {
    /// The `aud` of tokens for it (RFC 8707 resource indicator).
    #[schema(value_type = String)]
    pub identifier: ResourceIndicator,
    pub name: String,
    /// Scopes it accepts.
    #[serde(serialize_with = "serialize_scopes")]
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
    /// Overrides `tokens.access_token_lifetime` for its tokens (seconds).
    pub access_token_lifetime: Option<i64>,
    /// Its tokens are issued only with a DPoP proof.
    pub require_dpop: bool,
    /// Its access tokens carry the user's `groups` when the grant has the `groups` scope.
    pub include_groups: bool,
    /// The clients that act for it (its own credentials, RFC 7662 §2.1): beside a token's own
    /// client, the only callers introspection shows its tokens' claims to.
    #[schema(value_type = Vec<String>)]
    pub introspection_clients: Vec<ClientId>,
}

fn serialize_scopes<S: serde::Serializer>(scopes: &ScopeSet, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(scopes.iter().map(|s| s.as_str()))
}

impl ResourceServer {
    pub fn from_row(row: ResourceServerRow) -> Result<Self, RegistryError> {
        let corrupt =
            |reason: String| RegistryError::Corrupt { what: format!("resource server {}", row.identifier), reason };
        let identifier = ResourceIndicator::parse(&row.identifier).map_err(|e| corrupt(e.to_string()))?;
        let scopes = parse_scope_list(&row.scopes).map_err(corrupt)?;
        let introspection_clients = serde_json::from_str::<Vec<String>>(&row.introspection_clients)
            .map_err(|e| e.to_string())
            .and_then(|ids| ids.iter().map(|id| ClientId::parse(id).map_err(|e| e.to_string())).collect())
            .map_err(corrupt)?;
        Ok(Self {
            introspection_clients,
            identifier,
            name: row.name,
            scopes,
            access_token_lifetime: row.access_token_lifetime,
            require_dpop: row.require_dpop,
            include_groups: row.include_groups,
        })
    }
}

/// A resource server as an operator registers or replaces it: the admin API's JSON body, or
/// the CLI's flags. A refusal names the JSON member.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRegistration {
    /// The RFC 8707 resource indicator: an absolute https URL without fragment (http on
    /// loopback). Fixed once registered.
    #[serde(default)]
    pub identifier: String,
    /// Defaults to the identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scopes it accepts (RFC 6749 §3.3 scope tokens).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Seconds, 1 to 86400; overrides `tokens.access_token_lifetime` for its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<i64>,
    /// Its tokens are issued only with a DPoP proof.
    #[serde(default)]
    pub require_dpop: bool,
    /// Its access tokens carry the user's `groups` claim (when the grant has the `groups` scope).
    #[serde(default)]
    pub include_groups: bool,
    /// Client ids that act for it (its own credentials): beside a token's own client, the only
    /// callers `/introspect` shows its tokens' claims to (RFC 7662 §2.1).
    #[serde(default)]
    pub introspection_clients: Vec<String>,
}

impl ResourceServer {
    /// The registration this resource server was made from.
    pub fn registration(&self) -> ResourceRegistration {
        ResourceRegistration {
            identifier: self.identifier.as_str().to_owned(),
            name: Some(self.name.clone()),
            scopes: self.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            access_token_lifetime: self.access_token_lifetime,
            require_dpop: self.require_dpop,
            include_groups: self.include_groups,
            introspection_clients: self.introspection_clients.iter().map(|id| id.as_str().to_owned()).collect(),
        }
    }

    /// Whether `client_id` acts for this resource server.
    pub fn is_acted_for_by(&self, client_id: &ClientId) -> bool {
        self.introspection_clients.contains(client_id)
    }

    /// A strong validator of the resource server as the admin API shows it.
    pub fn etag(&self) -> String {
        super::etag_of(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

impl ResourceRegistration {
    pub(super) fn into_row(self, created_at: i64, now: i64) -> Result<ResourceServerRow, RegistryError> {
        let invalid = |field: &str, e: &dyn std::fmt::Display| RegistryError::invalid(field, e.to_string());
        if self.identifier.is_empty() {
            return Err(RegistryError::invalid("identifier", "is required"));
        }
        let identifier = ResourceIndicator::parse(&self.identifier).map_err(|e| invalid("identifier", &e))?;
        let scopes = self
            .scopes
            .iter()
            .map(|s| Scope::parse(s).map_err(|e| invalid("scopes", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        validate_lifetime(self.access_token_lifetime)?;
        let introspection_clients = self
            .introspection_clients
            .iter()
            .map(|id| ClientId::parse(id).map_err(|e| invalid("introspection_clients", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let name = validate_name("name", self.name.as_deref().unwrap_or(identifier.as_str()))?;
        Ok(ResourceServerRow {
            identifier: identifier.as_str().to_owned(),
            name,
            scopes: json_list(scopes.iter().map(|s| s.as_str())),
            access_token_lifetime: self.access_token_lifetime,
            require_dpop: self.require_dpop,
            include_groups: self.include_groups,
            introspection_clients: json_list(introspection_clients.iter().map(|id| id.as_str())),
            created_at,
            updated_at: now,
        })
    }
}

/// The longest access-token lifetime a client or resource server may set (seconds).
pub const MAX_ACCESS_TOKEN_LIFETIME: i64 = 86_400;

/// An access-token lifetime override: one second to one day.
pub(super) fn validate_lifetime(seconds: Option<i64>) -> Result<(), RegistryError> {
    match seconds {
        Some(lifetime) if !(1..=MAX_ACCESS_TOKEN_LIFETIME).contains(&lifetime) => Err(RegistryError::invalid(
            "access_token_lifetime",
            format!("must be 1 to {MAX_ACCESS_TOKEN_LIFETIME} seconds, got {lifetime}"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn validate_name(field: &str, name: &str) -> Result<String, RegistryError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(RegistryError::invalid(field, "must be 1 to 200 characters without control characters"));
    }
    Ok(name.to_owned())
}

pub(super) fn parse_scope_list(json: &str) -> Result<ScopeSet, String> {
    let listed: Vec<String> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let scopes = listed.iter().map(|s| Scope::parse(s).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    Ok(scopes.into_iter().collect())
}

/// A JSON array of strings, as lists are stored.
pub(super) fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    serde_json::Value::Array(items.map(|i| serde_json::Value::String(i.to_owned())).collect()).to_string()
}
