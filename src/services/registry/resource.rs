//! Resource servers: the audiences access tokens are issued for.

use serde::Serialize;

use super::RegistryError;
use crate::domain::{ResourceIndicator, Scope, ScopeSet};
use crate::store::models::ResourceServerRow;

#[derive(Debug, Clone, Serialize)]
pub struct ResourceServer {
    /// The `aud` of tokens for it (RFC 8707 resource indicator).
    pub identifier: ResourceIndicator,
    pub name: String,
    /// Scopes it accepts.
    #[serde(serialize_with = "serialize_scopes")]
    pub scopes: ScopeSet,
    /// Overrides `tokens.access_token_lifetime` for its tokens (seconds).
    pub access_token_lifetime: Option<i64>,
    /// Its tokens are issued only with a DPoP proof.
    pub require_dpop: bool,
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
        Ok(Self {
            identifier,
            name: row.name,
            scopes,
            access_token_lifetime: row.access_token_lifetime,
            require_dpop: row.require_dpop,
        })
    }
}

/// What an operator asks for (`idp resources create`).
#[derive(Debug, Clone, Default)]
pub struct ResourceRegistration {
    pub identifier: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub access_token_lifetime: Option<i64>,
    pub require_dpop: bool,
}

impl ResourceRegistration {
    pub(super) fn into_row(self, now: i64) -> Result<ResourceServerRow, RegistryError> {
        let invalid = |what: &str, e: &dyn std::fmt::Display| RegistryError::Invalid(format!("{what}: {e}"));
        let identifier = ResourceIndicator::parse(&self.identifier).map_err(|e| invalid("--identifier", &e))?;
        let scopes = self
            .scopes
            .iter()
            .map(|s| Scope::parse(s).map_err(|e| invalid("--scope", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        validate_lifetime(self.access_token_lifetime)?;
        let name = validate_name(self.name.as_deref().unwrap_or(identifier.as_str()))?;
        Ok(ResourceServerRow {
            identifier: identifier.as_str().to_owned(),
            name,
            scopes: json_list(scopes.iter().map(|s| s.as_str())),
            access_token_lifetime: self.access_token_lifetime,
            require_dpop: self.require_dpop,
            created_at: now,
            updated_at: now,
        })
    }
}

/// An access-token lifetime override: one second to one day.
pub(super) fn validate_lifetime(seconds: Option<i64>) -> Result<(), RegistryError> {
    match seconds {
        Some(lifetime) if !(1..=86_400).contains(&lifetime) => {
            Err(RegistryError::Invalid(format!("--access-token-lifetime must be 1 to 86400 seconds, got {lifetime}")))
        }
        _ => Ok(()),
    }
}

pub(super) fn validate_name(name: &str) -> Result<String, RegistryError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(RegistryError::Invalid("--name must be 1 to 200 characters without control characters".into()));
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
