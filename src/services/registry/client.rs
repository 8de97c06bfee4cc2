//! Clients: who may ask for tokens, how they authenticate, and for what.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use idp_verify::alg::{JwsAlg, SignatureVerifier};
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

use super::resource::{json_list, parse_scope_list, validate_lifetime, validate_name, ResourceServer};
use super::RegistryError;
use crate::crypto::{b64url, constant_time_eq, SigningAlg};
use crate::domain::{
    ClientId, ClientType, GrantType, Origin, RedirectUri, ResourceIndicator, Scope, ScopeSet, TokenEndpointAuthMethod,
};
use crate::store::models::{ClientRow, ClientSecretRow};

/// Scopes of OpenID Connect itself, which no resource server has to list, and `groups`, which
/// releases the user's group names (ID token, userinfo, and opted-in resource servers' tokens).
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "groups"];

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

    /// RFC 7591 client metadata, plus this provider's own fields; with `secret` when one was
    /// just issued (shown this once).
    pub fn metadata(&self, secret: Option<&ClientSecret>) -> ClientMetadata {
        let registration = self.registration();
        ClientMetadata {
            client_id: self.id.as_str().to_owned(),
            client_name: registration.client_name,
            client_id_issued_at: self.created_at,
            updated_at: self.updated_at,
            client_type: self.client_type.as_str().to_owned(),
            token_endpoint_auth_method: self.auth_method.as_str().to_owned(),
            grant_types: registration.grant_types,
            scope: registration.scope,
            resources: registration.resources,
            default_resource: registration.default_resource,
            redirect_uris: registration.redirect_uris,
            allowed_origins: registration.allowed_origins,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            access_token_lifetime: self.access_token_lifetime,
            enabled: self.enabled,
            first_party: self.first_party,
            id_token_signed_response_alg: self.id_token_alg.as_str().to_owned(),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            post_logout_redirect_uris: registration.post_logout_redirect_uris,
            backchannel_logout_uri: registration.backchannel_logout_uri,
            jwks: self.jwks.clone(),
            client_secret: secret.map(|s| s.expose().to_owned()),
            client_secret_expires_at: secret.map(|_| 0),
        }
    }
}

/// A client as the admin API and `idp clients show --json` print it: RFC 7591 §3.2.1 client
/// information plus this provider's own members.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClientMetadata {
    pub client_id: String,
    pub client_name: String,
    /// Seconds since the epoch.
    pub client_id_issued_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
    pub client_type: String,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub scope: String,
    pub resources: Vec<String>,
    pub default_resource: Option<String>,
    pub redirect_uris: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub dpop_bound_access_tokens: bool,
    pub access_token_lifetime: Option<i64>,
    pub enabled: bool,
    pub first_party: bool,
    pub id_token_signed_response_alg: String,
    pub require_pushed_authorization_requests: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Only in the answer that issued it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `0`: the secret does not expire (RFC 7591 §3.2.1); only with `client_secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
}

impl fmt::Display for ClientMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).unwrap_or_default())
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

/// A client as an operator registers or replaces it, through the admin API (this is its JSON
/// body, RFC 7591 member names) or the CLI (which fills it from flags). Every value is checked
/// by [`ClientRegistration::into_row`], and a refusal names the JSON member.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    /// A name users see on the consent page: 1 to 200 characters.
    pub client_name: String,
    /// `confidential` (the default) or `public` (a browser or native app; no secret, DPoP required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_type: Option<String>,
    /// `client_secret_basic` (a confidential client's default), `client_secret_post`,
    /// `private_key_jwt`, or `none` (public clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`: at least one.
    pub grant_types: Vec<String>,
    /// Resource servers (RFC 8707 identifiers) the client may get tokens for.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The audience when a request names none: one of `resources` (the first by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_resource: Option<String>,
    /// Space-separated scopes the client may ask for.
    #[serde(default)]
    pub scope: String,
    /// Web origins a browser client calls from (exact `scheme://host[:port]`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Access tokens only with a DPoP proof (always true for public clients).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// The client's public keys for `private_key_jwt` (a JWK Set; private members are refused).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "jwk_set")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Seconds, 1 to 86400; overrides the resource's and the provider's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<i64>,
    /// The company's own application: users are not asked for consent.
    #[serde(default)]
    pub first_party: bool,
    /// `RS256` (the default), `ES256` or `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// A disabled client can neither authenticate nor use its grants.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

/// `jwks` as it is read: a JSON object or null, refused there like any other member of the wrong
/// JSON type (before a precondition is checked), and looked into by [`client_keys`].
fn jwk_set<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Ok(<Option<Map<String, Value>> as serde::Deserialize>::deserialize(deserializer)?.map(Value::Object))
}

/// A value outside a fixed set: the message lists the set.
fn one_of(field: &str, valid: &[&str]) -> RegistryError {
    RegistryError::invalid(field, format!("must be one of {}", valid.join(", ")))
}

fn enabled_by_default() -> bool {
    true
}

impl Default for ClientRegistration {
    fn default() -> Self {
        Self {
            client_name: String::new(),
            client_type: None,
            token_endpoint_auth_method: None,
            grant_types: Vec::new(),
            resources: Vec::new(),
            default_resource: None,
            scope: String::new(),
            allowed_origins: Vec::new(),
            redirect_uris: Vec::new(),
            dpop_bound_access_tokens: false,
            jwks: None,
            access_token_lifetime: None,
            first_party: false,
            id_token_signed_response_alg: None,
            require_pushed_authorization_requests: false,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            enabled: true,
        }
    }
}

impl Client {
    /// The registration this client was made from (what a replace would send back unchanged).
    pub fn registration(&self) -> ClientRegistration {
        let strings = |items: &mut dyn Iterator<Item = &str>| items.map(str::to_owned).collect::<Vec<_>>();
        ClientRegistration {
            client_name: self.name.clone(),
            client_type: Some(self.client_type.as_str().to_owned()),
            token_endpoint_auth_method: Some(self.auth_method.as_str().to_owned()),
            grant_types: strings(&mut self.grant_types.iter().map(|g| g.as_str())),
            resources: strings(&mut self.resources.iter().map(|r| r.as_str())),
            default_resource: self.default_resource.as_ref().map(|r| r.as_str().to_owned()),
            scope: self.scopes.to_string(),
            allowed_origins: strings(&mut self.web_origins.iter().map(|o| o.as_str())),
            redirect_uris: strings(&mut self.redirect_uris.iter().map(|r| r.as_str())),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            jwks: self.jwks.clone(),
            access_token_lifetime: self.access_token_lifetime,
            first_party: self.first_party,
            id_token_signed_response_alg: Some(self.id_token_alg.as_str().to_owned()),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            post_logout_redirect_uris: strings(&mut self.post_logout_redirect_uris.iter().map(|r| r.as_str())),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            enabled: self.enabled,
        }
    }

    /// A strong validator of the client as the admin API shows it (RFC 9110 §8.8.3): it changes
    /// with every field an operator can change, and with the client's secrets.
    pub fn etag(&self) -> String {
        let mut text = self.metadata(None).to_string();
        for secret in &self.secrets {
            text.push_str(&b64url(&secret.hash));
            text.push_str(&secret.expires_at.unwrap_or_default().to_string());
        }
        super::etag_of(text.as_bytes())
    }

    /// Whether the client has a secret that is not past its overlap.
    pub fn has_live_secret(&self, now: i64) -> bool {
        self.secrets.iter().any(|s| s.expires_at.is_none_or(|at| now < at))
    }
}

impl ClientRegistration {
    /// The row of a client `client_id` registered at `created_at`, as of `now`; or the first
    /// member that is refused.
    pub(super) fn into_row(
        self,
        client_id: &ClientId,
        created_at: i64,
        now: i64,
        resource_servers: &HashMap<String, Arc<ResourceServer>>,
    ) -> Result<ClientRow, RegistryError> {
        let invalid = |field: &str, e: &dyn fmt::Display| RegistryError::invalid(field, e.to_string());
        let name = validate_name("client_name", &self.client_name)?;
        let client_type = match self.client_type.as_deref() {
            None => ClientType::Confidential,
            Some(text) => text.parse().map_err(|_| one_of("client_type", &["confidential", "public"]))?,
        };
        let auth_method = match (&self.token_endpoint_auth_method, client_type) {
            (None, ClientType::Public) => TokenEndpointAuthMethod::None,
            (None, ClientType::Confidential) => TokenEndpointAuthMethod::ClientSecretBasic,
            (Some(method), _) => method
                .parse()
                .map_err(|_| one_of("token_endpoint_auth_method", &TokenEndpointAuthMethod::ALL.map(|m| m.as_str())))?,
        };
        match (client_type, auth_method) {
            (ClientType::Public, TokenEndpointAuthMethod::None) => {}
            (ClientType::Public, _) => {
                return Err(RegistryError::invalid(
                    "token_endpoint_auth_method",
                    "a public client authenticates with `none`",
                ))
            }
            (ClientType::Confidential, TokenEndpointAuthMethod::None) => {
                return Err(RegistryError::invalid(
                    "token_endpoint_auth_method",
                    "a confidential client needs an authentication method other than `none`",
                ))
            }
            _ => {}
        }
        let grant_types = self
            .grant_types
            .iter()
            .map(|g| g.parse::<GrantType>().map_err(|_| one_of("grant_types", &GrantType::ALL.map(|g| g.as_str()))))
            .collect::<Result<Vec<_>, _>>()?;
        if grant_types.is_empty() {
            return Err(RegistryError::invalid("grant_types", "at least one grant type"));
        }
        if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(RegistryError::invalid("grant_types", "client_credentials needs a confidential client"));
        }
        let mut resources = Vec::new();
        for resource in &self.resources {
            let resource = ResourceIndicator::parse(resource).map_err(|e| invalid("resources", &e))?;
            if !resource_servers.contains_key(resource.as_str()) {
                return Err(RegistryError::invalid(
                    "resources",
                    format!("{resource} is not a registered resource server"),
                ));
            }
            if !resources.contains(&resource) {
                resources.push(resource);
            }
        }
        let default_resource = match &self.default_resource {
            Some(r) => {
                let r = ResourceIndicator::parse(r).map_err(|e| invalid("default_resource", &e))?;
                if !resources.contains(&r) {
                    return Err(RegistryError::invalid("default_resource", "must be one of `resources`"));
                }
                Some(r)
            }
            None => resources.first().cloned(),
        };
        let scopes: ScopeSet = self
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| Scope::parse(s).map_err(|e| invalid("scope", &e)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .collect();
        for scope in scopes.iter() {
            let offered = OIDC_SCOPES.contains(&scope.as_str())
                || resources.iter().any(|r| resource_servers[r.as_str()].scopes.contains(scope.as_str()));
            if !offered {
                return Err(RegistryError::invalid(
                    "scope",
                    format!("{scope} is accepted by none of the client's resources"),
                ));
            }
        }
        let web_origins = self
            .allowed_origins
            .iter()
            .map(|o| Origin::parse(o).map_err(|e| invalid("allowed_origins", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let redirect_uris = self
            .redirect_uris
            .iter()
            .map(|r| RedirectUri::parse(r).map_err(|e| invalid("redirect_uris", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let post_logout_redirect_uris = self
            .post_logout_redirect_uris
            .iter()
            .map(|r| RedirectUri::parse(r).map_err(|e| invalid("post_logout_redirect_uris", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let id_token_alg = self
            .id_token_signed_response_alg
            .as_deref()
            .map(|a| {
                a.parse::<SigningAlg>()
                    .map_err(|_| one_of("id_token_signed_response_alg", &SigningAlg::ALL.map(|a| a.as_str())))
            })
            .transpose()?;
        // An https URL (http only on loopback, for development), like a redirect URI.
        let backchannel_logout_uri = self
            .backchannel_logout_uri
            .as_deref()
            .map(|u| match RedirectUri::parse(u) {
                Ok(uri) if uri.kind() != crate::domain::RedirectUriKind::PrivateUse => Ok(uri.into_string()),
                Ok(_) => Err(RegistryError::invalid("backchannel_logout_uri", "must be an https URL")),
                Err(e) => Err(invalid("backchannel_logout_uri", &e)),
            })
            .transpose()?;
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(RegistryError::invalid("redirect_uris", "authorization_code needs at least one"));
        }
        let jwks = match (&self.jwks, auth_method) {
            (Some(value), _) => {
                let keys = client_keys(value).map_err(|e| invalid("jwks", &e))?;
                if keys.is_empty() {
                    return Err(RegistryError::invalid("jwks", "no usable key"));
                }
                Some(value.to_string())
            }
            (None, TokenEndpointAuthMethod::PrivateKeyJwt) => {
                return Err(RegistryError::invalid("jwks", "private_key_jwt needs the client's public keys"))
            }
            (None, _) => None,
        };
        validate_lifetime(self.access_token_lifetime)?;
        let list = |items: Vec<&str>| json_list(items.into_iter());
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
            // docs/security.md §3: public clients must use DPoP.
            dpop_bound_access_tokens: self.dpop_bound_access_tokens || client_type == ClientType::Public,
            access_token_lifetime: self.access_token_lifetime,
            jwks,
            jwks_uri: None,
            enabled: self.enabled,
            created_at,
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
