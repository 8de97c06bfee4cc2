//! Clients: who may ask for tokens, how they authenticate, and for what.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use idp_verify::alg::{JwsAlg, SignatureVerifier};
use josekit::jwk::Jwk;
use serde_json::{json, Map, Value};

use super::resource::{json_list, parse_scope_list, validate_lifetime, validate_name, ResourceServer};
use super::RegistryError;
use crate::crypto::{b64url, constant_time_eq, SigningAlg};
use crate::domain::{
    ClientId, ClientType, GrantType, Origin, RedirectUri, ResourceIndicator, Scope, ScopeSet, TokenEndpointAuthMethod,
};
use crate::store::models::{ClientRow, ClientSecretRow};

/// Scopes of OpenID Connect itself, which no resource server has to list.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A client secret: `idp_cs_` and 256 random bits, shown once.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub const PREFIX: &'static str = "idp_cs_";

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("system randomness");
        Self(format!("{}{}", Self::PREFIX, b64url(&bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

#[derive(Debug, Clone)]
struct StoredSecret {
    hash: [u8; 32],
    expires_at: Option<i64>,
}

/// A public key registered for `private_key_jwt`, ready to verify.
pub struct ClientKey {
    pub kid: Option<String>,
    pub alg: String,
    pub verifier: SignatureVerifier,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey").field("kid", &self.kid).field("alg", &self.alg).finish()
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub resources: Vec<ResourceIndicator>,
    pub default_resource: Option<ResourceIndicator>,
    pub redirect_uris: Vec<RedirectUri>,
    pub web_origins: Vec<Origin>,
    pub dpop_bound_access_tokens: bool,
    pub access_token_lifetime: Option<i64>,
    pub jwks: Option<Value>,
    pub keys: Arc<Vec<ClientKey>>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The company's own applications: users are not asked for consent.
    pub first_party: bool,
    /// `id_token_signed_response_alg` (OIDC Registration): RS256 unless the client asked.
    pub id_token_alg: SigningAlg,
    /// RFC 9126 §6: `/authorize` takes this client's requests only through PAR.
    pub require_pushed_authorization_requests: bool,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// OIDC Back-Channel Logout: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    secrets: Vec<StoredSecret>,
}

impl Client {
    pub fn from_rows(row: ClientRow, secrets: Vec<ClientSecretRow>) -> Result<Self, RegistryError> {
        let id = row.client_id.clone();
        let corrupt = |reason: String| RegistryError::Corrupt { what: format!("client {id}"), reason };
        let list = |json: &str| serde_json::from_str::<Vec<String>>(json).map_err(|e| corrupt(e.to_string()));
        let grant_types = list(&row.grant_types)?
            .iter()
            .map(|g| g.parse::<GrantType>().map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let resources = list(&row.resources)?
            .iter()
            .map(|r| ResourceIndicator::parse(r).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let redirect_uris = list(&row.redirect_uris)?
            .iter()
            .map(|r| RedirectUri::parse(r).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let web_origins = list(&row.web_origins)?
            .iter()
            .map(|o| Origin::parse(o).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let post_logout_redirect_uris = list(&row.post_logout_redirect_uris)?
            .iter()
            .map(|r| RedirectUri::parse(r).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let id_token_alg = match row.id_token_signed_response_alg.as_deref() {
            Some(alg) => alg.parse::<SigningAlg>().map_err(corrupt)?,
            None => SigningAlg::Rs256,
        };
        let default_resource = row
            .default_resource
            .as_deref()
            .map(|r| ResourceIndicator::parse(r).map_err(|e| corrupt(e.to_string())))
            .transpose()?;
        let jwks =
            row.jwks.as_deref().map(serde_json::from_str::<Value>).transpose().map_err(|e| corrupt(e.to_string()))?;
        let keys = match &jwks {
            Some(jwks) => client_keys(jwks).map_err(corrupt)?,
            None => Vec::new(),
        };
        let secrets = secrets
            .into_iter()
            .map(|s| {
                let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &s.secret_hash)
                    .map_err(|e| corrupt(e.to_string()))?;
                let hash: [u8; 32] = bytes.try_into().map_err(|_| corrupt("secret hash length".into()))?;
                Ok(StoredSecret { hash, expires_at: s.expires_at })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(Self {
            id: ClientId::parse(&row.client_id).map_err(|e| corrupt(e.to_string()))?,
            name: row.name,
            client_type: row.client_type.parse().map_err(|e: crate::domain::DomainError| corrupt(e.to_string()))?,
            auth_method: row
                .token_endpoint_auth_method
                .parse()
                .map_err(|e: crate::domain::DomainError| corrupt(e.to_string()))?,
            grant_types,
            scopes: parse_scope_list(&row.scopes).map_err(corrupt)?,
            resources,
            default_resource,
            redirect_uris,
            web_origins,
            dpop_bound_access_tokens: row.dpop_bound_access_tokens,
            access_token_lifetime: row.access_token_lifetime,
            jwks,
            keys: Arc::new(keys),
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
            first_party: row.first_party,
            id_token_alg,
            require_pushed_authorization_requests: row.require_pushed_authorization_requests,
            post_logout_redirect_uris,
            backchannel_logout_uri: row.backchannel_logout_uri,
            secrets,
        })
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    pub fn allows_origin(&self, origin: &Origin) -> bool {
        self.web_origins.iter().any(|o| o == origin)
    }

    /// The registered redirect URI a presented one names (RFC 6749 §3.1.2.3: with one
    /// registered, it may be omitted).
    pub fn redirect_uri(&self, presented: Option<&str>) -> Option<&RedirectUri> {
        match presented {
            Some(presented) => self.redirect_uris.iter().find(|r| r.matches(presented)),
            None if self.redirect_uris.len() == 1 => self.redirect_uris.first(),
            None => None,
        }
    }

    pub fn allows_resource(&self, resource: &ResourceIndicator) -> bool {
        self.resources.iter().any(|r| r == resource)
    }

    /// Whether `presented_hash` (the keyed hash of a presented secret) is one of this client's
    /// live secrets. Compares against every secret so timing tells nothing about which.
    pub fn secret_matches(&self, presented_hash: &[u8; 32], now: i64) -> bool {
        self.secrets.iter().fold(false, |found, secret| {
            let live = secret.expires_at.is_none_or(|at| now < at);
            found | (constant_time_eq(&secret.hash, presented_hash) & live)
        })
    }

    /// RFC 7591 client metadata, plus this provider's own fields.
    pub fn metadata(&self, secret: Option<&ClientSecret>) -> Value {
        let strings = |items: &mut dyn Iterator<Item = &str>| items.map(|s| s.to_owned()).collect::<Vec<_>>();
        let mut metadata = json!({
            "client_id": self.id.as_str(),
            "client_name": self.name,
            "client_id_issued_at": self.created_at,
            "client_type": self.client_type.as_str(),
            "token_endpoint_auth_method": self.auth_method.as_str(),
            "grant_types": strings(&mut self.grant_types.iter().map(|g| g.as_str())),
            "scope": self.scopes.to_string(),
            "resources": strings(&mut self.resources.iter().map(|r| r.as_str())),
            "default_resource": self.default_resource.as_ref().map(|r| r.as_str()),
            "redirect_uris": strings(&mut self.redirect_uris.iter().map(|r| r.as_str())),
            "allowed_origins": strings(&mut self.web_origins.iter().map(|o| o.as_str())),
            "dpop_bound_access_tokens": self.dpop_bound_access_tokens,
            "access_token_lifetime": self.access_token_lifetime,
            "enabled": self.enabled,
            "first_party": self.first_party,
            "id_token_signed_response_alg": self.id_token_alg.as_str(),
            "require_pushed_authorization_requests": self.require_pushed_authorization_requests,
            "post_logout_redirect_uris": strings(&mut self.post_logout_redirect_uris.iter().map(|r| r.as_str())),
            "backchannel_logout_uri": self.backchannel_logout_uri,
        });
        if let Some(jwks) = &self.jwks {
            metadata["jwks"] = jwks.clone();
        }
        if let Some(secret) = secret {
            metadata["client_secret"] = Value::String(secret.expose().to_owned());
            metadata["client_secret_expires_at"] = json!(0);
        }
        metadata
    }
}

/// Verifiers for the public keys of a `jwks` document; private members are refused.
fn client_keys(jwks: &Value) -> Result<Vec<ClientKey>, String> {
    let keys = jwks.get("keys").and_then(Value::as_array).ok_or("jwks has no keys array")?;
    let mut out = Vec::new();
    for key in keys {
        let map: Map<String, Value> = key.as_object().cloned().ok_or("a JWK is not an object")?;
        if idp_verify::jwk::has_private_members(&map) {
            return Err("a JWK holds private key material".into());
        }
        let kid = map.get("kid").and_then(Value::as_str).map(str::to_owned);
        let jwk = Jwk::from_map(map.clone()).map_err(|e| e.to_string())?;
        let algs: Vec<&str> = match (map.get("alg").and_then(Value::as_str), jwk.key_type()) {
            (Some(alg), _) => vec![alg],
            (None, "EC") => vec!["ES256"],
            (None, "RSA") => vec!["RS256", "PS256"],
            (None, "OKP") => vec!["EdDSA"],
            (None, other) => return Err(format!("unsupported key type {other}")),
        };
        for alg in algs {
            let verifier = JwsAlg::parse(alg)
                .ok_or_else(|| format!("algorithm {alg} is not accepted for client assertions"))
                .and_then(|parsed| SignatureVerifier::new(parsed, &map).map_err(|e| e.to_string()))?;
            out.push(ClientKey { kid: kid.clone(), alg: alg.to_owned(), verifier });
        }
    }
    Ok(out)
}

/// Algorithms accepted for client assertions (asymmetric only; never `none` or HMAC): the
/// verifier crate's [`JwsAlg`] set, DPoP's too, in the order discovery has always listed them.
pub const ASSERTION_ALGS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

pub(super) fn wants_secret(row: &ClientRow) -> bool {
    matches!(row.token_endpoint_auth_method.as_str(), "client_secret_basic" | "client_secret_post")
}

/// What an operator asks for (`idp clients create`).
#[derive(Debug, Clone, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub resources: Vec<String>,
    pub default_resource: Option<String>,
    pub scopes: Vec<String>,
    pub web_origins: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub require_dpop: bool,
    pub auth_method: Option<String>,
    pub jwks: Option<String>,
    pub access_token_lifetime: Option<i64>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
    pub require_pushed_authorization_requests: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl ClientRegistration {
    pub(super) fn into_row(
        self,
        now: i64,
        resource_servers: &HashMap<String, Arc<ResourceServer>>,
    ) -> Result<ClientRow, RegistryError> {
        let invalid = |flag: &str, e: &dyn fmt::Display| RegistryError::Invalid(format!("{flag}: {e}"));
        let name = validate_name(&self.name)?;
        let client_type = if self.public { ClientType::Public } else { ClientType::Confidential };
        let auth_method = match (&self.auth_method, client_type) {
            (None, ClientType::Public) => TokenEndpointAuthMethod::None,
            (None, ClientType::Confidential) => TokenEndpointAuthMethod::ClientSecretBasic,
            (Some(method), _) => method.parse().map_err(|e| invalid("--auth-method", &e))?,
        };
        match (client_type, auth_method) {
            (ClientType::Public, TokenEndpointAuthMethod::None) => {}
            (ClientType::Public, _) => {
                return Err(RegistryError::Invalid("a public client authenticates with `none`".into()))
            }
            (ClientType::Confidential, TokenEndpointAuthMethod::None) => {
                return Err(RegistryError::Invalid("a confidential client needs an authentication method".into()))
            }
            _ => {}
        }
        let grant_types = self
            .grant_types
            .iter()
            .map(|g| g.parse::<GrantType>().map_err(|e| invalid("--grant", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        if grant_types.is_empty() {
            return Err(RegistryError::Invalid("--grant: at least one grant type".into()));
        }
        if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(RegistryError::Invalid("--grant: client_credentials needs a confidential client".into()));
        }
        let mut resources = Vec::new();
        for resource in &self.resources {
            let resource = ResourceIndicator::parse(resource).map_err(|e| invalid("--resource", &e))?;
            if !resource_servers.contains_key(resource.as_str()) {
                return Err(RegistryError::Invalid(format!(
                    "--resource: {resource} is not a registered resource server (idp resources create)"
                )));
            }
            if !resources.contains(&resource) {
                resources.push(resource);
            }
        }
        let default_resource = match &self.default_resource {
            Some(r) => {
                let r = ResourceIndicator::parse(r).map_err(|e| invalid("--default-resource", &e))?;
                if !resources.contains(&r) {
                    return Err(RegistryError::Invalid("--default-resource must be one of --resource".into()));
                }
                Some(r)
            }
            None => resources.first().cloned(),
        };
        let scopes: ScopeSet = self
            .scopes
            .iter()
            .map(|s| Scope::parse(s).map_err(|e| invalid("--scope", &e)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .collect();
        for scope in scopes.iter() {
            let offered = OIDC_SCOPES.contains(&scope.as_str())
                || resources.iter().any(|r| resource_servers[r.as_str()].scopes.contains(scope.as_str()));
            if !offered {
                return Err(RegistryError::Invalid(format!(
                    "--scope: {scope} is accepted by none of the client's resources"
                )));
            }
        }
        let web_origins = self
            .web_origins
            .iter()
            .map(|o| Origin::parse(o).map_err(|e| invalid("--origin", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let redirect_uris = self
            .redirect_uris
            .iter()
            .map(|r| RedirectUri::parse(r).map_err(|e| invalid("--redirect-uri", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let post_logout_redirect_uris = self
            .post_logout_redirect_uris
            .iter()
            .map(|r| RedirectUri::parse(r).map_err(|e| invalid("--post-logout-redirect-uri", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let id_token_alg = self
            .id_token_alg
            .as_deref()
            .map(|a| a.parse::<SigningAlg>().map_err(|e| invalid("--id-token-alg", &e)))
            .transpose()?;
        // An https URL (http only on loopback, for development), like a redirect URI.
        let backchannel_logout_uri = self
            .backchannel_logout_uri
            .as_deref()
            .map(|u| match RedirectUri::parse(u) {
                Ok(uri) if uri.kind() != crate::domain::RedirectUriKind::PrivateUse => Ok(uri.into_string()),
                Ok(_) => Err(RegistryError::Invalid("--backchannel-logout-uri: must be an https URL".into())),
                Err(e) => Err(invalid("--backchannel-logout-uri", &e)),
            })
            .transpose()?;
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(RegistryError::Invalid("--redirect-uri: authorization_code needs one".into()));
        }
        let jwks = match (&self.jwks, auth_method) {
            (Some(text), _) => {
                let value: Value = serde_json::from_str(text).map_err(|e| invalid("--jwks", &e))?;
                let keys = client_keys(&value).map_err(|e| invalid("--jwks", &e))?;
                if keys.is_empty() {
                    return Err(RegistryError::Invalid("--jwks: no usable key".into()));
                }
                Some(value.to_string())
            }
            (None, TokenEndpointAuthMethod::PrivateKeyJwt) => {
                return Err(RegistryError::Invalid("--jwks: private_key_jwt needs the client's public keys".into()))
            }
            (None, _) => None,
        };
        validate_lifetime(self.access_token_lifetime)?;
        let list = |items: Vec<&str>| json_list(items.into_iter());
        let client_id =
            ClientId::generate().map_err(|_| RegistryError::Invalid("no system randomness for a client id".into()))?;
        Ok(ClientRow {
            client_id: client_id.as_str().to_owned(),
            name,
            client_type: client_type.as_str().to_owned(),
            token_endpoint_auth_method: auth_method.as_str().to_owned(),
            grant_types: list(grant_types.iter().map(|g| g.as_str()).collect()),
            scopes: list(scopes.iter().map(|s| s.as_str()).collect()),
            resources: list(resources.iter().map(|r| r.as_str()).collect()),
            default_resource: default_resource.map(|r| r.as_str().to_owned()),
            redirect_uris: list(redirect_uris.iter().map(|r| r.as_str()).collect()),
            web_origins: list(web_origins.iter().map(|o| o.as_str()).collect()),
            // SECURITY.md §3: public clients must use DPoP.
            dpop_bound_access_tokens: self.require_dpop || client_type == ClientType::Public,
            access_token_lifetime: self.access_token_lifetime,
            jwks,
            jwks_uri: None,
            enabled: true,
            created_at: now,
            updated_at: now,
            first_party: self.first_party,
            id_token_signed_response_alg: id_token_alg.map(|a| a.as_str().to_owned()),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            post_logout_redirect_uris: list(post_logout_redirect_uris.iter().map(|r| r.as_str()).collect()),
            backchannel_logout_uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_algs_are_the_shared_set_every_client_key_can_be_verified_in() {
        let mut advertised = ASSERTION_ALGS.to_vec();
        advertised.sort_unstable();
        let mut shared = JwsAlg::NAMES.to_vec();
        shared.sort_unstable();
        assert_eq!(advertised, shared);
    }
}
