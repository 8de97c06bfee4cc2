//! Settings: built-in defaults, then an optional TOML file (`--config` or `IDP_CONFIG`), then
//! `IDP_*` environment variables, parsed into typed values and validated before anything starts.
//!
//! The doc comments on [`Settings`] and its sections are the configuration reference; the README
//! renders them as a table. Every mistake is reported as one line that names the setting.

mod env;
mod schema;
mod types;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use env::NOT_SETTINGS;
pub use types::{redact_url, DatabaseUrl, Issuer, RedisUrl};

/// The validated configuration of one `idp` node.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `issuer` / `IDP_ISSUER`: the public base URL clients see, byte for byte the `iss` of every
    /// token and the prefix of every endpoint. Absolute `https` URL without query or fragment;
    /// `http` only for a loopback host (local development). Default `http://127.0.0.1:8080`.
    pub issuer: Issuer,
    /// `listen` / `IDP_LISTEN`: `host:port` to bind. Default `127.0.0.1:8080`; `:0` picks a port.
    pub listen: SocketAddr,
    /// `database_url` / `IDP_DATABASE_URL`: `postgres://…` (production) or `sqlite://PATH` (the
    /// embedded default, `sqlite://./data/idp.db`).
    pub database: DatabaseUrl,
    /// `database_pool_size` / `IDP_DATABASE_POOL_SIZE`: connections per node. Default 10.
    pub database_pool_size: u32,
    /// `redis_url` / `IDP_REDIS_URL`: `redis://…` for the shared hot store. Absent: an in-process
    /// store, correct for a single node only.
    pub redis_url: Option<RedisUrl>,
    /// `redis_prefix` / `IDP_REDIS_PREFIX`: prefix of every Redis key and channel, so several
    /// deployments (or test runs) can share one Redis. Default `idp:`.
    pub redis_prefix: String,
    /// `keys_dir` / `IDP_KEYS_DIR`: directory holding `kek`, the key-encryption key that seals the
    /// signing keys in the database. Every node needs the same file. Default `keys`.
    pub keys_dir: PathBuf,
    /// `log` / `IDP_LOG`: a tracing filter (`info`, `idp=debug,actix_web=warn`). Default `info`.
    pub log: String,
    /// `workers` / `IDP_WORKERS`: HTTP worker threads. Default: one per core.
    pub workers: Option<usize>,
    /// `[keys]`: signing keys and their rotation.
    pub keys: KeySettings,
    /// `[tokens]`: lifetimes of what the provider issues.
    pub tokens: TokenSettings,
    /// `[dpop]`: DPoP proof checks (RFC 9449).
    pub dpop: DpopSettings,
    /// `[sessions]`: browser sessions on the provider's own pages.
    pub sessions: SessionSettings,
}

/// `[sessions]` section.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `sessions.idle_lifetime` / `IDP_SESSIONS__IDLE_LIFETIME`: a browser session unused this
    /// long ends. Default `30m`.
    pub idle_lifetime: Duration,
    /// `sessions.absolute_lifetime` / `IDP_SESSIONS__ABSOLUTE_LIFETIME`: a session ends this long
    /// after sign-in however active it is. Default `12h`.
    pub absolute_lifetime: Duration,
}

/// `[dpop]` section.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// `dpop.require_nonce` / `IDP_DPOP__REQUIRE_NONCE`: proofs must carry a server nonce
    /// (`use_dpop_nonce` hands one out); closes the window for proofs made in advance. Default `true`.
    pub require_nonce: bool,
    /// `dpop.proof_max_age` / `IDP_DPOP__PROOF_MAX_AGE`: how old (by `iat`) a proof may be. Default `5m`.
    pub proof_max_age: Duration,
}

/// `[keys]` section.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// `keys.rotate_every` / `IDP_KEYS__ROTATE_EVERY`: how long a key signs before its successor
    /// takes over. Default `30d`.
    pub rotate_every: Duration,
    /// `keys.publish_window` / `IDP_KEYS__PUBLISH_WINDOW`: how long a new key sits in the JWKS
    /// as `next` before it signs. Must be at least `keys.jwks_max_age`, so no verifier meets an
    /// unknown `kid`. Default `1h`.
    pub publish_window: Duration,
    /// `keys.jwks_max_age` / `IDP_KEYS__JWKS_MAX_AGE`: `Cache-Control: max-age` of `/jwks` and the
    /// discovery documents. Default `5m`.
    pub jwks_max_age: Duration,
    /// `keys.refresh_interval` / `IDP_KEYS__REFRESH_INTERVAL`: how often a node re-reads the key
    /// table, so a rotation made elsewhere (another node, `idp keys rotate`) is seen. Default `2s`.
    pub refresh_interval: Duration,
}

/// `[tokens]` section.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `tokens.access_token_lifetime` / `IDP_TOKENS__ACCESS_TOKEN_LIFETIME`. Default `10m`.
    pub access_token_lifetime: Duration,
    /// `tokens.id_token_lifetime` / `IDP_TOKENS__ID_TOKEN_LIFETIME`. Default `1h`.
    pub id_token_lifetime: Duration,
    /// `tokens.refresh_token_idle_lifetime` / `IDP_TOKENS__REFRESH_TOKEN_IDLE_LIFETIME`: a refresh
    /// token unused this long expires. Default `14d`.
    pub refresh_token_idle_lifetime: Duration,
    /// `tokens.refresh_token_absolute_lifetime` / `IDP_TOKENS__REFRESH_TOKEN_ABSOLUTE_LIFETIME`: a
    /// grant's refresh tokens end this long after sign-in. Default `90d`.
    pub refresh_token_absolute_lifetime: Duration,
    /// `tokens.refresh_token_reuse_grace` / `IDP_TOKENS__REFRESH_TOKEN_REUSE_GRACE`: how long the
    /// previous refresh token may be presented again (a lost response retried) instead of
    /// counting as reuse. Default `0s` (off).
    pub refresh_token_reuse_grace: Duration,
}

impl TokenSettings {
    /// The longest a token signed by this node can stay valid: how long a retired key must
    /// remain published.
    pub fn longest_lifetime(&self) -> Duration {
        self.access_token_lifetime.max(self.id_token_lifetime)
    }
}

/// One configuration mistake: what it concerns and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", subject(.setting))]
pub struct ConfigError {
    /// The setting (`tokens.access_token_lifetime`), `config file`, or an `IDP_*` variable that
    /// names no setting.
    pub setting: String,
    pub problem: String,
}

/// The [`ConfigError::setting`] of a file that cannot be read or does not fit the settings.
const FILE: &str = "config file";

fn subject(setting: &str) -> String {
    if setting == FILE {
        format!("invalid setting `{FILE}`")
    } else if setting.starts_with(env::PREFIX) {
        format!("unknown variable `{setting}`")
    } else {
        format!("invalid setting `{setting}` ({})", env_name(setting))
    }
}

/// `tokens.access_token_lifetime` -> `IDP_TOKENS__ACCESS_TOKEN_LIFETIME`.
pub fn env_name(setting: &str) -> String {
    format!("IDP_{}", setting.replace('.', "__").to_ascii_uppercase())
}

impl ConfigError {
    fn new(setting: &str, problem: impl Into<String>) -> Self {
        // One line, always: multi-line parser messages are folded.
        let problem = problem.into().split_whitespace().collect::<Vec<_>>().join(" ");
        Self { setting: setting.to_owned(), problem }
    }
}

/// The settings as written in the file or the environment, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    issuer: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    database_pool_size: Option<i64>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    keys_dir: Option<String>,
    log: Option<String>,
    workers: Option<i64>,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    dpop: RawDpop,
    #[serde(default)]
    sessions: RawSessions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    idle_lifetime: Option<RawDuration>,
    absolute_lifetime: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDpop {
    require_nonce: Option<bool>,
    proof_max_age: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    rotate_every: Option<RawDuration>,
    publish_window: Option<RawDuration>,
    jwks_max_age: Option<RawDuration>,
    refresh_interval: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    access_token_lifetime: Option<RawDuration>,
    id_token_lifetime: Option<RawDuration>,
    refresh_token_idle_lifetime: Option<RawDuration>,
    refresh_token_absolute_lifetime: Option<RawDuration>,
    refresh_token_reuse_grace: Option<RawDuration>,
}

/// A duration as written: whole seconds (`600`) or humantime text (`10m`, `30d`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(i64),
    Text(String),
}

impl RawDuration {
    fn positive(&self, setting: &str) -> Result<Duration, ConfigError> {
        let duration = match self {
            Self::Seconds(n) if *n > 0 => Duration::from_secs(*n as u64),
            Self::Seconds(n) => return Err(ConfigError::new(setting, format!("must be a positive duration, got {n}"))),
            Self::Text(text) if text.trim_start().starts_with('-') => {
                return Err(ConfigError::new(setting, format!("must be a positive duration, got {text}")))
            }
            Self::Text(text) => humantime::parse_duration(text.trim())
                .map_err(|e| ConfigError::new(setting, format!("is not a duration like `10m` or `600` ({e})")))?,
        };
        if duration.is_zero() {
            return Err(ConfigError::new(setting, "must be a positive duration, got 0"));
        }
        Ok(duration)
    }
}

/// Where the settings come from; the process environment in production, a map in tests.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    pub env: Vec<(String, String)>,
}

impl Settings {
    /// Reads the file named by `--config` (or `IDP_CONFIG`) and the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(env::PREFIX)).collect();
        let env_file = env.iter().find(|(k, _)| k == "IDP_CONFIG").map(|(_, v)| PathBuf::from(v));
        let file = config_file.map(Path::to_path_buf).or(env_file);
        Self::from_sources(Sources { file: file.as_deref(), env })
    }

    pub fn from_sources(sources: Sources<'_>) -> Result<Self, ConfigError> {
        let mut tree = match sources.file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let settings = schema::settings();
        env::overlay(&mut tree, &sources.env, &settings)?;
        // `deny_unknown_fields` refuses a key that is no setting; the environment's keys are
        // settings and its values typed by them, so what does not fit comes from the file.
        let raw = RawSettings::deserialize(toml::Value::Table(tree.clone()))
            .map_err(|e| misfit(sources.file, &tree, &settings, e))?;
        Self::validate(raw)
    }

    /// The embedded default: SQLite, in-process hot store, loopback listener.
    pub fn is_development(&self) -> bool {
        matches!(self.database, DatabaseUrl::Sqlite(_)) || self.redis_url.is_none()
    }

    fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
        let issuer = Issuer::parse(raw.issuer.as_deref().unwrap_or("http://127.0.0.1:8080"))
            .map_err(|e| ConfigError::new("issuer", e))?;
        let listen_text = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::new("listen", format!("must be host:port with an IP host, got {listen_text}")))?;
        let database = DatabaseUrl::parse(raw.database_url.as_deref().unwrap_or("sqlite://./data/idp.db"))
            .map_err(|e| ConfigError::new("database_url", e))?;
        let database_pool_size = match raw.database_pool_size {
            None => 10,
            Some(n @ 1..=1000) => n as u32,
            Some(n) => return Err(ConfigError::new("database_pool_size", format!("must be 1 to 1000, got {n}"))),
        };
        let redis_url = match raw.redis_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(RedisUrl::parse(text).map_err(|e| ConfigError::new("redis_url", e))?),
        };
        let redis_prefix = raw.redis_prefix.unwrap_or_else(|| "idp:".into());
        if redis_prefix.contains(['{', '}']) || redis_prefix.chars().any(char::is_whitespace) {
            return Err(ConfigError::new("redis_prefix", "must not contain braces or spaces"));
        }
        let keys_dir = PathBuf::from(raw.keys_dir.unwrap_or_else(|| "keys".into()));
        let log = raw.log.unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log)
            .map_err(|e| ConfigError::new("log", format!("is not a log filter ({e})")))?;
        let workers = match raw.workers {
            None => None,
            Some(n @ 1..=256) => Some(n as usize),
            Some(n) => return Err(ConfigError::new("workers", format!("must be 1 to 256, got {n}"))),
        };

        let duration = |raw: Option<RawDuration>, setting: &str, default: u64| match raw {
            Some(d) => d.positive(setting),
            None => Ok(Duration::from_secs(default)),
        };
        // A window that may be switched off with `0`.
        let duration_or_zero = |raw: Option<RawDuration>, setting: &str| match raw {
            Some(RawDuration::Seconds(0)) | None => Ok(Duration::ZERO),
            Some(RawDuration::Text(text)) if text.trim() == "0s" => Ok(Duration::ZERO),
            Some(d) => d.positive(setting),
        };
        let keys = KeySettings {
            rotate_every: duration(raw.keys.rotate_every, "keys.rotate_every", 30 * 86_400)?,
            publish_window: duration(raw.keys.publish_window, "keys.publish_window", 3_600)?,
            jwks_max_age: duration(raw.keys.jwks_max_age, "keys.jwks_max_age", 300)?,
            refresh_interval: duration(raw.keys.refresh_interval, "keys.refresh_interval", 2)?,
        };
        if keys.publish_window < keys.jwks_max_age {
            return Err(ConfigError::new(
                "keys.publish_window",
                "must be at least keys.jwks_max_age, or verifiers with a cached JWKS meet unknown keys",
            ));
        }
        if keys.rotate_every <= keys.publish_window {
            return Err(ConfigError::new("keys.rotate_every", "must be longer than keys.publish_window"));
        }
        let tokens = TokenSettings {
            access_token_lifetime: duration(raw.tokens.access_token_lifetime, "tokens.access_token_lifetime", 600)?,
            id_token_lifetime: duration(raw.tokens.id_token_lifetime, "tokens.id_token_lifetime", 3_600)?,
            refresh_token_idle_lifetime: duration(
                raw.tokens.refresh_token_idle_lifetime,
                "tokens.refresh_token_idle_lifetime",
                14 * 86_400,
            )?,
            refresh_token_absolute_lifetime: duration(
                raw.tokens.refresh_token_absolute_lifetime,
                "tokens.refresh_token_absolute_lifetime",
                90 * 86_400,
            )?,
            refresh_token_reuse_grace: duration_or_zero(
                raw.tokens.refresh_token_reuse_grace,
                "tokens.refresh_token_reuse_grace",
            )?,
        };

        let dpop = DpopSettings {
            require_nonce: raw.dpop.require_nonce.unwrap_or(true),
            proof_max_age: duration(raw.dpop.proof_max_age, "dpop.proof_max_age", 300)?,
        };
        if dpop.proof_max_age > Duration::from_secs(3_600) {
            return Err(ConfigError::new("dpop.proof_max_age", "must be at most 1h"));
        }
        let sessions = SessionSettings {
            idle_lifetime: duration(raw.sessions.idle_lifetime, "sessions.idle_lifetime", 1_800)?,
            absolute_lifetime: duration(raw.sessions.absolute_lifetime, "sessions.absolute_lifetime", 43_200)?,
        };
        if sessions.idle_lifetime > sessions.absolute_lifetime {
            return Err(ConfigError::new("sessions.idle_lifetime", "must not exceed sessions.absolute_lifetime"));
        }

        Ok(Self {
            dpop,
            sessions,
            issuer,
            listen,
            database,
            database_pool_size,
            redis_url,
            redis_prefix,
            keys_dir,
            log,
            workers,
            keys,
            tokens,
        })
    }
}

/// The file does not fit the settings: an unknown key, named with the setting it probably
/// meant, or the deserializer's own message (which names the key) for a value of the wrong type.
fn misfit(
    file: Option<&Path>,
    tree: &toml::Table,
    settings: &[schema::Setting],
    error: toml::de::Error,
) -> ConfigError {
    let problem = match schema::unknown_key(tree, settings) {
        Some(key) => match schema::nearest(&key, settings) {
            Some(meant) => format!("unknown key `{key}`; did you mean `{}`?", meant.key),
            None => format!("unknown key `{key}`"),
        },
        None => error.to_string(),
    };
    let file = file.map_or("(no file)".into(), |path| path.display().to_string());
    ConfigError::new(FILE, format!("{file}: {problem}"))
}

/// The file as a TOML tree, not yet checked against the settings.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(FILE, format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ConfigError::new(FILE, format!("{}: {}", path.display(), e.message())))
}

#[cfg(test)]
mod tests;
