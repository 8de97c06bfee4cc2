//! Settings: built-in defaults, then an optional TOML file (`--config` or `IDP_CONFIG`), then
//! `IDP_*` environment variables, parsed into typed values and validated before anything starts.
//!
//! The doc comments on [`Settings`] and its sections are the configuration reference; the README
//! renders them as a table. Every mistake is reported as one line that names the setting.
//!
//! - `raw.rs`: the settings as written, the shape the file and the environment deserialize into;
//! - `defaults.rs`: every default, in one table;
//! - `env.rs`: the `IDP_*` overlay on the file's TOML tree, and the variables that are not settings;
//! - `schema.rs`: the settings there are, read off `raw.rs`, and the one a typo probably meant;
//! - `validate.rs`: from written values to typed ones, each checked;
//! - `types.rs`: [`Issuer`], [`DatabaseUrl`], [`RedisUrl`], [`RedisPassword`], [`PemFile`].

mod defaults;
mod env;
mod ip_network;
mod rate_quota;
mod raw;
mod schema;
mod types;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use raw::RawSettings;

pub use env::NOT_SETTINGS;
pub use ip_network::{canonical as canonical_ip, IpNetwork};
pub use rate_quota::RateQuota;
pub use types::{redact_url, DatabaseUrl, Issuer, PemFile, RedisPassword, RedisUrl};

/// The validated configuration of one `idp` node.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `issuer` / `IDP_ISSUER`: the public base URL clients see, byte for byte the `iss` of every
    /// token and the prefix of every endpoint. Absolute `https` URL without query or fragment;
    /// `http` only for a loopback host (local development). Default `http://127.0.0.1:8080`.
    pub issuer: Issuer,
    /// `listen` / `IDP_LISTEN`: `host:port` to bind. Default `127.0.0.1:8080`; `:0` picks a port.
    pub listen: SocketAddr,
    /// `admin_listen` / `IDP_ADMIN_LISTEN`: a second `host:port` that serves the admin API, and
    /// only it; when set, the public listener does not serve `/admin/v1` at all, so an operator
    /// can keep the admin API on a private network. Default: unset (admin API on `listen`).
    pub admin_listen: Option<SocketAddr>,
    /// `admin_url` / `IDP_ADMIN_URL`: the base URL (scheme, host, port) callers reach the admin
    /// listener at: what their DPoP proofs name as `htu`. Default `http://<admin_listen>`;
    /// required when `admin_listen` binds every interface.
    pub admin_url: Option<String>,
    /// `metrics_listen` / `IDP_METRICS_LISTEN`: a `host:port` that serves `/metrics` (Prometheus),
    /// and only it; when set, the public listener no longer serves `/metrics`, so the numbers
    /// stay on a private network. Default: unset (`/metrics` on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// `admin_group` / `IDP_ADMIN_GROUP`: the group a person must be in for a token issued to
    /// them (code flow) to reach the admin API; a client's own tokens (client_credentials) need
    /// only their scopes. Default `idp-admins`.
    pub admin_group: String,
    /// `database_url` / `IDP_DATABASE_URL`: `postgres://…` (production) or `sqlite://PATH` (the
    /// embedded default, `sqlite://./data/idp.db`).
    pub database: DatabaseUrl,
    /// `database_pool_size` / `IDP_DATABASE_POOL_SIZE`: connections per node. Default 10.
    pub database_pool_size: u32,
    /// `redis_url` / `IDP_REDIS_URL`: `redis://…`, or `rediss://…` for TLS (the server's
    /// certificate is verified against the webpki roots, or `redis_ca_file`), for the shared hot
    /// store. Absent: an in-process store, correct for a single node only. Keep the password out
    /// of it (`redis_password_file`); a username (`rediss://idp@host:6380`) may stay.
    pub redis_url: Option<RedisUrl>,
    /// `redis_prefix` / `IDP_REDIS_PREFIX`: prefix of every Redis key and channel, so several
    /// deployments (or test runs) can share one Redis. Default `idp:`.
    pub redis_prefix: String,
    /// `redis_password_file` / `IDP_REDIS_PASSWORD_FILE`: a file holding the Redis password (a
    /// mounted secret), one line; read at start. Not with a password in `redis_url`. Default:
    /// unset (no password, or the URL's).
    pub redis_password: Option<RedisPassword>,
    /// `redis_ca_file` / `IDP_REDIS_CA_FILE`: PEM certificates that alone are trusted to sign the
    /// Redis server's certificate (a private CA); needs `rediss://`. Default: unset (the webpki
    /// roots, Mozilla's list built into the binary).
    pub redis_ca: Option<PemFile>,
    /// `redis_client_cert_file` / `IDP_REDIS_CLIENT_CERT_FILE`: a PEM client certificate (chain)
    /// for Redis servers that require one (`tls-auth-clients yes`); needs `rediss://` and
    /// `redis_client_key_file`. Default: unset.
    pub redis_client_cert: Option<PemFile>,
    /// `redis_client_key_file` / `IDP_REDIS_CLIENT_KEY_FILE`: the PEM private key of
    /// `redis_client_cert_file`. Default: unset.
    pub redis_client_key: Option<PemFile>,
    /// `redis_require_safe_config` / `IDP_REDIS_REQUIRE_SAFE_CONFIG`: refuse to start when Redis
    /// may evict keys (`maxmemory-policy` other than `noeviction`) or persists nothing (no AOF,
    /// no RDB `save`): an evicted or forgotten key un-revokes an access token or forgets a
    /// refresh-token family. `false` logs a warning instead. When Redis refuses `CONFIG GET`
    /// (managed services), a warning says it could not check, either way. Default `false`.
    pub redis_require_safe_config: bool,
    /// `keys_dir` / `IDP_KEYS_DIR`: directory holding `kek`, the key-encryption key that seals the
    /// signing keys in the database. Every node needs the same file. While the KEK is rotated
    /// (`idp keys rotate-kek`), `kek.previous` beside it opens what the old one sealed. Default
    /// `keys`.
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
    /// `[client_auth]`: client authentication at the token endpoints.
    pub client_auth: ClientAuthSettings,
    /// `[registration]`: dynamic client registration (RFC 7591, RFC 7592).
    pub registration: RegistrationSettings,
    /// `trusted_proxies` / `IDP_TRUSTED_PROXIES`: the load balancers and proxies in front of the
    /// provider, as CIDRs separated by spaces or commas (`10.0.0.0/8 192.0.2.7`). A request
    /// from one of them is taken to come from the address its `forwarded_header` names: the
    /// rightmost entry that is not itself a trusted proxy. That address is what rate limits,
    /// sign-in limits, the audit trail and the logs use. Default: none (the peer address is the
    /// client's; behind a proxy every user would share the proxy's limits).
    pub trusted_proxies: Vec<IpNetwork>,
    /// `forwarded_header` / `IDP_FORWARDED_HEADER`: the header the trusted proxies write,
    /// `x-forwarded-for` or `forwarded` (RFC 7239). Only one is read: a client could send the
    /// other one itself. Default `x-forwarded-for`.
    pub forwarded_header: ForwardedHeader,
    /// `[rate_limits]`: abuse limits, kept in the hot store so every node shares them.
    pub rate_limits: RateLimitSettings,
}

/// The header trusted proxies put the client address in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

/// `[rate_limits]` section: each `COUNT/WINDOW` (`600/1m`: up to 600 at once, then one every
/// 100 ms; a generic cell rate algorithm, docs/security.md "Rate limits") or `off`. A refused
/// request gets 429 with `Retry-After` and the `RateLimit` / `RateLimit-Policy` headers.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// `rate_limits.token` / `IDP_RATE_LIMITS__TOKEN`: token requests per client. Default `6000/1m`.
    pub token: Option<RateQuota>,
    /// `rate_limits.par` / `IDP_RATE_LIMITS__PAR`: pushed authorization requests per client.
    /// Default `600/1m`.
    pub par: Option<RateQuota>,
    /// `rate_limits.introspection` / `IDP_RATE_LIMITS__INTROSPECTION`: introspection requests per
    /// client. Default `60000/1m`.
    pub introspection: Option<RateQuota>,
    /// `rate_limits.revocation` / `IDP_RATE_LIMITS__REVOCATION`: revocation requests per client.
    /// Default `600/1m`.
    pub revocation: Option<RateQuota>,
    /// `rate_limits.pages` / `IDP_RATE_LIMITS__PAGES`: requests per client address to
    /// `/authorize`, `/login`, `/consent` and `/logout` together; also what bounds the sessions
    /// and interactions one address can make the provider store. Default `1200/1m`.
    pub pages: Option<RateQuota>,
    /// `rate_limits.client_auth_failures_per_client` / `IDP_RATE_LIMITS__CLIENT_AUTH_FAILURES_PER_CLIENT`: failed authentications as one client;
    /// over it, further failures for that client are answered 429 (its real credentials still
    /// work). Default `600/1m`.
    pub client_auth_failures_per_client: Option<RateQuota>,
    /// `rate_limits.client_auth_failures_per_address` / `IDP_RATE_LIMITS__CLIENT_AUTH_FAILURES_PER_ADDRESS`: failed client authentications from one
    /// address; over it, that address's client-authenticated requests wait. Default `100/1m`.
    pub client_auth_failures_per_address: Option<RateQuota>,
    /// `rate_limits.sign_in_failures_per_address` / `IDP_RATE_LIMITS__SIGN_IN_FAILURES_PER_ADDRESS`: failed sign-ins from one address; over
    /// it, sign-ins from that address are slowed to the refill rate (never locked out), so
    /// guessing across many usernames stays slow while users behind one proxy still get in.
    /// Default `50/15m` (then one attempt every 18 s).
    pub sign_in_failures_per_address: Option<RateQuota>,
}

/// `[registration]` section: what a client may register itself as, with an initial access
/// token minted through the admin API. Lists are space-separated.
#[derive(Debug, Clone)]
pub struct RegistrationSettings {
    /// `registration.enabled` / `IDP_REGISTRATION__ENABLED`: serve `/register` (RFC 7591) and
    /// `/register/{client_id}` (RFC 7592). Default `false`.
    pub enabled: bool,
    /// `registration.allowed_grant_types` / `IDP_REGISTRATION__ALLOWED_GRANT_TYPES`: default
    /// `authorization_code refresh_token`.
    pub allowed_grant_types: Vec<String>,
    /// `registration.allowed_scopes` / `IDP_REGISTRATION__ALLOWED_SCOPES`: default `openid
    /// profile email offline_access`.
    pub allowed_scopes: Vec<String>,
    /// `registration.allowed_resources` / `IDP_REGISTRATION__ALLOWED_RESOURCES`: resource
    /// servers a registered client may ask for. Default none.
    pub allowed_resources: Vec<String>,
    /// `registration.allowed_redirect_schemes` / `IDP_REGISTRATION__ALLOWED_REDIRECT_SCHEMES`:
    /// `https`, `http` (loopback only, for native apps), private-use schemes by name. Default
    /// `https http`.
    pub allowed_redirect_schemes: Vec<String>,
}

/// `[client_auth]` section.
#[derive(Debug, Clone)]
pub struct ClientAuthSettings {
    /// `client_auth.assertion_max_lifetime` / `IDP_CLIENT_AUTH__ASSERTION_MAX_LIFETIME`: how far
    /// ahead (from now, give or take 10 s of skew) a `private_key_jwt` assertion's `exp` may be;
    /// a longer one is refused with `invalid_client` and a description saying so. At most `1d`.
    /// Default `1h`, what common client libraries sign (Authlib).
    pub assertion_max_lifetime: Duration,
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
    /// `tokens.refresh_token_concurrency_window` / `IDP_TOKENS__REFRESH_TOKEN_CONCURRENCY_WINDOW`:
    /// a used refresh token presented again less than this long after its rotation is a
    /// concurrent duplicate (a client refreshing twice at once): refused with `invalid_grant`
    /// without revoking the family. Later, it is reuse and revokes the family. `0` turns it off:
    /// any reuse revokes. At most `1m`. Default `2s`.
    pub refresh_token_concurrency_window: Duration,
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

/// Every setting's key (`tokens.access_token_lifetime`), read off the structs the file and the
/// environment are deserialized into; `tests/suite/docs.rs` checks each is documented.
pub fn setting_keys() -> Vec<String> {
    schema::settings().into_iter().map(|s| s.key).collect()
}

/// `tokens.access_token_lifetime` -> `IDP_TOKENS__ACCESS_TOKEN_LIFETIME`.
pub fn env_name(setting: &str) -> String {
    format!("{}{}", env::PREFIX, setting.replace('.', "__").to_ascii_uppercase())
}

impl ConfigError {
    fn new(setting: &str, problem: impl Into<String>) -> Self {
        // One line, always: multi-line parser messages are folded.
        let problem = problem.into().split_whitespace().collect::<Vec<_>>().join(" ");
        Self { setting: setting.to_owned(), problem }
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
        validate::validate(raw)
    }

    /// The embedded default: SQLite, in-process hot store, loopback listener.
    pub fn is_development(&self) -> bool {
        matches!(self.database, DatabaseUrl::Sqlite(_)) || self.redis_url.is_none()
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
