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

pub use client::{Client, ClientRegistration, ClientSecret};
pub use resource::{ResourceRegistration, ResourceServer};

use crate::clock::SharedClock;
use crate::domain::ClientId;
use crate::store::models::{ClientRow, ClientSecretRow, NewAuditEvent, RegistryVersion, ResourceServerRow};
use crate::store::{Db, DbConnection, HotStore, StoreError};

/// Hot-store channel on which a node announces a registry change.
pub const REGISTRY_CHANNEL: &str = "registry";

/// Unknown client ids remembered per node (so a flood of made-up ids does not reach SQL), at most.
const UNKNOWN_CLIENTS_CACHED: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored {what} is invalid: {reason}")]
    Corrupt { what: String, reason: String },
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

    fn create_resource_blocking(&self, registration: ResourceRegistration) -> Result<ResourceServer, RegistryError> {
        let now = self.now();
        let row = registration.into_row(now)?;
        let identifier = row.identifier.clone();
        let audit = NewAuditEvent::new(now, "resource.create", "success")
            .detail(serde_json::json!({ "identifier": identifier }));
        self.change(audit, |conn| {
            row.insert(conn).map_err(|e| conflict_or(e, &format!("resource server {identifier}")))
        })?;
        self.resource(&identifier).map(|r| (*r).clone()).ok_or(RegistryError::NotFound("resource server"))
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
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        let now = self.now();
        let row = registration.into_row(now, &self.resources.load())?;
        let client_id = row.client_id.clone();
        let secret = client::wants_secret(&row).then(ClientSecret::generate);
        let secret_row = secret.as_ref().map(|s| self.secret_row(&client_id, s, now));
        let audit = NewAuditEvent::new(now, "client.create", "success");
        let audit = NewAuditEvent { client_id: Some(client_id.clone()), ..audit };
        self.change(audit, |conn| {
            row.insert(conn).map_err(|e| conflict_or(e, "client"))?;
            if let Some(secret_row) = &secret_row {
                secret_row.insert(conn)?;
            }
            Ok(())
        })?;
        let client = self.load_client_blocking(&client_id)?;
        Ok((client, secret))
    }

    /// A new secret; the previous ones stay valid for `overlap_seconds`.
    fn rotate_secret_blocking(&self, client_id: &str, overlap_seconds: i64) -> Result<ClientSecret, RegistryError> {
        let client = self.load_client_blocking(client_id)?;
        if !client.auth_method.is_secret_based() {
            return Err(RegistryError::Invalid(format!(
                "client {client_id} authenticates with {}, not a secret",
                client.auth_method
            )));
        }
        let now = self.now();
        let secret = ClientSecret::generate();
        let row = self.secret_row(client_id, &secret, now);
        let audit = NewAuditEvent::new(now, "client.secret.rotate", "success")
            .detail(serde_json::json!({ "overlap_seconds": overlap_seconds }));
        let audit = NewAuditEvent { client_id: Some(client_id.to_owned()), ..audit };
        self.change(audit, |conn| {
            ClientSecretRow::expire_current(conn, client_id, now + overlap_seconds.max(0))?;
            row.insert(conn)?;
            Ok(())
        })?;
        Ok(secret)
    }

    fn set_enabled_blocking(&self, client_id: &str, enabled: bool) -> Result<Client, RegistryError> {
        let mut row =
            self.db.run_blocking(|conn| ClientRow::find(conn, client_id))?.ok_or(RegistryError::NotFound("client"))?;
        let now = self.now();
        row.enabled = enabled;
        row.updated_at = now;
        let action = if enabled { "client.enable" } else { "client.disable" };
        let audit =
            NewAuditEvent { client_id: Some(client_id.to_owned()), ..NewAuditEvent::new(now, action, "success") };
        self.change(audit, |conn| Ok(row.update(conn)?))?;
        self.load_client_blocking(client_id)
    }

    fn delete_client_blocking(&self, client_id: &str) -> Result<(), RegistryError> {
        let now = self.now();
        let audit = NewAuditEvent {
            client_id: Some(client_id.to_owned()),
            ..NewAuditEvent::new(now, "client.delete", "success")
        };
        self.change(audit, |conn| {
            ClientSecretRow::delete_of_client(conn, client_id)?;
            match ClientRow::delete(conn, client_id)? {
                0 => Err(RegistryError::NotFound("client")),
                _ => Ok(()),
            }
        })
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
    ) -> Result<ResourceServer, RegistryError> {
        self.change_announced(move |r| r.create_resource_blocking(registration)).await
    }

    /// Registers a client; returns it and, for secret-based authentication, its secret, which
    /// is shown this once and stored only as a keyed hash.
    pub async fn create_client(
        self: &Arc<Self>,
        registration: ClientRegistration,
    ) -> Result<(Client, Option<ClientSecret>), RegistryError> {
        self.change_announced(move |r| r.create_client_blocking(registration)).await
    }

    /// A new secret; the previous ones stay valid for `overlap_seconds`.
    pub async fn rotate_secret(
        self: &Arc<Self>,
        client_id: &str,
        overlap_seconds: i64,
    ) -> Result<ClientSecret, RegistryError> {
        let id = client_id.to_owned();
        self.change_announced(move |r| r.rotate_secret_blocking(&id, overlap_seconds)).await
    }

    pub async fn set_enabled(self: &Arc<Self>, client_id: &str, enabled: bool) -> Result<Client, RegistryError> {
        let id = client_id.to_owned();
        self.change_announced(move |r| r.set_enabled_blocking(&id, enabled)).await
    }

    pub async fn delete_client(self: &Arc<Self>, client_id: &str) -> Result<(), RegistryError> {
        let id = client_id.to_owned();
        self.change_announced(move |r| r.delete_client_blocking(&id)).await
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
