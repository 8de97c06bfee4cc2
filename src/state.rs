//! The state every edge receives (HTTP handlers, pages, the CLI): settings, stores, the
//! services over them, and the clock. A node connects it once at start; it sits below the edges
//! and above the services, so nothing here reaches up into a handler.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::SharedClock;
use crate::config::{RedisUrl, Settings};
use crate::crypto::nonce::NonceIssuer;
use crate::services::access_tokens::signing::VerifiedTokens;
use crate::services::access_tokens::Revocations;
use crate::services::audit::{AuditLog, AuditTrail};
use crate::services::codes::Codes;
use crate::services::consents::Consents;
use crate::services::grants::Grants;
use crate::services::groups::Groups;
use crate::services::keys::{Keyring, KeyringError};
use crate::services::rate_limits::RateLimits;
use crate::services::refresh_families::{RefreshFamilies, RefreshPolicy};
use crate::services::registration::DynamicRegistration;
use crate::services::registry::{Registry, MAX_ACCESS_TOKEN_LIFETIME};
use crate::services::sign_in_limits::SignInLimits;
use crate::services::users::Users;
use crate::store::hot::{MemoryStore, Opener, RedisOptions, RedisSafety, RedisStore};
use crate::store::{Db, HotStore};
use crate::telemetry::Metrics;

/// Why a node's state could not be connected (for `serve`, or any command that needs the
/// stores): one line naming the setting to look at. `serve` says "cannot start" in front.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("`database_url` (IDP_DATABASE_URL): {0}")]
    Database(String),
    #[error("`redis_url` (IDP_REDIS_URL): {0}")]
    HotStore(String),
    /// Redis may lose the provider's keys and `redis_require_safe_config` says to refuse that.
    #[error("`redis_require_safe_config` (IDP_REDIS_REQUIRE_SAFE_CONFIG): {0}")]
    UnsafeHotStore(String),
    #[error("`keys_dir` (IDP_KEYS_DIR): {0}")]
    Keys(#[from] KeyringError),
    #[error("`listen` (IDP_LISTEN): {0}")]
    Listen(std::io::Error),
    #[error("`metrics_listen` (IDP_METRICS_LISTEN): {0}")]
    MetricsListen(std::io::Error),
}

/// Everything a node shares between its workers.
#[derive(Clone, Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub hot: Arc<dyn HotStore>,
    pub keyring: Arc<Keyring>,
    pub registry: Arc<Registry>,
    pub users: Users,
    pub nonces: Arc<NonceIssuer>,
    /// Signatures of access tokens already checked (introspection hot path).
    pub verified_tokens: Arc<VerifiedTokens>,
    pub audit: AuditLog,
    /// Reading the audit trail (the admin API, `idp audit list`).
    pub audit_trail: AuditTrail,
    pub revocations: Revocations,
    pub refresh_families: RefreshFamilies,
    /// Operators' revocations of grants and access tokens.
    pub grants: Grants,
    pub codes: Codes,
    pub consents: Consents,
    pub groups: Groups,
    pub registration: DynamicRegistration,
    pub sign_in_limits: SignInLimits,
    pub rate_limits: RateLimits,
    pub endpoints: Arc<Endpoints>,
    pub clock: SharedClock,
    pub metrics: Metrics,
    pub(crate) shutdown: Arc<watch::Sender<bool>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Absolute URLs of this provider's endpoints, from the configured issuer (never from request
/// headers, RFC 9700 §4.13).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub token: String,
    pub introspection: String,
    pub revocation: String,
    pub par: String,
    pub userinfo: String,
}

impl Endpoints {
    fn new(settings: &Settings) -> Self {
        let issuer = &settings.issuer;
        Self {
            token: issuer.endpoint("/token"),
            introspection: issuer.endpoint("/introspect"),
            revocation: issuer.endpoint("/revoke"),
            par: issuer.endpoint("/par"),
            userinfo: issuer.endpoint("/userinfo"),
        }
    }
}

/// Connects to Redis as the settings say, then checks that Redis keeps what it is given: warns,
/// or refuses with `redis_require_safe_config`, when it may evict or forget keys.
async fn connect_redis(settings: &Settings, url: &RedisUrl) -> Result<RedisStore, StartupError> {
    let options = RedisOptions {
        password: settings.redis_password.as_ref().map(|p| p.expose().to_owned()),
        ca_pem: settings.redis_ca.as_ref().map(|file| file.pem.clone()),
        client_identity: settings
            .redis_client_cert
            .as_ref()
            .zip(settings.redis_client_key.as_ref())
            .map(|(cert, key)| (cert.pem.clone(), key.pem.clone())),
    };
    let store = RedisStore::connect_with(url.as_str(), &options, &settings.redis_prefix)
        .await
        .map_err(|e| StartupError::HotStore(format!("{}: {e}", url.redacted())))?;
    match store.safety().await {
        RedisSafety::Safe => {}
        RedisSafety::Unsafe(problems) if settings.redis_require_safe_config => {
            return Err(StartupError::UnsafeHotStore(format!(
                "Redis at {} may lose the provider's state: {}",
                url.redacted(),
                problems.join("; ")
            )))
        }
        RedisSafety::Unsafe(problems) => tracing::warn!(
            redis.url = %url.redacted(),
            problems = %problems.join("; "),
            "Redis may lose the provider's state: set maxmemory-policy noeviction and turn on AOF or RDB \
             persistence (docs/operations.md, Redis); redis_require_safe_config = true refuses to start instead"
        ),
        RedisSafety::Unknown(reason) => tracing::warn!(
            redis.url = %url.redacted(),
            reason = %reason,
            "could not check Redis's eviction policy and persistence; make sure maxmemory-policy is noeviction \
             and persistence is on (docs/operations.md, Redis)"
        ),
    }
    Ok(store)
}

impl AppState {
    /// Connects the stores and opens the keyring, for a serving node. Redis is asked first and
    /// the KEK is written last, so a start that fails on an unreachable backend writes nothing.
    pub async fn connect(settings: Settings, clock: SharedClock) -> Result<Self, StartupError> {
        Self::connect_as(settings, clock, Opener::Node).await
    }

    /// As [`AppState::connect`], for a command run beside a node (`idp users …`, `idp grants …`):
    /// the embedded hot store then reads what a node wrote and announces what it changes.
    pub async fn connect_command(settings: Settings, clock: SharedClock) -> Result<Self, StartupError> {
        Self::connect_as(settings, clock, Opener::Command).await
    }

    async fn connect_as(settings: Settings, clock: SharedClock, opener: Opener) -> Result<Self, StartupError> {
        let redis = match &settings.redis_url {
            Some(url) => Some(connect_redis(&settings, url).await?),
            None => None,
        };
        let database = settings.database.clone();
        let pool_size = settings.database_pool_size;
        let db = tokio::task::spawn_blocking(move || Db::connect(&database, pool_size))
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?
            .map_err(StartupError::Database)?;
        let applied = db.migrate().await.map_err(|e| StartupError::Database(e.to_string()))?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, backend = db.backend_name(), "applied database migrations");
        }
        // Without Redis, the keyspaces a restart must not forget are kept in the database too.
        let hot: Arc<dyn HotStore> = match redis {
            Some(redis) => Arc::new(redis),
            None => Arc::new(
                MemoryStore::durable(db.clone(), opener).await.map_err(|e| StartupError::Database(e.to_string()))?,
            ),
        };
        let keyring = {
            let (db, hot, dir, clock, settings) =
                (db.clone(), hot.clone(), settings.keys_dir.clone(), clock.clone(), settings.clone());
            tokio::task::spawn_blocking(move || Keyring::open(db, hot, &dir, clock, &settings))
                .await
                .map_err(|e| StartupError::Database(e.to_string()))??
        };
        let registry = {
            let (db, hot, clock, key) = (db.clone(), hot.clone(), clock.clone(), keyring.derive_key("client secrets"));
            tokio::task::spawn_blocking(move || Registry::open(db, hot, clock, key))
                .await
                .map_err(|e| StartupError::Database(e.to_string()))?
                .map_err(|e| StartupError::Database(e.to_string()))?
        };
        let nonces = NonceIssuer::new(keyring.derive_key("dpop nonces"));
        let (shutdown, stopped) = watch::channel(false);
        let (audit, audit_writer) = AuditLog::start(db.clone(), clock.clone(), stopped);
        let registry = Arc::new(registry);
        let revocations = Revocations::new(hot.clone());
        let tokens = &settings.tokens;
        let policy = RefreshPolicy {
            idle: tokens.refresh_token_idle_lifetime.as_secs() as i64,
            absolute: tokens.refresh_token_absolute_lifetime.as_secs() as i64,
            reuse_grace: tokens.refresh_token_reuse_grace.as_secs() as i64,
            concurrency_window: tokens.refresh_token_concurrency_window.as_secs() as i64,
        };
        let refresh_families =
            RefreshFamilies::new(db.clone(), hot.clone(), revocations.clone(), audit.clone(), clock.clone(), policy);
        let codes =
            Codes::new(hot.clone(), revocations.clone(), refresh_families.clone(), audit.clone(), clock.clone());
        let consents = Consents::new(db.clone(), registry.clone(), refresh_families.clone(), clock.clone());
        let longest_access_token =
            (settings.tokens.access_token_lifetime.as_secs() as i64).max(MAX_ACCESS_TOKEN_LIFETIME);
        let grants = Grants::new(
            db.clone(),
            refresh_families.clone(),
            revocations.clone(),
            registry.clone(),
            clock.clone(),
            longest_access_token,
        );
        let rate_limits = RateLimits::new(hot.clone(), settings.rate_limits.clone());
        Ok(Self {
            users: Users::new(db.clone(), clock.clone(), refresh_families.clone()),
            sign_in_limits: SignInLimits::new(hot.clone(), rate_limits.clone()),
            rate_limits,
            groups: Groups::new(db.clone(), clock.clone()),
            registration: DynamicRegistration::new(
                db.clone(),
                registry.clone(),
                clock.clone(),
                settings.registration.clone(),
            ),
            audit_trail: AuditTrail::new(db.clone()),
            revocations,
            refresh_families,
            grants,
            codes,
            consents,
            endpoints: Arc::new(Endpoints::new(&settings)),
            settings: Arc::new(settings),
            db,
            hot,
            keyring: Arc::new(keyring),
            registry,
            nonces: Arc::new(nonces),
            verified_tokens: Arc::new(VerifiedTokens::new(50_000)),
            audit,
            clock,
            metrics: Metrics::new(),
            shutdown: Arc::new(shutdown),
            tasks: Arc::new(Mutex::new(vec![audit_writer])),
        })
    }

    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }

    /// Stops the background tasks (key and registry upkeep, audit writer) and waits for them.
    pub async fn shut_down(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<_> = self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}
