//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), off unless
//! `registration.enabled`. A client registers itself with an initial access token an operator
//! minted (admin API), within the policy of `[registration]`; it gets a registration access
//! token to read, replace or delete its registration later. Both tokens are 256 random bits,
//! stored only as keyed hashes; the registration itself goes through the registry, so it is
//! validated, audited and announced like any other.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::SharedClock;
use crate::config::RegistrationSettings;
use crate::domain::RedirectUri;
use crate::services::audit::Actor;
use crate::services::registry::{Client, ClientRegistration, ClientSecret, Registry, RegistryError};
use crate::store::models::{ClientRegistrationRow, InitialAccessTokenRow};
use crate::store::{Db, StoreError};

pub const INITIAL_TOKEN_PREFIX: &str = "idp_iat_";
pub const REGISTRATION_TOKEN_PREFIX: &str = "idp_rat_";

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("dynamic client registration is off")]
    Disabled,
    /// The initial or registration access token is missing, unknown, used up or expired.
    #[error("the access token is not valid for this registration")]
    InvalidToken,
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidMetadata(String),
    #[error("software statements are not accepted")]
    SoftwareStatement,
    #[error(transparent)]
    Registry(RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RegistryError> for RegistrationError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Invalid(field) if field.field.starts_with("redirect_uris") => {
                Self::InvalidRedirectUri(field.to_string())
            }
            RegistryError::Invalid(field) => Self::InvalidMetadata(field.to_string()),
            other => Self::Registry(other),
        }
    }
}

/// Client metadata as a client sends it (RFC 7591 §2). Members this provider does not know are
/// ignored, as §2 asks; those it knows are checked against the policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClientMetadataRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// This provider's own member: resource servers (RFC 8707) the client may ask for.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub software_statement: Option<String>,
    /// Present on an RFC 7592 update: must be the client's own id.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// What a registration returns: the client, its secret (shown once) and its registration
/// access token (shown once).
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub secret: Option<ClientSecret>,
    pub registration_access_token: Option<String>,
}

#[derive(Clone)]
pub struct DynamicRegistration {
    db: Db,
    registry: Arc<Registry>,
    clock: SharedClock,
    policy: RegistrationSettings,
}

impl std::fmt::Debug for DynamicRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicRegistration").field("enabled", &self.policy.enabled).finish_non_exhaustive()
    }
}

impl DynamicRegistration {
    pub fn new(db: Db, registry: Arc<Registry>, clock: SharedClock, policy: RegistrationSettings) -> Self {
        Self { db, registry, clock, policy }
    }

    pub fn enabled(&self) -> bool {
        self.policy.enabled
    }

    fn hash(&self, token: &str) -> String {
        crate::crypto::b64url(&self.registry.hash_secret(token))
    }

    /// A new initial access token, good for `uses` registrations until `lifetime` seconds from
    /// now; shown once.
    pub async fn mint_initial_token(
        &self,
        lifetime: i64,
        uses: i64,
        by: &Actor,
    ) -> Result<(String, i64), RegistrationError> {
        if !(60..=30 * 86_400).contains(&lifetime) {
            return Err(RegistrationError::Registry(RegistryError::invalid(
                "expires_in",
                "must be 1 minute to 30 days",
            )));
        }
        if !(1..=1000).contains(&uses) {
            return Err(RegistrationError::Registry(RegistryError::invalid("uses", "must be 1 to 1000")));
        }
        let token = format!("{INITIAL_TOKEN_PREFIX}{}", crate::crypto::random_token());
        let now = self.clock.now();
        let row = InitialAccessTokenRow {
            token_hash: self.hash(&token),
            created_at: now,
            expires_at: now + lifetime,
            uses_left: uses,
        };
        let audit = by
            .event(now, "registration.initial_token.create", "registration".into())
            .detail(serde_json::json!({ "expires_at": row.expires_at, "uses": uses }));
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.write_audited(&audit, |conn| row.insert(conn)))
            .await
            .map_err(StoreError::from)??;
        Ok((token, now + lifetime))
    }

    /// Registers a client with `initial_token` (one use of it, spent in the transaction that
    /// registers the client).
    pub async fn register(
        &self,
        initial_token: &str,
        request: ClientMetadataRequest,
    ) -> Result<Registered, RegistrationError> {
        if !self.policy.enabled {
            return Err(RegistrationError::Disabled);
        }
        let registration = self.checked(request, None)?;
        let (initial_hash, now) = (self.hash(initial_token), self.clock.now());
        let access_token = format!("{REGISTRATION_TOKEN_PREFIX}{}", crate::crypto::random_token());
        let access_hash = self.hash(&access_token);
        let by = Actor { name: "registration".into(), meta: Default::default() };
        let result = self
            .registry
            .create_client_with(registration, &by, move |conn, client_id| {
                if !InitialAccessTokenRow::spend(conn, &initial_hash, now)? {
                    return Err(RegistryError::NotFound("initial access token"));
                }
                ClientRegistrationRow { client_id: client_id.to_owned(), token_hash: access_hash, created_at: now }
                    .insert(conn)?;
                Ok(())
            })
            .await;
        match result {
            Ok((client, secret)) => Ok(Registered { client, secret, registration_access_token: Some(access_token) }),
            Err(RegistryError::NotFound("initial access token")) => Err(RegistrationError::InvalidToken),
            Err(e) => Err(e.into()),
        }
    }

    /// The client `client_id` when `registration_token` is its registration access token.
    pub async fn read(&self, client_id: &str, registration_token: &str) -> Result<Client, RegistrationError> {
        if !self.policy.enabled {
            return Err(RegistrationError::Disabled);
        }
        let hash = self.hash(registration_token);
        let row = self.db.run(move |conn| ClientRegistrationRow::find_by_token(conn, &hash)).await?;
        if row.is_none_or(|r| r.client_id != client_id) {
            return Err(RegistrationError::InvalidToken);
        }
        self.registry.load_client(client_id).await.map_err(|_| RegistrationError::InvalidToken)
    }

    /// RFC 7592 §2.2: replaces the registration (the same policy as a new one).
    pub async fn update(
        &self,
        client_id: &str,
        registration_token: &str,
        request: ClientMetadataRequest,
    ) -> Result<Registered, RegistrationError> {
        let current = self.read(client_id, registration_token).await?;
        let registration = self.checked(request, Some(client_id))?;
        let by = Actor { name: format!("registration:{client_id}"), meta: Default::default() };
        let (client, secret) = self.registry.update_client(current.id.as_str(), registration, None, &by).await?;
        Ok(Registered { client, secret, registration_access_token: None })
    }

    /// RFC 7592 §2.3: the client deregisters itself.
    pub async fn delete(&self, client_id: &str, registration_token: &str) -> Result<(), RegistrationError> {
        let current = self.read(client_id, registration_token).await?;
        let by = Actor { name: format!("registration:{client_id}"), meta: Default::default() };
        Ok(self.registry.delete_client(current.id.as_str(), &by).await?)
    }

    /// The request as a registration, within the policy.
    fn checked(
        &self,
        request: ClientMetadataRequest,
        updating: Option<&str>,
    ) -> Result<ClientRegistration, RegistrationError> {
        let invalid = |text: &str| RegistrationError::InvalidMetadata(text.to_owned());
        if request.software_statement.is_some() {
            return Err(RegistrationError::SoftwareStatement);
        }
        if request.client_id.as_deref() != updating {
            return Err(invalid("client_id: must be the client's own id on an update, and absent on a registration"));
        }
        if request.jwks_uri.is_some() {
            return Err(invalid("jwks_uri: not supported; send the keys as jwks"));
        }
        if request.response_types.as_ref().is_some_and(|types| types.iter().any(|t| t != "code")) {
            return Err(invalid("response_types: only code"));
        }
        // RFC 7591 §2: the defaults are authorization_code and client_secret_basic.
        let grant_types = request.grant_types.unwrap_or_else(|| vec!["authorization_code".into()]);
        if let Some(refused) = grant_types.iter().find(|g| !self.policy.allowed_grant_types.contains(g)) {
            return Err(RegistrationError::InvalidMetadata(format!("grant_types: {refused} is not allowed here")));
        }
        let scope = request.scope.unwrap_or_else(|| "openid".into());
        if let Some(refused) = scope.split_whitespace().find(|s| !self.policy.allowed_scopes.iter().any(|a| a == s)) {
            return Err(RegistrationError::InvalidMetadata(format!("scope: {refused} is not allowed here")));
        }
        if let Some(refused) = request.resources.iter().find(|r| !self.policy.allowed_resources.contains(r)) {
            return Err(RegistrationError::InvalidMetadata(format!("resources: {refused} is not allowed here")));
        }
        for uri in request.redirect_uris.iter().chain(&request.post_logout_redirect_uris) {
            let scheme = RedirectUri::parse(uri)
                .map_err(|e| RegistrationError::InvalidRedirectUri(format!("redirect_uris: {e}")))?
                .as_str()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            if !self.policy.allowed_redirect_schemes.contains(&scheme) {
                return Err(RegistrationError::InvalidRedirectUri(format!(
                    "redirect_uris: the {scheme} scheme is not allowed here"
                )));
            }
        }
        let method = request.token_endpoint_auth_method.unwrap_or_else(|| "client_secret_basic".into());
        let public = method == "none";
        Ok(ClientRegistration {
            client_name: request.client_name.unwrap_or_else(|| "Dynamically registered client".into()),
            client_type: Some(if public { "public" } else { "confidential" }.into()),
            token_endpoint_auth_method: Some(method),
            grant_types,
            default_resource: None,
            resources: request.resources,
            scope,
            redirect_uris: request.redirect_uris,
            // docs/security.md §3: public clients are DPoP-bound (the registry enforces it too).
            dpop_bound_access_tokens: request.dpop_bound_access_tokens || public,
            jwks: request.jwks,
            id_token_signed_response_alg: request.id_token_signed_response_alg,
            post_logout_redirect_uris: request.post_logout_redirect_uris,
            ..ClientRegistration::default()
        })
    }
}
