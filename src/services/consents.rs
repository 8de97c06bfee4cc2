//! Consents: what a user allowed a client, kept durably so the same request does not ask again,
//! and withdrawn with the grants they allowed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::refresh_families::{RefreshError, RefreshFamilies};
use super::registry::client::OIDC_SCOPES;
use super::registry::Registry;
use crate::clock::SharedClock;
use crate::domain::{ResourceIndicator, ScopeSet};
use crate::services::audit::Actor;
use crate::store::models::{ConsentRow, NewAuditEvent, RefreshFamilyRow};
use crate::store::{Db, StoreError};

/// What a consent allows: OpenID Connect scopes, and per resource server the scopes at it.
/// Kept per resource so that `read` allowed at one API and `write` at another never add up to
/// `write` at the first (OIDC Core §3.1.2.4, RFC 9700 §4.14.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsentGrant {
    pub scopes: BTreeSet<String>,
    pub resources: BTreeMap<String, BTreeSet<String>>,
}

impl ConsentGrant {
    /// What a request for `scope` at `resources` asks the user to allow.
    pub fn requested(registry: &Registry, scope: &ScopeSet, resources: &[ResourceIndicator]) -> Self {
        let scopes =
            scope.iter().filter(|s| OIDC_SCOPES.contains(&s.as_str())).map(|s| s.as_str().to_owned()).collect();
        let resources = resources
            .iter()
            .map(|r| {
                let at_resource = match registry.resource(r.as_str()) {
                    Some(server) => scope.intersection(&server.scopes).iter().map(|s| s.as_str().to_owned()).collect(),
                    None => BTreeSet::new(),
                };
                (r.as_str().to_owned(), at_resource)
            })
            .collect();
        Self { scopes, resources }
    }

    fn from_row(row: &ConsentRow) -> Self {
        Self {
            scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
            resources: serde_json::from_str(&row.resources).unwrap_or_default(),
        }
    }

    /// Whether this grant allows everything `asked` asks for.
    pub fn covers(&self, asked: &ConsentGrant) -> bool {
        asked.scopes.is_subset(&self.scopes)
            && asked
                .resources
                .iter()
                .all(|(resource, scopes)| self.resources.get(resource).is_some_and(|g| scopes.is_subset(g)))
    }

    fn merge(&mut self, other: ConsentGrant) {
        self.scopes.extend(other.scopes);
        for (resource, scopes) in other.resources {
            self.resources.entry(resource).or_default().extend(scopes);
        }
    }
}

/// A consent as an operator or the user sees it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GrantedConsent {
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    /// Per resource server, the scopes allowed there.
    pub resources: BTreeMap<String, BTreeSet<String>>,
    pub granted_at: i64,
}

/// What withdrawing a consent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// Whether a consent was stored.
    pub existed: bool,
    /// Refresh grants revoked.
    pub revoked_grants: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("consents unavailable: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

/// The consents.
#[derive(Debug, Clone)]
pub struct Consents {
    db: Db,
    registry: Arc<Registry>,
    families: RefreshFamilies,
    clock: SharedClock,
}

impl Consents {
    pub fn new(db: Db, registry: Arc<Registry>, families: RefreshFamilies, clock: SharedClock) -> Self {
        Self { db, registry, families, clock }
    }

    /// What a request for `scope` at `resources` asks the user to allow.
    pub fn requested(&self, scope: &ScopeSet, resources: &[ResourceIndicator]) -> ConsentGrant {
        ConsentGrant::requested(&self.registry, scope, resources)
    }

    /// Whether a remembered consent of `user_id` to `client_id` covers `asked`.
    pub async fn covers(&self, user_id: &str, client_id: &str, asked: &ConsentGrant) -> Result<bool, ConsentError> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        let remembered = self.db.run(move |conn| ConsentRow::find(conn, &user, &client)).await?;
        Ok(remembered.is_some_and(|row| ConsentGrant::from_row(&row).covers(asked)))
    }

    /// Stores `granted`, merged with what the user allowed this client before, with its audit
    /// event in the same transaction.
    pub async fn remember(
        &self,
        user_id: &str,
        client_id: &str,
        granted: ConsentGrant,
        event: NewAuditEvent,
    ) -> Result<(), ConsentError> {
        let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
        let (db, now) = (self.db.clone(), self.clock.now());
        tokio::task::spawn_blocking(move || {
            db.write_audited(&event, |conn| {
                let mut all = ConsentRow::find(conn, &user_id, &client_id)?
                    .map(|row| ConsentGrant::from_row(&row))
                    .unwrap_or_default();
                all.merge(granted);
                ConsentRow {
                    user_id: user_id.clone(),
                    client_id: client_id.clone(),
                    scopes: serde_json::to_string(&all.scopes).unwrap_or_else(|_| "[]".into()),
                    resources: serde_json::to_string(&all.resources).unwrap_or_else(|_| "{}".into()),
                    granted_at: now,
                }
                .replace(conn)
            })
        })
        .await
        .map_err(StoreError::from)??;
        Ok(())
    }

    /// The consents a user gave.
    pub async fn list(&self, user_id: &str) -> Result<Vec<GrantedConsent>, ConsentError> {
        let id = user_id.to_owned();
        let rows = self.db.run(move |conn| ConsentRow::for_user(conn, &id)).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let grant = ConsentGrant::from_row(&row);
                GrantedConsent {
                    client_id: row.client_id,
                    scopes: grant.scopes,
                    resources: grant.resources,
                    granted_at: row.granted_at,
                }
            })
            .collect())
    }

    /// Withdraws a user's consent for a client: the next authorization asks again, and the
    /// refresh tokens the consent allowed (with their access tokens) are revoked. Audited with
    /// the deletion, in one transaction.
    pub async fn withdraw(&self, user_id: &str, client_id: &str, by: &Actor) -> Result<Withdrawal, ConsentError> {
        let (user, client, now) = (user_id.to_owned(), client_id.to_owned(), self.clock.now());
        let audit = NewAuditEvent {
            user_id: Some(user.clone()),
            client_id: Some(client.clone()),
            ..by.event(now, "consent.withdraw", format!("user:{user}"))
                .detail(serde_json::json!({ "client_id": client }))
        };
        let db = self.db.clone();
        let (existed, families) = tokio::task::spawn_blocking(move || {
            db.write_audited(&audit, |conn| {
                let existed = ConsentRow::delete(conn, &user, &client)? > 0;
                let families = RefreshFamilyRow::live_for(conn, &user, &client)?;
                Ok((existed, families))
            })
        })
        .await
        .map_err(StoreError::from)??;
        for family in &families {
            self.families.revoke(family).await?;
        }
        Ok(Withdrawal { existed, revoked_grants: families.len() })
    }
}
