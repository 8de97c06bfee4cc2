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
//!
//! An operator may cut this short (the admin API's `/keys`, `idp keys`): an emergency rotation
//! makes the successor sign at once (a published `next` key is promoted, else one is made), and
//! the old key stays published as `retired`; retiring a key early does the same for the active
//! key, and with `force` (or `--revoke`) the old key is deleted at once, so its tokens stop
//! verifying. Every such change is one transaction with its audit row, announced on
//! [`KEYS_CHANNEL`].
//!
//! The private keys are sealed under the key-encryption key (KEK). To rotate it, every node is
//! given the new `kek` and the old one as `kek.previous` (both open what they sealed, only the
//! new one seals), then [`Keyring::rotate_kek_blocking`] (`idp keys rotate-kek`) re-seals each key
//! under the new KEK, one audited transaction per key, so an interrupted run leaves every key
//! readable and a second run finishes the rest; then `kek.previous` can go.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use diesel::Connection;
use josekit::jws::JwsSigner;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::{SharedClock, UnixTime};
use crate::config::Settings;
use crate::crypto::kek::{DerivationRoot, Kek, KekError};
use crate::crypto::signing::SigningAlg;
use crate::crypto::{b64url, sha256};
use crate::error::FieldError;
use crate::services::audit::Actor;
use crate::store::db::is_unique_violation;
use crate::store::models::{NewAuditEvent, SealedSecretRow, SigningKeyRow};
use crate::store::{Db, HotStore, StoreError};
use idp_verify::jws::{p256_point, Es256PublicKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "the database holds {count} signing key(s) but the key-encryption key {path} is missing; \
         restore that file (every node needs the same one); refusing to create new keys"
    )]
    KekMissing { path: PathBuf, count: usize },
    #[error(
        "the key-encryption key {path} (id {found}) is not the one that sealed the signing keys (id {expected}), \
         nor is a kek.previous beside it"
    )]
    KekMismatch { path: PathBuf, found: String, expected: String },
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid} is unusable: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("no such signing key")]
    NotFound,
    /// Another node or operator changed the keys of the same algorithm meanwhile.
    #[error("the signing keys changed meanwhile; try again")]
    Conflict,
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

/// A published key as operators see it (the admin API's `GET /keys`).
// Times are `i64` (Unix seconds) rather than `UnixTime` here: the OpenAPI document then shows
// them inline as integers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedKey {
    pub kid: String,
    /// ES256, RS256 or EdDSA.
    pub alg: String,
    pub generation: i64,
    /// `next` (published, not yet signing), `active` (signs) or `retired` (published until its
    /// tokens have expired).
    #[schema(example = "active")]
    pub state: &'static str,
    /// When it signs (or signed) from, Unix seconds.
    pub signs_from: i64,
    pub created_at: i64,
    /// Until when a retired key stays in the JWKS (Unix seconds); none while it is next or active.
    pub published_until: Option<i64>,
}

/// An operator's rotation, checked: which algorithms, whether the successor signs at once, and
/// (only then) whether the old key is dropped from the JWKS at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub algs: Vec<SigningAlg>,
    pub now: bool,
    pub revoke: bool,
}

impl Rotation {
    /// From what an operator wrote (the admin API's body, `idp keys rotate` flags); no
    /// algorithm means all. A refusal names the member.
    pub fn parse(algs: &[String], now: bool, revoke: bool) -> Result<Self, FieldError> {
        if revoke && !now {
            return Err(FieldError::new("revoke", "needs now: the old key can go only once its successor signs"));
        }
        let mut parsed = Vec::new();
        for (i, alg) in algs.iter().enumerate() {
            let alg: SigningAlg = alg.parse().map_err(|_| {
                let names: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
                FieldError::new(format!("algs[{i}]"), format!("must be one of {}", names.join(", ")))
            })?;
            if !parsed.contains(&alg) {
                parsed.push(alg);
            }
        }
        if parsed.is_empty() {
            parsed = SigningAlg::ALL.to_vec();
        }
        Ok(Self { algs: parsed, now, revoke })
    }
}

/// The key an emergency rotation or an early retirement took out of signing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplacedKey {
    pub kid: String,
    /// Until when it stays in the JWKS; none when it was dropped at once.
    pub published_until: Option<i64>,
    /// Deleted at once: its tokens no longer verify.
    pub dropped: bool,
}

/// What an early retirement did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Retirement {
    pub kid: String,
    pub alg: String,
    /// Its state before: `next`, `active`, `retired` (or `expired`, not yet cleaned up).
    pub previous_state: &'static str,
    /// The key that signs for its algorithm now, when this one was active.
    pub successor: Option<String>,
    /// Until when it stays in the JWKS; none when it left at once.
    pub published_until: Option<i64>,
    /// Deleted at once (forced, or a `next` key that never signed).
    pub removed: bool,
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

/// What a rotation did for one algorithm.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RotationOutcome {
    /// A successor is published now and signs from `signs_from`.
    Created { kid: String, alg: String, signs_from: i64 },
    /// A successor was already waiting; nothing changed.
    AlreadyPending { kid: String, alg: String, signs_from: i64 },
    /// Emergency rotation: `kid` signs from now (`promoted`: it was the published `next` key).
    SignsNow { kid: String, alg: String, signs_from: i64, promoted: bool, replaced: Option<ReplacedKey> },
}

/// One change to the key table, written with others and their audit rows in one transaction.
#[derive(Debug)]
enum KeyWrite {
    Insert(SigningKeyRow),
    /// A `next` key signs from `to` instead of `from` (refused if it moved meanwhile).
    Promote {
        kid: String,
        from: UnixTime,
        to: UnixTime,
    },
    Delete(String),
}

impl KeyWrite {
    fn describe(&self) -> String {
        match self {
            Self::Insert(row) => format!("created {} ({}), signing from {}", row.kid, row.alg, row.signs_from),
            Self::Promote { kid, to, .. } => format!("{kid} signs from {to}"),
            Self::Delete(kid) => format!("deleted {kid}"),
        }
    }
}

/// What a KEK rotation did (`idp keys rotate-kek`).
#[derive(Debug, Clone, Serialize)]
pub struct KekRotation {
    /// The KEK everything is sealed under now.
    pub kek_id: String,
    /// `kek.previous`, when there is one.
    pub previous_kek_id: Option<String>,
    /// What this run re-sealed: kids, and `derivation_root`.
    pub resealed: Vec<String>,
    /// Already sealed under `kek_id` before this run (by an earlier, interrupted run, or since
    /// created).
    pub already: usize,
}

pub struct Keyring {
    db: Db,
    /// Where key changes are announced to the other nodes (they also re-read on an interval).
    hot: Arc<dyn HotStore>,
    /// Seals new keys and opens what it sealed.
    kek: Kek,
    /// During a KEK rotation: the KEK being replaced, which opens what it sealed.
    previous: Option<Kek>,
    /// Where derived keys come from; sealed in the database beside the signing keys.
    root: DerivationRoot,
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
        let (rows, secrets) = db.run_blocking(|conn| Ok((SigningKeyRow::all(conn)?, SealedSecretRow::all(conn)?)))?;
        let kek_path = Kek::path(keys_dir);
        let kek = match (Kek::load(keys_dir)?, rows.is_empty() && secrets.is_empty()) {
            (Some(kek), _) => kek,
            (None, true) => {
                let kek = Kek::generate_into(keys_dir)?;
                tracing::warn!(path = %kek_path.display(), "generated a new key-encryption key; back it up and give every node the same file");
                kek
            }
            (None, false) => return Err(KeyringError::KekMissing { path: kek_path, count: rows.len() }),
        };
        let previous = Kek::load_previous(keys_dir)?.filter(|previous| previous.id() != kek.id());
        let known = |id: &str| id == kek.id() || previous.as_ref().is_some_and(|p| p.id() == id);
        let sealed_under = rows.iter().map(|row| &row.kek_id).chain(secrets.iter().map(|secret| &secret.kek_id));
        if let Some(unknown) = sealed_under.clone().find(|id| !known(id)) {
            return Err(KeyringError::KekMismatch {
                path: kek_path,
                found: kek.id().to_owned(),
                expected: unknown.clone(),
            });
        }
        if let Some(previous) = &previous {
            let left = sealed_under.filter(|id| *id == previous.id()).count();
            tracing::warn!(
                previous = previous.id(), kek = kek.id(), sealed_under_previous = left,
                "a previous key-encryption key is present: run `idp keys rotate-kek`, then remove kek.previous from every node"
            );
        }
        let root = Self::derivation_root(&db, &kek, previous.as_ref(), &rows, &secrets, clock.now())?;
        let retain = settings.tokens.longest_lifetime() + settings.keys.jwks_max_age + Duration::from_secs(60);
        let keyring = Self {
            db,
            hot,
            kek,
            previous,
            root,
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
                keyring.create_key(alg, 1, now, RotationTrigger::Bootstrap, &Actor::system())?;
            }
        }
        keyring.refresh()?;
        Ok(keyring)
    }

    pub fn kek_id(&self) -> &str {
        self.kek.id()
    }

    /// A key derived for one purpose (from the stored derivation root), the same on every node
    /// and across KEK rotations.
    pub fn derive_key(&self, purpose: &str) -> ring::hmac::Key {
        self.root.derive(purpose)
    }

    /// The KEK that sealed what names `kek_id`: the current one, or `kek.previous`.
    fn kek_for(&self, kek_id: &str) -> Option<&Kek> {
        std::iter::once(&self.kek).chain(&self.previous).find(|kek| kek.id() == kek_id)
    }

    /// The stored derivation root, unsealed; stored first if there is none, as the material of
    /// the KEK that sealed the keys (the current one on a fresh deployment): what the derived
    /// keys (client-secret hashes, DPoP nonces) came from before roots were stored, so a
    /// deployment that predates them keeps its client secrets.
    fn derivation_root(
        db: &Db,
        kek: &Kek,
        previous: Option<&Kek>,
        rows: &[SigningKeyRow],
        secrets: &[SealedSecretRow],
        now: UnixTime,
    ) -> Result<DerivationRoot, KeyringError> {
        let open = |row: &SealedSecretRow| -> Result<DerivationRoot, KeyringError> {
            let bad = |reason: &str| KeyringError::BadKey { kid: row.name.clone(), reason: reason.to_owned() };
            let sealer = std::iter::once(kek)
                .chain(previous)
                .find(|k| k.id() == row.kek_id)
                .ok_or_else(|| bad("sealed under an unknown key-encryption key"))?;
            let bytes = sealer.open(&SealedSecretRow::context(&row.name), &row.sealed)?;
            DerivationRoot::from_bytes(&bytes).ok_or_else(|| bad("not 32 bytes"))
        };
        if let Some(row) = secrets.iter().find(|s| s.name == DerivationRoot::NAME) {
            return open(row);
        }
        let root = match previous {
            Some(previous) if rows.iter().any(|row| row.kek_id == previous.id()) => previous.as_derivation_root(),
            _ => kek.as_derivation_root(),
        };
        let row = SealedSecretRow {
            name: DerivationRoot::NAME.to_owned(),
            sealed: kek.seal(&SealedSecretRow::context(DerivationRoot::NAME), root.expose()),
            kek_id: kek.id().to_owned(),
            created_at: now,
        };
        match db.run_blocking(|conn| row.insert(conn)) {
            Ok(()) => Ok(root),
            // Another node stored it first: use that one.
            Err(StoreError::Query(e)) if is_unique_violation(&e) => {
                let stored = db.run_blocking(|conn| SealedSecretRow::find(conn, DerivationRoot::NAME))?;
                open(&stored.ok_or(KeyringError::Conflict)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Re-seals every signing key and the derivation root that `kek.previous` sealed under the
    /// current KEK, each in one transaction with its `keys.reseal` audit row (written only when
    /// this run changed the row), so an interrupted run loses nothing and the next one finishes.
    /// A `keys.rotate_kek` row marks the run that completed it. Blocking.
    pub fn rotate_kek_blocking(&self, by: &Actor) -> Result<KekRotation, KeyringError> {
        let (rows, secrets) =
            self.db.run_blocking(|conn| Ok((SigningKeyRow::all(conn)?, SealedSecretRow::all(conn)?)))?;
        let to = self.kek.id().to_owned();
        let mut rotation = KekRotation {
            kek_id: to.clone(),
            previous_kek_id: self.previous.as_ref().map(|p| p.id().to_owned()),
            resealed: Vec::new(),
            already: 0,
        };
        let unknown = |id: &str| KeyringError::BadKey {
            kid: id.to_owned(),
            reason: "sealed under a key-encryption key that is neither kek nor kek.previous".into(),
        };
        for row in rows {
            if row.kek_id == to {
                rotation.already += 1;
                continue;
            }
            let from = self.kek_for(&row.kek_id).ok_or_else(|| unknown(&row.kid))?;
            let sealed = self.kek.seal(row.kid.as_bytes(), &from.open(row.kid.as_bytes(), &row.sealed_private_key)?);
            let event = by.event(self.clock.now(), "keys.reseal", format!("key:{}", row.kid)).detail(json!({
                "kid": row.kid, "alg": row.alg, "from_kek": row.kek_id, "to_kek": to,
            }));
            let changed = self.db.run_blocking(|conn| {
                conn.transaction(|conn| {
                    let changed = SigningKeyRow::reseal(conn, &row.kid, &row.kek_id, &sealed, &to)?;
                    if changed == 1 {
                        event.insert(conn)?;
                    }
                    Ok(changed)
                })
            })?;
            if changed == 1 {
                tracing::info!(kid = %row.kid, from = %row.kek_id, to = %to, "re-sealed a signing key");
                rotation.resealed.push(row.kid);
            }
        }
        for secret in secrets {
            if secret.kek_id == to {
                rotation.already += 1;
                continue;
            }
            let from = self.kek_for(&secret.kek_id).ok_or_else(|| unknown(&secret.name))?;
            let context = SealedSecretRow::context(&secret.name);
            let sealed = self.kek.seal(&context, &from.open(&context, &secret.sealed)?);
            let event = by.event(self.clock.now(), "keys.reseal", format!("secret:{}", secret.name)).detail(json!({
                "secret": secret.name, "from_kek": secret.kek_id, "to_kek": to,
            }));
            let changed = self.db.run_blocking(|conn| {
                conn.transaction(|conn| {
                    let changed = SealedSecretRow::reseal(conn, &secret.name, &secret.kek_id, &sealed, &to)?;
                    if changed == 1 {
                        event.insert(conn)?;
                    }
                    Ok(changed)
                })
            })?;
            if changed == 1 {
                rotation.resealed.push(secret.name);
            }
        }
        if !rotation.resealed.is_empty() {
            let event = by.event(self.clock.now(), "keys.rotate_kek", format!("kek:{to}")).detail(json!({
                "kek": to, "previous_kek": rotation.previous_kek_id, "resealed": rotation.resealed.len(),
            }));
            self.db.run_blocking(|conn| event.insert(conn))?;
            tracing::info!(kek = %to, resealed = rotation.resealed.len(), "every key is sealed under the current key-encryption key");
        }
        Ok(rotation)
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

    /// The keys in the JWKS, with their state: what the admin API's `GET /keys` shows.
    pub fn published(&self) -> Vec<PublishedKey> {
        self.list()
            .into_iter()
            .filter(|info| info.state.is_published())
            .map(|info| PublishedKey {
                published_until: match info.state {
                    KeyState::Retired { published_until } => Some(published_until),
                    _ => None,
                },
                state: info.state.name(),
                kid: info.kid,
                alg: info.alg,
                generation: info.generation,
                signs_from: info.signs_from,
                created_at: info.created_at,
            })
            .collect()
    }

    /// Re-reads the key table (picking up keys made by other nodes or the CLI) and rebuilds
    /// the JWKS for the current time. Returns whether the set of keys changed. Blocking.
    pub fn refresh(&self) -> Result<bool, KeyringError> {
        let rows = self.db.run_blocking(SigningKeyRow::all)?;
        let changed = {
            let current = self.keys.load();
            // A promoted key keeps its kid and moves its signs_from.
            rows.len() != current.len()
                || rows.iter().any(|row| !current.iter().any(|k| k.kid == row.kid && k.signs_from == row.signs_from))
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
                    let by = Actor::system();
                    changed |= self.create_key(alg, generation, signs_from, RotationTrigger::Schedule, &by)?.is_some();
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

    /// Operator rotation by the CLI: for each algorithm without a pending key, creates one that
    /// is published now and signs after the publish window. Blocking.
    pub fn rotate_blocking(&self, algs: &[SigningAlg]) -> Result<Vec<RotationOutcome>, KeyringError> {
        let rotation = Rotation { algs: algs.to_vec(), now: false, revoke: false };
        self.rotate_as_blocking(&rotation, &Actor::cli())
    }

    /// Operator rotation. Without `now`, for each algorithm without a pending key, one is
    /// published now and signs after the publish window. With `now` (an emergency), the
    /// successor signs at once: the pending key if there is one (it is already published), else
    /// a new one; the old key stays published until its tokens have expired, or with `revoke`
    /// is deleted at once. Blocking.
    pub fn rotate_as_blocking(&self, rotation: &Rotation, by: &Actor) -> Result<Vec<RotationOutcome>, KeyringError> {
        if rotation.now {
            return self.rotate_now_blocking(rotation, by);
        }
        self.refresh()?;
        let now = self.clock.now();
        let mut outcomes = Vec::new();
        for &alg in &rotation.algs {
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
            if let Some(kid) = self.create_key(alg, generation, signs_from, RotationTrigger::Operator, by)? {
                outcomes.push(RotationOutcome::Created { kid, alg: alg.as_str().into(), signs_from });
            }
        }
        self.refresh()?;
        Ok(outcomes)
    }

    /// Emergency rotation ([`Keyring::rotate_as_blocking`] with `now`): every algorithm's
    /// change and audit row in one transaction.
    fn rotate_now_blocking(&self, rotation: &Rotation, by: &Actor) -> Result<Vec<RotationOutcome>, KeyringError> {
        self.refresh()?;
        let now = self.clock.now();
        let (mut writes, mut events, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
        for &alg in &rotation.algs {
            let active = self.signing_key(alg);
            let (successor, promoted, write) = self.successor_signing_now(alg, now)?;
            writes.push(write);
            let replaced = active.map(|old| {
                if rotation.revoke {
                    writes.push(KeyWrite::Delete(old.kid.clone()));
                }
                let published_until = (!rotation.revoke).then_some(now + self.retain);
                ReplacedKey { kid: old.kid.clone(), published_until, dropped: rotation.revoke }
            });
            events.push(by.event(now, "keys.rotate", format!("key:{successor}")).detail(json!({
                "kid": successor, "alg": alg.as_str(), "signs_from": now, "now": true, "promoted": promoted,
                "replaced": replaced.as_ref().map(|r| &r.kid), "dropped": rotation.revoke,
            })));
            outcomes.push(RotationOutcome::SignsNow {
                kid: successor,
                alg: alg.as_str().to_owned(),
                signs_from: now,
                promoted,
                replaced,
            });
        }
        self.write(writes, &events)?;
        self.refresh()?;
        Ok(outcomes)
    }

    /// Retires `kid` early. An active key stops signing: its successor signs from now (the
    /// pending key, promoted, else a new one). It then leaves the JWKS once nothing it signed can
    /// still be valid, or with `force` at once (its tokens stop verifying). A `next` key never
    /// signed, so it goes at once. Blocking.
    pub fn retire_blocking(&self, kid: &str, force: bool, by: &Actor) -> Result<Retirement, KeyringError> {
        self.refresh()?;
        let now = self.clock.now();
        let info = self.list().into_iter().find(|k| k.kid == kid).ok_or(KeyringError::NotFound)?;
        let alg: SigningAlg =
            info.alg.parse().map_err(|reason| KeyringError::BadKey { kid: kid.to_owned(), reason })?;
        let mut writes = Vec::new();
        let mut successor = None;
        let (published_until, removed) = match info.state {
            KeyState::Active => {
                let (kid, _, write) = self.successor_signing_now(alg, now)?;
                writes.push(write);
                successor = Some(kid);
                (Some(now + self.retain), force)
            }
            KeyState::Retired { published_until } => (Some(published_until), force),
            KeyState::Next | KeyState::Expired => (None, true),
        };
        if removed {
            writes.push(KeyWrite::Delete(kid.to_owned()));
        }
        let retirement = Retirement {
            kid: kid.to_owned(),
            alg: info.alg.clone(),
            previous_state: info.state.name(),
            successor,
            published_until: published_until.filter(|_| !removed),
            removed,
        };
        let event = by.event(now, "keys.retire", format!("key:{kid}")).detail(json!({
            "kid": kid, "alg": info.alg, "force": force, "previous_state": retirement.previous_state,
            "successor": retirement.successor, "published_until": retirement.published_until, "removed": removed,
        }));
        self.write(writes, std::slice::from_ref(&event))?;
        self.refresh()?;
        Ok(retirement)
    }

    /// The key of `alg` that is to sign from `now`: the pending (`next`) one, promoted, or else a
    /// new one. Returns its kid, whether it was promoted, and the write that makes it so.
    fn successor_signing_now(&self, alg: SigningAlg, now: UnixTime) -> Result<(String, bool, KeyWrite), KeyringError> {
        let keys = self.keys.load();
        let pending = keys.iter().filter(|k| k.alg == alg && k.signs_from > now).min_by_key(|k| k.generation);
        if let Some(pending) = pending {
            let write = KeyWrite::Promote { kid: pending.kid.clone(), from: pending.signs_from, to: now };
            return Ok((pending.kid.clone(), true, write));
        }
        let generation = keys.iter().filter(|k| k.alg == alg).map(|k| k.generation).max().unwrap_or(0) + 1;
        let row = self.new_row(alg, generation, now)?;
        Ok((row.kid.clone(), false, KeyWrite::Insert(row)))
    }

    /// Applies `writes` and inserts `events` in one transaction. Another change to the same
    /// keys meanwhile (a generation taken, a promoted key moved, a key gone) is a conflict and
    /// changes nothing.
    fn write(&self, writes: Vec<KeyWrite>, events: &[NewAuditEvent]) -> Result<(), KeyringError> {
        let written = self.db.run_blocking(|conn| {
            conn.transaction(|conn| {
                for write in &writes {
                    let changed = match write {
                        KeyWrite::Insert(row) => row.insert(conn).map(|()| 1)?,
                        KeyWrite::Promote { kid, from, to } => SigningKeyRow::move_signs_from(conn, kid, *from, *to)?,
                        KeyWrite::Delete(kid) => SigningKeyRow::delete(conn, std::slice::from_ref(kid))?,
                    };
                    if changed != 1 {
                        return Err(diesel::result::Error::NotFound);
                    }
                }
                for event in events {
                    event.insert(conn)?;
                }
                Ok(())
            })
        });
        match written {
            Ok(()) => {
                let changes: Vec<String> = writes.iter().map(KeyWrite::describe).collect();
                tracing::info!(?changes, "signing keys changed by an operator");
                Ok(())
            }
            Err(StoreError::Query(e)) if is_unique_violation(&e) || matches!(e, diesel::result::Error::NotFound) => {
                Err(KeyringError::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A new key of `alg`, generated and sealed, not yet stored.
    fn new_row(&self, alg: SigningAlg, generation: i64, signs_from: UnixTime) -> Result<SigningKeyRow, KeyringError> {
        let generated =
            alg.generate().map_err(|e| KeyringError::BadKey { kid: "(new)".into(), reason: e.to_string() })?;
        Ok(SigningKeyRow {
            kid: generated.kid.clone(),
            alg: alg.as_str().to_owned(),
            generation,
            public_jwk: Value::Object(generated.public_jwk).to_string(),
            sealed_private_key: self.kek.seal(generated.kid.as_bytes(), &generated.private_der),
            kek_id: self.kek.id().to_owned(),
            created_at: self.clock.now(),
            signs_from,
        })
    }

    /// Generates, seals and stores a key with an audit event. `None` when another node stored
    /// this generation first.
    fn create_key(
        &self,
        alg: SigningAlg,
        generation: i64,
        signs_from: UnixTime,
        trigger: RotationTrigger,
        by: &Actor,
    ) -> Result<Option<String>, KeyringError> {
        let row = self.new_row(alg, generation, signs_from)?;
        let now = self.clock.now();
        let audit = by.event(now, "keys.create", format!("key:{}", row.kid)).detail(json!({
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
            if let Some(key) = current.get(&row.kid).filter(|key| key.signs_from == row.signs_from) {
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
        let Some(kek) = self.kek_for(&row.kek_id) else {
            return Err(bad(format!("sealed under another key-encryption key (id {})", row.kek_id)));
        };
        let alg: SigningAlg = row.alg.parse().map_err(bad)?;
        let der = kek.open(row.kid.as_bytes(), &row.sealed_private_key)?;
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

    /// Operator rotation ([`Keyring::rotate_as_blocking`]) off the async workers, announced.
    pub async fn rotate(
        self: &Arc<Self>,
        rotation: Rotation,
        by: &Actor,
    ) -> Result<Vec<RotationOutcome>, KeyringError> {
        let (keyring, by) = (self.clone(), by.clone());
        let outcomes = tokio::task::spawn_blocking(move || keyring.rotate_as_blocking(&rotation, &by))
            .await
            .map_err(|e| KeyringError::Store(StoreError::from(e)))??;
        self.announce().await;
        Ok(outcomes)
    }

    /// Early retirement ([`Keyring::retire_blocking`]) off the async workers, announced.
    pub async fn retire(self: &Arc<Self>, kid: &str, force: bool, by: &Actor) -> Result<Retirement, KeyringError> {
        let (keyring, kid, by) = (self.clone(), kid.to_owned(), by.clone());
        let retirement = tokio::task::spawn_blocking(move || keyring.retire_blocking(&kid, force, &by))
            .await
            .map_err(|e| KeyringError::Store(StoreError::from(e)))??;
        self.announce().await;
        Ok(retirement)
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
    fn a_rotation_is_every_algorithm_by_default_and_revoke_needs_now() {
        assert_eq!(Rotation::parse(&[], false, false).unwrap().algs, SigningAlg::ALL.to_vec());
        let one = Rotation::parse(&["ES256".into(), "ES256".into()], true, true).unwrap();
        assert_eq!((one.algs, one.now, one.revoke), (vec![SigningAlg::Es256], true, true));
        assert_eq!(Rotation::parse(&[], false, true).unwrap_err().field, "revoke");
        let refused = Rotation::parse(&["ES256".into(), "HS256".into()], false, false).unwrap_err();
        assert_eq!(
            (refused.field.as_str(), refused.message.as_str()),
            ("algs[1]", "must be one of ES256, RS256, EdDSA")
        );
    }

    #[test]
    fn a_promoted_successor_retires_its_predecessor_from_then() {
        // The pending key (generation 2, due at 1000) promoted to sign from 50.
        let keys = times(&[(1, 0), (2, 50)]);
        assert_eq!(lifecycle(&keys, 60, 30), vec![KeyState::Retired { published_until: 80 }, KeyState::Active]);
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
