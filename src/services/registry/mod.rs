//! What is registered with the provider: clients (with their secrets and keys) and resource
//! servers. Reads on the hot path come from memory; every change bumps a version in the
//! database (and is announced on the hot store), and each node drops its cache when it sees a
//! new version, so a change is in force on every node within a second.

pub mod client;
pub mod resource;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use diesel::Connection;
use ring::hmac;

pub use client::{Client, ClientMetadata, ClientRegistration, ClientSecret};
pub use resource::{ResourceRegistration, ResourceServer, MAX_ACCESS_TOKEN_LIFETIME};

use crate::clock::SharedClock;
use crate::domain::ClientId;
use crate::error::FieldError;
use crate::services::audit::{changed_fields, Actor};
use crate::store::models::{ClientRow, ClientSecretRow, NewAuditEvent, RegistryVersion, ResourceServerRow};
use crate::store::{Db, DbConnection, HotStore, StoreError};

/// Hot-store channel on which a node announces a registry change.
pub const REGISTRY_CHANNEL: &str = "registry";

/// Unknown client ids remembered per node (so a flood of made-up ids does not reach SQL), at most.
const UNKNOWN_CLIENTS_CACHED: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A registration member that is refused, named as the admin API's JSON names it.
    #[error("{0}")]
    Invalid(FieldError),
    #[error("{0} already exists")]
    Conflict(String),
    /// A resource server that clients still name cannot go.
    #[error("{0}")]
    InUse(String),
    /// The caller's `If-Match` is not the current ETag (RFC 9110 §13.1.1).
    #[error("the {0} changed since it was read")]
    Stale(&'static str),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored {what} is invalid: {reason}")]
    Corrupt { what: String, reason: String },
}

impl RegistryError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }
}

/// A strong ETag (RFC 9110 §8.8.3) of a representation: the first 128 bits of its SHA-256.
pub fn etag_of(representation: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, representation);
    format!("\"{}\"", crate::crypto::b64url(&digest.as_ref()[..16]))
}

/// `If-Match` as the caller sent it: `None` (no precondition), `*`, or a list of ETags.
fn precondition_holds(if_match: Option<&str>, current: &str) -> bool {
    match if_match {
        None => true,
        Some(list) => list.split(',').map(str::trim).any(|tag| tag == "*" || tag == current),
    }
}

impl From<diesel::result::Error> for RegistryError {
    fn from(e: diesel::result::Error) -> Self {
        RegistryError::Store(StoreError::Query(e))
    }
}

pub struct Registry {
    db: Db,
    /// Where changes are announced to the other nodes (they also poll the version).
    hot: Arc<dyn HotStore>,
    clock: SharedClock,
    secret_key: hmac::Key,
    clients: DashMap<String, Option<Arc<Client>>>,
    resources: ArcSwap<HashMap<String, Arc<ResourceServer>>>,
    origins: ArcSwap<HashSet<String>>,
    version: AtomicI64,
    /// One reload at a time, so a slow reload never installs older data over a newer one.
    reloading: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("version", &self.version.load(Ordering::Relaxed))
            .field("clients_cached", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Loads resource servers and registered origins. Blocking.
    pub fn open(
        db: Db,
        hot: Arc<dyn HotStore>,
        clock: SharedClock,
        secret_key: hmac::Key,
    ) -> Result<Self, RegistryError> {
        let registry = Self {
            db,
            hot,
            clock,
            secret_key,
            clients: DashMap::new(),
            resources: ArcSwap::from_pointee(HashMap::new()),
            origins: ArcSwap::from_pointee(HashSet::new()),
            version: AtomicI64::new(i64::MIN),
            reloading: std::sync::Mutex::new(()),
        };
        registry.reload_if_changed()?;
        Ok(registry)
    }

    /// The client with this id, from memory when this node has seen it. The id is a parsed
    /// [`ClientId`], so text that cannot be one (a NUL byte, which PostgreSQL refuses to take)
    /// never reaches the store: callers answer it as an unknown client (issue 10).
    pub async fn client(&self, client_id: &ClientId) -> Result<Option<Arc<Client>>, RegistryError> {
        let client_id = client_id.as_str();
        if let Some(cached) = self.clients.get(client_id) {
            return Ok(cached.clone());
        }
        let version = self.version.load(Ordering::Acquire);
        let id = client_id.to_owned();
        let loaded = self
            .db
            .run(move |conn| {
                let Some(row) = ClientRow::find(conn, &id)? else { return Ok(None) };
                let secrets = ClientSecretRow::of_client(conn, &id)?;
                Ok(Some((row, secrets)))
            })
            .await?;
        let client = match loaded {
            Some((row, secrets)) => Some(Arc::new(Client::from_rows(row, secrets)?)),
            None => None,
        };
        // A change that landed while we read must not be overwritten by what we read.
        let unchanged = self.version.load(Ordering::Acquire) == version;
        if unchanged && (client.is_some() || self.clients.len() < UNKNOWN_CLIENTS_CACHED) {
            self.clients.insert(client_id.to_owned(), client.clone());
        }
        Ok(client)
    }

    pub fn resource(&self, identifier: &str) -> Option<Arc<ResourceServer>> {
        self.resources.load().get(identifier).cloned()
    }

    /// Whether any client registered this web origin (decides CORS preflights, which carry no
    /// client credentials; the actual request is checked against its own client).
    pub fn origin_registered(&self, origin: &str) -> bool {
        self.origins.load().contains(origin)
    }

    /// The keyed SHA-256 under which client secrets are stored.
    pub fn hash_secret(&self, secret: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.secret_key, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Drops what this node cached if the registry changed anywhere. Blocking.
    pub fn reload_if_changed(&self) -> Result<bool, RegistryError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let version = self.db.run_blocking(RegistryVersion::current)?;
        if version == self.version.load(Ordering::Acquire) {
            return Ok(false);
        }
        let (resources, clients) =
            self.db.run_blocking(|conn| Ok((ResourceServerRow::all(conn)?, ClientRow::all(conn)?)))?;
        let resources = resources
            .into_iter()
            .map(|row| ResourceServer::from_row(row).map(|r| (r.identifier.as_str().to_owned(), Arc::new(r))))
            .collect::<Result<HashMap<_, _>, _>>()?;
        let mut origins = HashSet::new();
        for row in &clients {
            let listed: Vec<String> = serde_json::from_str(&row.web_origins).unwrap_or_default();
            origins.extend(listed);
        }
        self.resources.store(Arc::new(resources));
        self.origins.store(Arc::new(origins));
        self.version.store(version, Ordering::Release);
        self.clients.clear();
        Ok(true)
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Runs an operator change in one transaction with its version bump and audit event, then
    /// reloads this node. Blocking.
    fn change<T>(
        &self,
        audit: NewAuditEvent,
        apply: impl FnOnce(&mut DbConnection) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let result = self.db.run_blocking(|conn| {
            Ok(conn.transaction::<_, RegistryError, _>(|conn| {
                let value = apply(conn)?;
                RegistryVersion::bump(conn)?;
                audit.insert(conn)?;
                Ok(value)
            }))
        })??;
        self.reload_if_changed()?;
        Ok(result)
    }

    /// As [`Registry::change`], for a change that decides its audit event as it goes (what it
    /// changed is known only once the current row is read inside the transaction). Blocking.
    fn change_with<T>(
        &self,
        apply: impl FnOnce(&mut DbConnection) -> Result<(NewAuditEvent, T), RegistryError>,
    ) -> Result<T, RegistryError> {
        let result = self.db.run_blocking(|conn| {
            Ok(conn.transaction::<_, RegistryError, _>(|conn| {
                let (audit, value) = apply(conn)?;
                RegistryVersion::bump(conn)?;
                audit.insert(conn)?;
                Ok(value)
            }))
        })??;
        self.reload_if_changed()?;
        Ok(result)
    }

    fn create_resource_blocking(
        &self,
        registration: ResourceRegistration,
        by: &Actor,
    ) -> Result<ResourceServer, RegistryError> {
        let now = self.now();
        let row = registration.into_row(now, now)?;
        let identifier = row.identifier.clone();
        let audit = by.event(now, "resource.create", format!("resource:{identifier}"));
        self.change(audit, |conn| {
            row.insert(conn).map_err(|e| conflict_or(e, &format!("resource server {identifier}")))
        })?;
        self.resource(&identifier).map(|r| (*r).clone()).ok_or(RegistryError::NotFound("resource server"))
    }

    fn update_resource_blocking(
        &self,
        identifier: &str,
        mut registration: ResourceRegistration,
        if_match: Option<&str>,
        by: &Actor,
    ) -> Result<ResourceServer, RegistryError> {
        if registration.identifier.is_empty() {
            registration.identifier = identifier.to_owned();
        } else if registration.identifier != identifier {
            return Err(RegistryError::invalid("identifier", "cannot change; register a new resource server"));
        }
        let now = self.now();
        let target = format!("resource:{identifier}");
        let audit = by.event(now, "resource.update", target);
        self.change_with(|conn| {
            let stored =
                ResourceServerRow::find(conn, identifier)?.ok_or(RegistryError::NotFound("resource server"))?;
            let created_at = stored.created_at;
            let current = ResourceServer::from_row(stored)?;
            if !precondition_holds(if_match, &current.etag()) {
                return Err(RegistryError::Stale("resource server"));
            }
            let before = serde_json::to_value(current.registration()).unwrap_or_default();
            let row = registration.into_row(created_at, now)?;
            let after = serde_json::to_value(ResourceServer::from_row(row.clone())?.registration()).unwrap_or_default();
            row.update(conn)?;
            Ok((audit.detail(serde_json::json!({ "changed": changed_fields(&before, &after) })), ()))
        })?;
        self.resource(identifier).map(|r| (*r).clone()).ok_or(RegistryError::NotFound("resource server"))
    }

    fn delete_resource_blocking(&self, identifier: &str, by: &Actor) -> Result<(), RegistryError> {
        let now = self.now();
        let audit = by.event(now, "resource.delete", format!("resource:{identifier}"));
        self.change(audit, |conn| {
            let users = ClientRow::all(conn)?
                .into_iter()
                .filter(|c| {
                    serde_json::from_str::<Vec<String>>(&c.resources)
                        .unwrap_or_default()
                        .iter()
                        .any(|r| r == identifier)
                })
                .count();
            if users > 0 {
                return Err(RegistryError::InUse(format!(
                    "{users} client(s) may still get tokens for this resource server; remove it from them first"
                )));
            }
            match ResourceServerRow::delete(conn, identifier)? {
                0 => Err(RegistryError::NotFound("resource server")),
                _ => Ok(()),
            }
        })
    }

    pub fn resources(&self) -> Vec<Arc<ResourceServer>> {
        let mut all: Vec<_> = self.resources.load().values().cloned().collect();
        all.sort_by(|a, b| a.identifier.as_str().cmp(b.identifier.as_str()));
        all
    }

    /// Registers a client; returns it and, for secret-based authentication, its secret, which
    /// is shown this once and stored only as a keyed hash.
    fn create_client_blocking(
        &self,
        registration: ClientRegistration,
        by: &Actor,
        also: impl FnOnce(&mut DbConnection, &str) -> Result<(), RegistryError>,
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        let now = self.now();
        let client_id = crate::domain::ClientId::generate()
            .map_err(|_| RegistryError::Store(StoreError::Migration("no system randomness for a client id".into())))?;
        let row = registration.into_row(&client_id, now, now, &self.resources.load())?;
        let secret = client::wants_secret(&row).then(ClientSecret::generate);
        let secret_row = secret.as_ref().map(|s| self.secret_row(client_id.as_str(), s, now));
        let audit = NewAuditEvent {
            client_id: Some(client_id.as_str().to_owned()),
            ..by.event(now, "client.create", format!("client:{client_id}"))
        };
        self.change(audit, |conn| {
            row.insert(conn).map_err(|e| conflict_or(e, "client"))?;
            if let Some(secret_row) = &secret_row {
                secret_row.insert(conn)?;
            }
            also(conn, client_id.as_str())
        })?;
        let client = self.load_client_blocking(client_id.as_str())?;
        Ok((client, secret))
    }

    /// Replaces a client's registration (its id and secrets stay). A client that now
    /// authenticates with a secret and has none live gets one, returned this once.
    fn update_client_blocking(
        &self,
        client_id: &str,
        registration: ClientRegistration,
        if_match: Option<&str>,
        by: &Actor,
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        let now = self.now();
        let resources = self.resources.load();
        let audit = NewAuditEvent {
            client_id: Some(client_id.to_owned()),
            ..by.event(now, "client.update", format!("client:{client_id}"))
        };
        let secret = self.change_with(|conn| {
            let row = ClientRow::find(conn, client_id)?.ok_or(RegistryError::NotFound("client"))?;
            let current = Client::from_rows(row, ClientSecretRow::of_client(conn, client_id)?)?;
            if !precondition_holds(if_match, &current.etag()) {
                return Err(RegistryError::Stale("client"));
            }
            let before = serde_json::to_value(current.registration()).unwrap_or_default();
            let row = registration.into_row(&current.id, current.created_at, now, &resources)?;
            let after =
                serde_json::to_value(Client::from_rows(row.clone(), Vec::new())?.registration()).unwrap_or_default();
            row.update(conn)?;
            let secret = (client::wants_secret(&row) && !current.has_live_secret(now)).then(ClientSecret::generate);
            if let Some(secret) = &secret {
                self.secret_row(client_id, secret, now).insert(conn)?;
            }
            let audit = audit.detail(serde_json::json!({
                "changed": changed_fields(&before, &after),
                "secret_issued": secret.is_some(),
            }));
            Ok((audit, secret))
        })?;
        Ok((self.load_client_blocking(client_id)?, secret))
    }

    /// A new secret; the previous ones stay valid for `overlap_seconds`.
    fn rotate_secret_blocking(
        &self,
        client_id: &str,
        overlap_seconds: i64,
        by: &Actor,
    ) -> Result<ClientSecret, RegistryError> {
        let client = self.load_client_blocking(client_id)?;
        if !client.auth_method.is_secret_based() {
            return Err(RegistryError::invalid(
                "token_endpoint_auth_method",
                format!("the client authenticates with {}, not a secret", client.auth_method),
            ));
        }
        if !(0..=30 * 86_400).contains(&overlap_seconds) {
            return Err(RegistryError::invalid("overlap", "must be 0 to 30 days"));
        }
        let now = self.now();
        let secret = ClientSecret::generate();
        let row = self.secret_row(client_id, &secret, now);
        let audit = NewAuditEvent {
            client_id: Some(client_id.to_owned()),
            ..by.event(now, "client.secret.rotate", format!("client:{client_id}"))
                .detail(serde_json::json!({ "overlap_seconds": overlap_seconds }))
        };
        self.change(audit, |conn| {
            ClientSecretRow::expire_current(conn, client_id, now + overlap_seconds)?;
            row.insert(conn)?;
            Ok(())
        })?;
        Ok(secret)
    }

    fn set_enabled_blocking(&self, client_id: &str, enabled: bool, by: &Actor) -> Result<Client, RegistryError> {
        let mut row =
            self.db.run_blocking(|conn| ClientRow::find(conn, client_id))?.ok_or(RegistryError::NotFound("client"))?;
        let now = self.now();
        row.enabled = enabled;
        row.updated_at = now;
        let action = if enabled { "client.enable" } else { "client.disable" };
        let audit = NewAuditEvent {
            client_id: Some(client_id.to_owned()),
            ..by.event(now, action, format!("client:{client_id}"))
        };
        self.change(audit, |conn| Ok(row.update(conn)?))?;
        self.load_client_blocking(client_id)
    }

    fn delete_client_blocking(&self, client_id: &str, by: &Actor) -> Result<(), RegistryError> {
        let now = self.now();
        let audit = NewAuditEvent {
            client_id: Some(client_id.to_owned()),
            ..by.event(now, "client.delete", format!("client:{client_id}"))
        };
        self.change(audit, |conn| {
            ClientSecretRow::delete_of_client(conn, client_id)?;
            match ClientRow::delete(conn, client_id)? {
                0 => Err(RegistryError::NotFound("client")),
                _ => Ok(()),
            }
        })
    }

    /// Clients ordered by id, after `after`, at most `limit`: a page of a stable listing (a
    /// client created meanwhile lands in its place by id, and no page repeats one).
    fn clients_page_blocking(&self, after: Option<&str>, limit: i64) -> Result<Vec<Client>, RegistryError> {
        let rows = self.db.run_blocking(|conn| {
            let mut page = Vec::new();
            for row in ClientRow::page(conn, after, limit)? {
                let secrets = ClientSecretRow::of_client(conn, &row.client_id)?;
                page.push((row, secrets));
            }
            Ok(page)
        })?;
        rows.into_iter().map(|(row, secrets)| Client::from_rows(row, secrets)).collect()
    }

    fn list_clients_blocking(&self) -> Result<Vec<Client>, RegistryError> {
        let rows = self.db.run_blocking(|conn| {
            let mut all = Vec::new();
            for row in ClientRow::all(conn)? {
                let secrets = ClientSecretRow::of_client(conn, &row.client_id)?;
                all.push((row, secrets));
            }
            Ok(all)
        })?;
        rows.into_iter().map(|(row, secrets)| Client::from_rows(row, secrets)).collect()
    }

    fn load_client_blocking(&self, client_id: &str) -> Result<Client, RegistryError> {
        let (row, secrets) = self.db.run_blocking(|conn| {
            let row = ClientRow::find(conn, client_id)?;
            let secrets = ClientSecretRow::of_client(conn, client_id)?;
            Ok((row, secrets))
        })?;
        Client::from_rows(row.ok_or(RegistryError::NotFound("client"))?, secrets)
    }

    fn secret_row(&self, client_id: &str, secret: &ClientSecret, now: i64) -> ClientSecretRow {
        ClientSecretRow {
            secret_id: uuid::Uuid::new_v4().to_string(),
            client_id: client_id.to_owned(),
            secret_hash: crate::crypto::b64url(&self.hash_secret(secret.expose())),
            created_at: now,
            expires_at: None,
        }
    }
}

/// The changes: each runs off the async workers, is audited with its write, and is announced
/// to every node (which reloads at once instead of at its next poll).
impl Registry {
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        call: impl FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let registry = self.clone();
        tokio::task::spawn_blocking(move || call(&registry)).await.map_err(StoreError::from)?
    }

    async fn change_announced<T: Send + 'static>(
        self: &Arc<Self>,
        call: impl FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let result = self.blocking(call).await;
        if let Err(e) = self.hot.publish(REGISTRY_CHANNEL, b"changed").await {
            tracing::warn!(error = %e, "could not announce a registry change; nodes see it at their next poll");
        }
        result
    }

    pub async fn create_resource(
        self: &Arc<Self>,
        registration: ResourceRegistration,
        by: &Actor,
    ) -> Result<ResourceServer, RegistryError> {
        let by = by.clone();
        self.change_announced(move |r| r.create_resource_blocking(registration, &by)).await
    }

    /// Replaces a resource server's registration when `if_match` (an `If-Match` header value)
    /// holds; its identifier stays.
    pub async fn update_resource(
        self: &Arc<Self>,
        identifier: &str,
        registration: ResourceRegistration,
        if_match: Option<String>,
        by: &Actor,
    ) -> Result<ResourceServer, RegistryError> {
        let (identifier, by) = (identifier.to_owned(), by.clone());
        self.change_announced(move |r| r.update_resource_blocking(&identifier, registration, if_match.as_deref(), &by))
            .await
    }

    /// Removes a resource server no client names any more.
    pub async fn delete_resource(self: &Arc<Self>, identifier: &str, by: &Actor) -> Result<(), RegistryError> {
        let (identifier, by) = (identifier.to_owned(), by.clone());
        self.change_announced(move |r| r.delete_resource_blocking(&identifier, &by)).await
    }

    /// Registers a client; returns it and, for secret-based authentication, its secret, which
    /// is shown this once and stored only as a keyed hash.
    pub async fn create_client(
        self: &Arc<Self>,
        registration: ClientRegistration,
        by: &Actor,
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        let by = by.clone();
        self.change_announced(move |r| r.create_client_blocking(registration, &by, |_, _| Ok(()))).await
    }

    /// As [`Registry::create_client`], with `also` run in the same transaction once the client
    /// row is in (given its new id): what must land with the client or not at all.
    pub async fn create_client_with(
        self: &Arc<Self>,
        registration: ClientRegistration,
        by: &Actor,
        also: impl FnOnce(&mut DbConnection, &str) -> Result<(), RegistryError> + Send + 'static,
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        let by = by.clone();
        self.change_announced(move |r| r.create_client_blocking(registration, &by, also)).await
    }

    /// Replaces a client's registration when `if_match` holds. Its id and secrets stay; a
    /// client that now needs a secret and has none gets one, returned this once.
    pub async fn update_client(
        self: &Arc<Self>,
        client_id: &str,
        registration: ClientRegistration,
        if_match: Option<String>,
        by: &Actor,
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        let (id, by) = (client_id.to_owned(), by.clone());
        self.change_announced(move |r| r.update_client_blocking(&id, registration, if_match.as_deref(), &by)).await
    }

    /// A new secret; the previous ones stay valid for `overlap_seconds` (0 to 30 days).
    pub async fn rotate_secret(
        self: &Arc<Self>,
        client_id: &str,
        overlap_seconds: i64,
        by: &Actor,
    ) -> Result<ClientSecret, RegistryError> {
        let (id, by) = (client_id.to_owned(), by.clone());
        self.change_announced(move |r| r.rotate_secret_blocking(&id, overlap_seconds, &by)).await
    }

    pub async fn set_enabled(
        self: &Arc<Self>,
        client_id: &str,
        enabled: bool,
        by: &Actor,
    ) -> Result<Client, RegistryError> {
        let (id, by) = (client_id.to_owned(), by.clone());
        self.change_announced(move |r| r.set_enabled_blocking(&id, enabled, &by)).await
    }

    pub async fn delete_client(self: &Arc<Self>, client_id: &str, by: &Actor) -> Result<(), RegistryError> {
        let (id, by) = (client_id.to_owned(), by.clone());
        self.change_announced(move |r| r.delete_client_blocking(&id, &by)).await
    }

    /// A page of clients by id, read from the database: those after `after`, at most `limit`.
    pub async fn clients_page(
        self: &Arc<Self>,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<Client>, RegistryError> {
        self.blocking(move |r| r.clients_page_blocking(after.as_deref(), limit)).await
    }

    /// Every client, read from the database (not this node's cache).
    pub async fn list_clients(self: &Arc<Self>) -> Result<Vec<Client>, RegistryError> {
        self.blocking(|r| r.list_clients_blocking()).await
    }

    /// One client, read from the database (not this node's cache).
    pub async fn load_client(self: &Arc<Self>, client_id: &str) -> Result<Client, RegistryError> {
        let id = client_id.to_owned();
        self.blocking(move |r| r.load_client_blocking(&id)).await
    }
}

fn conflict_or(e: diesel::result::Error, what: &str) -> RegistryError {
    if crate::store::db::is_unique_violation(&e) {
        RegistryError::Conflict(what.to_owned())
    } else {
        e.into()
    }
}
