//! The settings as written, in the file or the environment: the shape both are deserialized
//! into before validation. A key that is no field is refused; a key left out keeps its default
//! (`defaults.rs`).

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawSettings {
    pub issuer: String,
    pub listen: String,
    /// Absent: the admin API is served on `listen` with the rest.
    pub admin_listen: Option<String>,
    /// Absent: `http://<admin_listen>`.
    pub admin_url: Option<String>,
    pub admin_group: String,
    /// Absent: `/metrics` is served on `listen`.
    pub metrics_listen: Option<String>,
    pub database_url: String,
    pub database_pool_size: i64,
    /// Absent or empty: the in-process store.
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// Absent: no password, or the one in `redis_url`.
    pub redis_password_file: Option<String>,
    /// Absent: the webpki (Mozilla) roots.
    pub redis_ca_file: Option<String>,
    /// Absent: no client certificate.
    pub redis_client_cert_file: Option<String>,
    pub redis_client_key_file: Option<String>,
    pub redis_require_safe_config: bool,
    pub keys_dir: String,
    pub log: String,
    /// Absent: one per core.
    pub workers: Option<i64>,
    pub keys: RawKeys,
    pub tokens: RawTokens,
    pub dpop: RawDpop,
    pub sessions: RawSessions,
    pub client_auth: RawClientAuth,
    pub registration: RawRegistration,
    /// Space- or comma-separated CIDRs.
    pub trusted_proxies: String,
    pub forwarded_header: String,
    pub rate_limits: RawRateLimits,
}

/// Each `COUNT/WINDOW` or `off`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawRateLimits {
    pub token: String,
    pub par: String,
    pub introspection: String,
    pub revocation: String,
    pub pages: String,
    pub client_auth_failures_per_client: String,
    pub client_auth_failures_per_address: String,
    pub sign_in_failures_per_address: String,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawRegistration {
    pub enabled: bool,
    pub allowed_grant_types: String,
    pub allowed_scopes: String,
    pub allowed_resources: String,
    pub allowed_redirect_schemes: String,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawKeys {
    pub rotate_every: RawDuration,
    pub publish_window: RawDuration,
    pub jwks_max_age: RawDuration,
    pub refresh_interval: RawDuration,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawTokens {
    pub access_token_lifetime: RawDuration,
    pub id_token_lifetime: RawDuration,
    pub refresh_token_idle_lifetime: RawDuration,
    pub refresh_token_absolute_lifetime: RawDuration,
    pub refresh_token_reuse_grace: RawDuration,
    pub refresh_token_concurrency_window: RawDuration,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawDpop {
    pub require_nonce: bool,
    pub proof_max_age: RawDuration,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawClientAuth {
    pub assertion_max_lifetime: RawDuration,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of settings")]
pub(super) struct RawSessions {
    pub idle_lifetime: RawDuration,
    pub absolute_lifetime: RawDuration,
}

/// A duration as written: whole seconds (`600`) or humantime text (`10m`, `30d`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "expected a duration: whole seconds or text such as \"10m\"")]
pub(super) enum RawDuration {
    Seconds(i64),
    Text(String),
}

impl From<&str> for RawDuration {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl RawDuration {
    pub fn positive(&self, setting: &str) -> Result<Duration, ConfigError> {
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

    /// For a window that `0` (or `0s`) switches off.
    pub fn positive_or_zero(&self, setting: &str) -> Result<Duration, ConfigError> {
        match self {
            Self::Seconds(0) => Ok(Duration::ZERO),
            Self::Text(text) if text.trim() == "0s" => Ok(Duration::ZERO),
            _ => self.positive(setting),
        }
    }
}
