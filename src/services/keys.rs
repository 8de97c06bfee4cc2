//! The signing keys of the provider and their lifecycle.
//!
//! Each algorithm has a sequence of keys (generations). A key's state follows from the clock
//! and its successor, so every node computes the same answer without coordination:
//!
//! - `next`: published in the JWKS, not yet signing (`now < signs_from`);
//! - `active`: the newest generation whose `signs_from` has passed; it signs;
//! - `retired`: superseded, still published until every token it signed has expired;
//! - `expired`: past that, dropped from the JWKS and deleted by maintenance.
//!
//! A new key is created `publish_window` (≥ the JWKS cache lifetime) before it signs, so a
//! verifier holding a cached JWKS never meets an unknown `kid`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use josekit::jws::JwsSigner;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::{SharedClock, UnixTime};
use crate::config::Settings;
use crate::crypto::kek::{Kek, KekError};
use crate::crypto::signing::SigningAlg;
use crate::crypto::{b64url, sha256};
use crate::store::db::is_unique_violation;
use crate::store::models::{NewAuditEvent, SigningKeyRow};
use crate::store::{Db, HotStore, StoreError};
use idp_verify::jws::{p256_point, Es256PublicKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "the database holds {count} signing key(s) but the key-encryption key {path} is missing; \
         restore that file (every node needs the same one); refusing to create new keys"
    )]
    KekMissing { path: PathBuf, count: usize },
    #[error("the key-encryption key {path} (id {found}) is not the one that sealed the signing keys (id {expected})")]
    KekMismatch { path: PathBuf, found: String, expected: String },
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid} is unusable: {reason}")]
    BadKey { kid: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum KeyState {
    Next,
    Active,
    Retired { published_until: UnixTime },
    Expired,
}

impl KeyState {
    pub fn is_published(self) -> bool {
        !matches!(self, KeyState::Expired)
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired { .. } => "retired",
            KeyState::Expired => "expired",
        }
    }
}

/// When each generation of one algorithm's keys signs.
#[derive(Debug, Clone, Copy)]
pub struct KeyTimes {
    pub generation: i64,
    pub signs_from: UnixTime,
}

/// The state of each key of one algorithm (`keys` sorted by generation), at `now`, when retired
/// keys stay published for `retain` seconds after their successor starts signing.
pub fn lifecycle(keys: &[KeyTimes], now: UnixTime, retain: i64) -> Vec<KeyState> {
    let active = keys.iter().rposition(|k| k.signs_from <= now);
    keys.iter()
        .enumerate()
        .map(|(i, _)| match active {
            Some(a) if i == a => KeyState::Active,
            Some(a) if i < a => {
                let published_until = keys[i + 1].signs_from + retain;
                if now < published_until {
                    KeyState::Retired { published_until }
                } else {
                    KeyState::Expired
                }
            }
            _ => KeyState::Next,
        })
        .collect()
}

/// A key ready to sign: the private part decrypted, held only in memory.
pub struct LoadedKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub generation: i64,
    pub signs_from: UnixTime,
    pub created_at: UnixTime,
    pub public_jwk: Map<String, Value>,
    pub signer: Box<dyn JwsSigner>,
    /// ES256 through ring: the access-token hot path signs and verifies without OpenSSL's
    /// per-call provider lookups and locks.
    pub es256: Option<Es256Key>,
}

pub struct Es256Key {
    pair: ring::signature::EcdsaKeyPair,
    public: Es256PublicKey,
    rng: ring::rand::SystemRandom,
}

impl Es256Key {
    /// From the DER that OpenSSL wrote and the stored public JWK: ring takes the scalar and the
    /// point, not OpenSSL's encoding.
    fn from_der(der: &[u8], public_jwk: &Map<String, Value>) -> Result<Self, String> {
        use josekit::jwk::KeyPair;
        let private_jwk = josekit::jwk::alg::ec::EcKeyPair::from_der(der, Some(josekit::jwk::alg::ec::EcCurve::P256))
            .map_err(|e| e.to_string())?
            .to_jwk_private_key();
        let scalar = private_jwk
            .parameter("d")
            .and_then(Value::as_str)
            .and_then(|d| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, d).ok())
            .ok_or("the private key has no readable d")?;
        let point = p256_point(public_jwk).ok_or("the public JWK is not a P-256 point")?;
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &scalar,
            &point,
            &rng,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self { pair, public: Es256PublicKey::from_point(point), rng })
    }

    /// JWS ES256 signature (r || s, 64 bytes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.pair.sign(&self.rng, message).map(|s| s.as_ref().to_vec()).map_err(|e| e.to_string())
    }

    pub fn public(&self) -> &Es256PublicKey {
        &self.public
    }
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// What `idp keys list` shows of a key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    #[serde(flatten)]
    pub state: KeyState,
    pub signs_from: UnixTime,
    pub created_at: UnixTime,
}

/// The JWKS as served: body bytes and their strong ETag, rebuilt when keys or states change.
#[derive(Debug, Clone)]
pub struct JwksDocument {
    pub body: Bytes,
    pub etag: String,
}

/// Why a key was created, for the audit log.
#[derive(Debug, Clone, Copy)]
pub enum RotationTrigger {
    Bootstrap,
    Schedule,
    Operator,
}

impl RotationTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap",
            Self::Schedule => "schedule",
            Self::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RotationOutcome {
    Created { kid: String, alg: String, signs_from: UnixTime },
    AlreadyPending { kid: String, alg: String, signs_from: UnixTime },
}

pub struct Keyring {
    db: Db,
    /// Where key changes are announced to the other nodes (they also re-read on an interval).
    hot: Arc<dyn HotStore>,
    kek: Kek,
    clock: SharedClock,
    rotate_every: i64,
    publish_window: i64,
    retain: i64,
    keys: ArcSwap<Vec<Arc<LoadedKey>>>,
    jwks: ArcSwap<JwksDocument>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("keys", &self.keys.load().len()).finish_non_exhaustive()
    }
}

impl Keyring {
    /// Loads the keys from the database and unseals them. On an empty database (first start)
    /// it creates the KEK if absent and one active key per algorithm; with keys present it
    /// never creates a KEK: a missing or different one is an error. Blocking.
    pub fn open(
        db: Db,
        hot: Arc<dyn HotStore>,
        keys_dir: &Path,
        clock: SharedClock,
        settings: &Settings,
    ) -> Result<Self, KeyringError> {
        let rows = db.run_blocking(SigningKeyRow::all)?;
        let kek_path = Kek::path(keys_dir);
        let kek = match (Kek::load(keys_dir)?, rows.is_empty()) {
            (Some(kek), _) => kek,
            (None, true) => {
                let kek = Kek::generate_into(keys_dir)?;
                tracing::warn!(path = %kek_path.display(), "generated a new key-encryption key; back it up and give every node the same file");
                kek
            }
            (None, false) => return Err(KeyringError::KekMissing { path: kek_path, count: rows.len() }),
        };
        if let Some(row) = rows.iter().find(|row| row.kek_id != kek.id()) {
            return Err(KeyringError::KekMismatch {
                path: kek_path,
                found: kek.id().to_owned(),
                expected: row.kek_id.clone(),
            });
        }
        let retain = settings.tokens.longest_lifetime() + settings.keys.jwks_max_age + Duration::from_secs(60);
        let keyring = Self {
            db,
            hot,
            kek,
            clock,
            rotate_every: settings.keys.rotate_every.as_secs() as i64,
            publish_window: settings.keys.publish_window.as_secs() as i64,
            retain: retain.as_secs() as i64,
            keys: ArcSwap::from_pointee(Vec::new()),
            jwks: ArcSwap::from_pointee(JwksDocument { body: Bytes::new(), etag: String::new() }),
        };
        keyring.install(rows)?;
        let now = keyring.clock.now();
        for alg in SigningAlg::ALL {
            if !keyring.keys.load().iter().any(|k| k.alg == alg) {
                keyring.create_key(alg, 1, now, RotationTrigger::Bootstrap)?;
            }
        }
        keyring.refresh()?;
        Ok(keyring)
    }

    pub fn kek_id(&self) -> &str {
        self.kek.id()
    }

    /// A key derived from the KEK for one purpose, the same on every node.
    pub fn derive_key(&self, purpose: &str) -> ring::hmac::Key {
        self.kek.derive(purpose)
    }

    /// The key that signs for `alg` now.
    pub fn signing_key(&self, alg: SigningAlg) -> Option<Arc<LoadedKey>> {
        let now = self.clock.now();
        self.keys.load().iter().filter(|k| k.alg == alg && k.signs_from <= now).max_by_key(|k| k.generation).cloned()
    }

    /// The key with this `kid` if it is published now (next, active or retired), for verifying
    /// this provider's own tokens. No allocation: it runs for every introspection.
    pub fn verification_key(&self, kid: &str) -> Option<Arc<LoadedKey>> {
        let keys = self.keys.load();
        let key = keys.iter().find(|k| k.kid == kid)?;
        let now = self.clock.now();
        let successor = keys
            .iter()
            .filter(|k| k.alg == key.alg && k.generation > key.generation && k.signs_from <= now)
            .map(|k| k.signs_from)
            .min();
        match successor {
            Some(retired_at) if now >= retired_at + self.retain => None,
            _ => Some(key.clone()),
        }
    }

    pub fn jwks(&self) -> Arc<JwksDocument> {
        self.jwks.load_full()
    }

    pub fn list(&self) -> Vec<KeyInfo> {
        let keys = self.keys.load();
        let now = self.clock.now();
        let mut infos = Vec::with_capacity(keys.len());
        for alg in SigningAlg::ALL {
            let of_alg: Vec<&Arc<LoadedKey>> = keys.iter().filter(|k| k.alg == alg).collect();
            let times: Vec<KeyTimes> =
                of_alg.iter().map(|k| KeyTimes { generation: k.generation, signs_from: k.signs_from }).collect();
            for (key, state) in of_alg.iter().zip(lifecycle(&times, now, self.retain)) {
                infos.push(KeyInfo {
                    kid: key.kid.clone(),
                    alg: alg.as_str().to_owned(),
                    generation: key.generation,
                    state,
                    signs_from: key.signs_from,
                    created_at: key.created_at,
                });
            }
        }
        infos
    }

    /// Re-reads the key table (picking up keys made by other nodes or the CLI) and rebuilds
    /// the JWKS for the current time. Returns whether the set of keys changed. Blocking.
    pub fn refresh(&self) -> Result<bool, KeyringError> {
        let rows = self.db.run_blocking(SigningKeyRow::all)?;
        let changed = {
            let current = self.keys.load();
            rows.len() != current.len() || rows.iter().zip(current.iter()).any(|(row, key)| row.kid != key.kid)
        };
        if changed {
            self.install(rows)?;
        }
        self.rebuild_jwks();
        Ok(changed)
    }

    /// Scheduled upkeep: starts the successor of an active key that is due to rotate, and
    /// deletes expired keys. Returns whether the key table changed; [`Keyring::refresh`] then
    /// loads what changed. Blocking.
    pub fn maintain(&self) -> Result<bool, KeyringError> {
        let now = self.clock.now();
        let mut changed = false;
        for alg in SigningAlg::ALL {
            let keys = self.keys.load();
            let of_alg: Vec<&Arc<LoadedKey>> = keys.iter().filter(|k| k.alg == alg).collect();
            let times: Vec<KeyTimes> =
                of_alg.iter().map(|k| KeyTimes { generation: k.generation, signs_from: k.signs_from }).collect();
            let states = lifecycle(&times, now, self.retain);
            let has_next = states.contains(&KeyState::Next);
            let active = of_alg.iter().zip(&states).find(|(_, s)| **s == KeyState::Active).map(|(k, _)| *k);
            if let (Some(active), false) = (active, has_next) {
                let due = active.signs_from + self.rotate_every;
                if now >= due - self.publish_window {
                    let generation = of_alg.last().map_or(1, |k| k.generation + 1);
                    let signs_from = due.max(now + self.publish_window);
                    changed |= self.create_key(alg, generation, signs_from, RotationTrigger::Schedule)?.is_some();
                }
            }
            let expired: Vec<String> = of_alg
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s == KeyState::Expired)
                .map(|(k, _)| k.kid.clone())
                .collect();
            if !expired.is_empty() {
                let removed = self.db.run_blocking(|conn| SigningKeyRow::delete(conn, &expired))?;
                tracing::info!(alg = %alg, kids = ?expired, "removed expired signing keys");
                changed |= removed > 0;
            }
        }
        Ok(changed)
    }

    /// Operator rotation: for each algorithm without a pending key, creates one that is
    /// published now and signs after the publish window. Blocking.
    pub fn rotate_blocking(&self, algs: &[SigningAlg]) -> Result<Vec<RotationOutcome>, KeyringError> {
        self.refresh()?;
        let now = self.clock.now();
        let mut outcomes = Vec::new();
        for &alg in algs {
            let pending = self.keys.load().iter().find(|k| k.alg == alg && k.signs_from > now).cloned();
            if let Some(pending) = pending {
                outcomes.push(RotationOutcome::AlreadyPending {
                    kid: pending.kid.clone(),
                    alg: alg.as_str().into(),
                    signs_from: pending.signs_from,
                });
                continue;
            }
            let generation =
                self.keys.load().iter().filter(|k| k.alg == alg).map(|k| k.generation).max().unwrap_or(0) + 1;
            let signs_from = now + self.publish_window;
            if let Some(kid) = self.create_key(alg, generation, signs_from, RotationTrigger::Operator)? {
                outcomes.push(RotationOutcome::Created { kid, alg: alg.as_str().into(), signs_from });
            }
        }
        self.refresh()?;
        Ok(outcomes)
    }

    /// Generates, seals and stores a key with an audit event. `None` when another node stored
    /// this generation first.
    fn create_key(
        &self,
        alg: SigningAlg,
        generation: i64,
        signs_from: UnixTime,
        trigger: RotationTrigger,
    ) -> Result<Option<String>, KeyringError> {
        let generated =
            alg.generate().map_err(|e| KeyringError::BadKey { kid: "(new)".into(), reason: e.to_string() })?;
        let now = self.clock.now();
        let row = SigningKeyRow {
            kid: generated.kid.clone(),
            alg: alg.as_str().to_owned(),
            generation,
            public_jwk: Value::Object(generated.public_jwk).to_string(),
            sealed_private_key: self.kek.seal(generated.kid.as_bytes(), &generated.private_der),
            kek_id: self.kek.id().to_owned(),
            created_at: now,
            signs_from,
        };
        let audit = NewAuditEvent::new(now, "keys.create", "success").detail(json!({
            "kid": row.kid, "alg": row.alg, "generation": generation,
            "signs_from": signs_from, "trigger": trigger.as_str(),
        }));
        let stored = self.db.write_audited(&audit, |conn| row.insert(conn));
        match stored {
            Ok(()) => {
                tracing::info!(kid = %row.kid, alg = %alg, generation, signs_from, trigger = trigger.as_str(), "created signing key");
                Ok(Some(row.kid))
            }
            Err(StoreError::Query(e)) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Unseals rows not yet in memory (reusing the ones that are) and swaps the key set in.
    fn install(&self, rows: Vec<SigningKeyRow>) -> Result<(), KeyringError> {
        let current: HashMap<String, Arc<LoadedKey>> =
            self.keys.load().iter().map(|k| (k.kid.clone(), k.clone())).collect();
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(key) = current.get(&row.kid) {
                keys.push(key.clone());
                continue;
            }
            keys.push(Arc::new(self.unseal(row)?));
        }
        keys.sort_by_key(|k| (k.alg, k.generation));
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    fn unseal(&self, row: SigningKeyRow) -> Result<LoadedKey, KeyringError> {
        let bad = |reason: String| KeyringError::BadKey { kid: row.kid.clone(), reason };
        if row.kek_id != self.kek.id() {
            return Err(bad(format!("sealed under another key-encryption key (id {})", row.kek_id)));
        }
        let alg: SigningAlg = row.alg.parse().map_err(bad)?;
        let der = self.kek.open(row.kid.as_bytes(), &row.sealed_private_key)?;
        let signer = alg.signer_from_der(&der).map_err(|e| bad(e.to_string()))?;
        let public_jwk = match serde_json::from_str::<Value>(&row.public_jwk) {
            Ok(Value::Object(map)) => map,
            _ => return Err(bad("public JWK is not a JSON object".into())),
        };
        let es256 = match alg {
            SigningAlg::Es256 => Some(Es256Key::from_der(&der, &public_jwk).map_err(bad)?),
            _ => None,
        };
        Ok(LoadedKey {
            es256,
            kid: row.kid.clone(),
            alg,
            generation: row.generation,
            signs_from: row.signs_from,
            created_at: row.created_at,
            public_jwk,
            signer,
        })
    }

    fn rebuild_jwks(&self) {
        let keys = self.keys.load();
        let published: Vec<&Map<String, Value>> = self
            .list()
            .iter()
            .filter(|info| info.state.is_published())
            .filter_map(|info| keys.iter().find(|k| k.kid == info.kid))
            .map(|k| &k.public_jwk)
            .collect();
        let body = json!({ "keys": published }).to_string();
        if body.as_bytes() == self.jwks.load().body.as_ref() {
            return;
        }
        let etag = format!("\"{}\"", &b64url(&sha256(body.as_bytes()))[..27]);
        self.jwks.store(Arc::new(JwksDocument { body: Bytes::from(body), etag }));
    }
}

/// Hot-store channel on which nodes announce that the key table changed.
pub const KEYS_CHANNEL: &str = "keys";

/// The changes, each announced to every node (which re-read the key table at once instead of
/// at their next interval).
impl Keyring {
    async fn announce(&self) {
        if let Err(e) = self.hot.publish(KEYS_CHANNEL, b"changed").await {
            tracing::warn!(error = %e, "could not announce a key change; nodes see it at their next refresh");
        }
    }

    /// Operator rotation ([`Keyring::rotate_blocking`]) off the async workers, announced.
    pub async fn rotate(self: &Arc<Self>, algs: Vec<SigningAlg>) -> Result<Vec<RotationOutcome>, KeyringError> {
        let keyring = self.clone();
        let outcomes = tokio::task::spawn_blocking(move || keyring.rotate_blocking(&algs))
            .await
            .map_err(|e| KeyringError::Store(StoreError::from(e)))??;
        self.announce().await;
        Ok(outcomes)
    }

    /// Scheduled upkeep: rotates on schedule, drops expired keys and re-reads the table;
    /// announces when this node changed it.
    pub async fn upkeep(self: &Arc<Self>) -> Result<(), KeyringError> {
        let keyring = self.clone();
        let rotated = tokio::task::spawn_blocking(move || {
            let rotated = keyring.maintain()?;
            keyring.refresh()?;
            Ok::<bool, KeyringError>(rotated)
        })
        .await
        .map_err(|e| KeyringError::Store(StoreError::from(e)))??;
        if rotated {
            self.announce().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(list: &[(i64, i64)]) -> Vec<KeyTimes> {
        list.iter().map(|&(generation, signs_from)| KeyTimes { generation, signs_from }).collect()
    }

    #[test]
    fn a_key_waits_as_next_until_its_time_then_retires_its_predecessor() {
        let keys = times(&[(1, 0), (2, 100)]);
        assert_eq!(lifecycle(&keys, 50, 30), vec![KeyState::Active, KeyState::Next]);
        assert_eq!(lifecycle(&keys, 100, 30), vec![KeyState::Retired { published_until: 130 }, KeyState::Active]);
        assert_eq!(lifecycle(&keys, 130, 30), vec![KeyState::Expired, KeyState::Active]);
    }

    #[test]
    fn the_newest_key_whose_time_has_come_is_the_only_active_one() {
        let keys = times(&[(1, 0), (2, 10), (3, 20)]);
        let states = lifecycle(&keys, 25, 100);
        assert_eq!(states.iter().filter(|s| **s == KeyState::Active).count(), 1);
        assert_eq!(states[2], KeyState::Active);
        assert_eq!(states[0], KeyState::Retired { published_until: 110 });
    }
}
