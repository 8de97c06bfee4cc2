//! Grants and tokens as an operator ends them (the admin API's `Area::Grants`, `idp grants`):
//! one refresh family, every grant of a user or of a client, an access token by its `jti`.
//!
//! A family is revoked as refresh-token reuse revokes it (`RefreshFamilies`): its current
//! refresh token is gone and the access tokens issued with it join the revoked set every node
//! and every resource server on the shared hot store reads; the durable marks are written in one
//! transaction with the audit event. Access tokens that came without a refresh token (client
//! credentials, a code without `offline_access`) belong to no family: they are revoked by `jti`.

use std::sync::Arc;

use serde::Serialize;

use super::access_tokens::Revocations;
use super::audit::Actor;
use super::refresh_families::{Owner, RefreshError, RefreshFamilies, Revoked};
use super::registry::{Registry, RegistryError};
use crate::clock::SharedClock;
use crate::error::FieldError;
use crate::store::models::{RefreshFamilyRow, UserRow};
use crate::store::{Db, HotStoreError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    /// A value that is refused, named as the admin API's JSON names it.
    #[error("{0}")]
    Invalid(FieldError),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error("the revoked-token set is unavailable: {0}")]
    Hot(#[from] HotStoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// An access token put into the revoked set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevokedToken {
    pub jti: String,
    /// 1 when the token could still be accepted and is now refused, 0 when it had expired.
    pub revoked_access_tokens: usize,
    /// Until when (Unix seconds) the `jti` stays in the revoked set: its `exp`, or when no `exp`
    /// was given, now plus the longest lifetime an access token of this provider may have.
    pub until: i64,
}

#[derive(Clone)]
pub struct Grants {
    db: Db,
    families: RefreshFamilies,
    revocations: Revocations,
    registry: Arc<Registry>,
    clock: SharedClock,
    /// Seconds: the longest any access token of this provider can live (the setting, or the
    /// most a client or resource server may set).
    longest_access_token: i64,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grants")
    }
}

impl Grants {
    pub fn new(
        db: Db,
        families: RefreshFamilies,
        revocations: Revocations,
        registry: Arc<Registry>,
        clock: SharedClock,
        longest_access_token: i64,
    ) -> Self {
        Self { db, families, revocations, registry, clock, longest_access_token }
    }

    /// Revokes one refresh family and its access tokens. A family revoked before counts 0.
    pub async fn revoke_family(&self, family_id: &str, by: &Actor) -> Result<Revoked, GrantsError> {
        let family = self.families.find(family_id).await?.ok_or(GrantsError::NotFound("refresh family"))?;
        let live = match family.revoked_at {
            None => vec![family.family_id.clone()],
            // Its hot-store steps ran before its durable mark was written: nothing is left.
            Some(_) => Vec::new(),
        };
        let mut event = by.event(self.clock.now(), "refresh_family.revoke", format!("refresh_family:{family_id}"));
        event.client_id = Some(family.client_id);
        event.user_id = Some(family.user_id);
        Ok(self.families.revoke_audited(live, event).await?)
    }

    /// Revokes every live grant a user gave (to any client).
    pub async fn revoke_user(&self, user_id: &str, by: &Actor) -> Result<Revoked, GrantsError> {
        let id = user_id.to_owned();
        if self.db.run(move |conn| UserRow::find(conn, &id)).await?.is_none() {
            return Err(GrantsError::NotFound("user"));
        }
        let live = self.families.live_of(Owner::User(user_id.to_owned())).await?;
        let mut event = by.event(self.clock.now(), "user.revoke_grants", format!("user:{user_id}"));
        event.user_id = Some(user_id.to_owned());
        Ok(self.families.revoke_audited(live, event).await?)
    }

    /// Revokes every live grant of a client (of every user). A client deleted since still has
    /// its grants revoked; a client id that nothing knows is not found.
    pub async fn revoke_client(&self, client_id: &str, by: &Actor) -> Result<Revoked, GrantsError> {
        let id = client_id.to_owned();
        let registered = match crate::domain::ClientId::parse(client_id) {
            Ok(parsed) => self.registry.client(&parsed).await?.is_some(),
            Err(_) => false,
        };
        if !registered && !self.db.run(move |conn| RefreshFamilyRow::any_of_client(conn, &id)).await? {
            return Err(GrantsError::NotFound("client"));
        }
        let live = self.families.live_of(Owner::Client(client_id.to_owned())).await?;
        let mut event = by.event(self.clock.now(), "client.revoke_grants", format!("client:{client_id}"));
        event.client_id = Some(client_id.to_owned());
        Ok(self.families.revoke_audited(live, event).await?)
    }

    /// Puts the access token `jti` into the revoked set until `exp` (its expiry, Unix seconds),
    /// or, not knowing it, for as long as any access token may live. An `exp` beyond that is
    /// cut to it: no token of this provider lives longer.
    pub async fn revoke_access_token(
        &self,
        jti: &str,
        exp: Option<i64>,
        by: &Actor,
    ) -> Result<RevokedToken, GrantsError> {
        check_jti(jti)?;
        let now = self.clock.now();
        let longest = now + self.longest_access_token;
        let until = exp.map_or(longest, |exp| exp.min(longest));
        let live = Revocations::could_be_accepted(until, now);
        self.revocations.revoke(jti, until, now).await?;
        let event = by
            .event(now, "access_token.revoke", format!("access_token:{jti}"))
            .detail(serde_json::json!({ "until": until, "exp_given": exp.is_some(), "revoked_access_tokens": usize::from(live) }));
        self.db.run(move |conn| event.insert(conn)).await?;
        Ok(RevokedToken { jti: jti.to_owned(), revoked_access_tokens: usize::from(live), until })
    }
}

/// A token id as this provider and resource servers write them: 1 to 200 visible ASCII
/// characters.
pub fn check_jti(jti: &str) -> Result<(), GrantsError> {
    if jti.is_empty() || jti.len() > 200 || !jti.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(GrantsError::Invalid(FieldError::new("jti", "must be 1 to 200 visible ASCII characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_visible_ascii_of_bounded_length() {
        assert!(check_jti("5f0c2c1e-9a1b-4d7e-8f00-000000000000").is_ok());
        for bad in ["", "with space", "tab\there", &"x".repeat(201), "é"] {
            let Err(GrantsError::Invalid(field)) = check_jti(bad) else { panic!("{bad:?} accepted") };
            assert_eq!(field.field, "jti");
        }
    }
}
