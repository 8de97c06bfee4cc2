//! From the settings as written to [`Settings`]: each value parsed and checked, alone and
//! against the others; a mistake names the setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawSettings;
use super::{
    ClientAuthSettings, ConfigError, DatabaseUrl, DpopSettings, ForwardedHeader, Issuer, KeySettings, PemFile,
    RateLimitSettings, RedisPassword, RedisUrl, RegistrationSettings, SessionSettings, Settings, TokenSettings,
};
use super::{IpNetwork, RateQuota};

pub(super) fn validate(raw: RawSettings) -> Result<Settings, ConfigError> {
    let issuer = Issuer::parse(&raw.issuer).map_err(|e| ConfigError::new("issuer", e))?;
    let listen = raw
        .listen
        .parse::<SocketAddr>()
        .map_err(|_| ConfigError::new("listen", format!("must be host:port with an IP host, got {}", raw.listen)))?;
    let admin_listen = raw
        .admin_listen
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .map(|text| {
            text.parse::<SocketAddr>()
                .map_err(|_| ConfigError::new("admin_listen", format!("must be host:port with an IP host, got {text}")))
        })
        .transpose()?;
    let admin_url = match (admin_listen, raw.admin_url.as_deref().map(str::trim).filter(|t| !t.is_empty())) {
        (None, None) => None,
        (None, Some(_)) => return Err(ConfigError::new("admin_url", "is only used with admin_listen")),
        (Some(addr), None) if addr.ip().is_unspecified() => {
            return Err(ConfigError::new(
                "admin_url",
                "must be set when admin_listen binds every interface: the URL callers reach it at",
            ))
        }
        (Some(addr), None) => Some(format!("http://{addr}")),
        (Some(_), Some(text)) => {
            let url =
                url::Url::parse(text).map_err(|e| ConfigError::new("admin_url", format!("is not a URL ({e})")))?;
            if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || url.query().is_some() {
                return Err(ConfigError::new(
                    "admin_url",
                    "must be an http(s) URL with no path, e.g. https://admin.idp.internal:9443",
                ));
            }
            Some(url.origin().ascii_serialization())
        }
    };
    let admin_group = raw.admin_group.trim().to_owned();
    if admin_group.is_empty() || admin_group.chars().count() > 100 || admin_group.chars().any(char::is_control) {
        return Err(ConfigError::new("admin_group", "must be a group name: 1 to 100 characters"));
    }
    let database = DatabaseUrl::parse(&raw.database_url).map_err(|e| ConfigError::new("database_url", e))?;
    let database_pool_size = match raw.database_pool_size {
        n @ 1..=1000 => n as u32,
        n => return Err(ConfigError::new("database_pool_size", format!("must be 1 to 1000, got {n}"))),
    };
    let redis_url = match raw.redis_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(RedisUrl::parse(text).map_err(|e| ConfigError::new("redis_url", e))?),
    };
    let redis_prefix = raw.redis_prefix;
    if redis_prefix.contains(['{', '}']) || redis_prefix.chars().any(char::is_whitespace) {
        return Err(ConfigError::new("redis_prefix", "must not contain braces or spaces"));
    }
    let redis = redis_connection(
        redis_url.as_ref(),
        RedisFiles {
            password: set(&raw.redis_password_file),
            ca: set(&raw.redis_ca_file),
            client_cert: set(&raw.redis_client_cert_file),
            client_key: set(&raw.redis_client_key_file),
        },
    )?;
    let metrics_listen = set(&raw.metrics_listen)
        .map(|text| {
            text.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new("metrics_listen", format!("must be host:port with an IP host, got {text}"))
            })
        })
        .transpose()?;
    if let Some(metrics) = metrics_listen.filter(|m| m.port() != 0) {
        if metrics == listen || Some(metrics) == admin_listen {
            return Err(ConfigError::new("metrics_listen", "must differ from listen and admin_listen"));
        }
    }
    let keys_dir = PathBuf::from(raw.keys_dir);
    let log = raw.log;
    tracing_subscriber::EnvFilter::try_new(&log)
        .map_err(|e| ConfigError::new("log", format!("is not a log filter ({e})")))?;
    let workers = match raw.workers {
        None => None,
        Some(n @ 1..=256) => Some(n as usize),
        Some(n) => return Err(ConfigError::new("workers", format!("must be 1 to 256, got {n}"))),
    };

    let keys = KeySettings {
        rotate_every: raw.keys.rotate_every.positive("keys.rotate_every")?,
        publish_window: raw.keys.publish_window.positive("keys.publish_window")?,
        jwks_max_age: raw.keys.jwks_max_age.positive("keys.jwks_max_age")?,
        refresh_interval: raw.keys.refresh_interval.positive("keys.refresh_interval")?,
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
        access_token_lifetime: raw.tokens.access_token_lifetime.positive("tokens.access_token_lifetime")?,
        id_token_lifetime: raw.tokens.id_token_lifetime.positive("tokens.id_token_lifetime")?,
        refresh_token_idle_lifetime: raw
            .tokens
            .refresh_token_idle_lifetime
            .positive("tokens.refresh_token_idle_lifetime")?,
        refresh_token_absolute_lifetime: raw
            .tokens
            .refresh_token_absolute_lifetime
            .positive("tokens.refresh_token_absolute_lifetime")?,
        refresh_token_reuse_grace: raw
            .tokens
            .refresh_token_reuse_grace
            .positive_or_zero("tokens.refresh_token_reuse_grace")?,
        refresh_token_concurrency_window: raw
            .tokens
            .refresh_token_concurrency_window
            .positive_or_zero("tokens.refresh_token_concurrency_window")?,
    };
    if tokens.refresh_token_concurrency_window > Duration::from_secs(60) {
        // Longer, a stolen token used within the window would be refused without the family
        // being revoked for that long: the window is for requests in flight, not for retries.
        return Err(ConfigError::new("tokens.refresh_token_concurrency_window", "must be at most 1m"));
    }

    let dpop = DpopSettings {
        require_nonce: raw.dpop.require_nonce,
        proof_max_age: raw.dpop.proof_max_age.positive("dpop.proof_max_age")?,
    };
    if dpop.proof_max_age > Duration::from_secs(3_600) {
        return Err(ConfigError::new("dpop.proof_max_age", "must be at most 1h"));
    }
    let sessions = SessionSettings {
        idle_lifetime: raw.sessions.idle_lifetime.positive("sessions.idle_lifetime")?,
        absolute_lifetime: raw.sessions.absolute_lifetime.positive("sessions.absolute_lifetime")?,
    };
    if sessions.idle_lifetime > sessions.absolute_lifetime {
        return Err(ConfigError::new("sessions.idle_lifetime", "must not exceed sessions.absolute_lifetime"));
    }
    let client_auth = ClientAuthSettings {
        assertion_max_lifetime: raw
            .client_auth
            .assertion_max_lifetime
            .positive("client_auth.assertion_max_lifetime")?,
    };
    if client_auth.assertion_max_lifetime > Duration::from_secs(86_400) {
        return Err(ConfigError::new("client_auth.assertion_max_lifetime", "must be at most 1d"));
    }
    let words = |text: &str| text.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let registration = RegistrationSettings {
        enabled: raw.registration.enabled,
        allowed_grant_types: words(&raw.registration.allowed_grant_types),
        allowed_scopes: words(&raw.registration.allowed_scopes),
        allowed_resources: words(&raw.registration.allowed_resources),
        allowed_redirect_schemes: words(&raw.registration.allowed_redirect_schemes),
    };
    if let Some(unknown) = registration
        .allowed_grant_types
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token" | "client_credentials"))
    {
        return Err(ConfigError::new(
            "registration.allowed_grant_types",
            format!("{unknown} is not one of authorization_code, refresh_token, client_credentials"),
        ));
    }

    let trusted_proxies = raw
        .trusted_proxies
        .split([' ', ',', '\t', '\n'])
        .filter(|part| !part.is_empty())
        .map(|part| IpNetwork::parse(part).map_err(|e| ConfigError::new("trusted_proxies", format!("{part}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let forwarded_header = match raw.forwarded_header.trim().to_ascii_lowercase().as_str() {
        "x-forwarded-for" => ForwardedHeader::XForwardedFor,
        "forwarded" => ForwardedHeader::Forwarded,
        other => {
            return Err(ConfigError::new(
                "forwarded_header",
                format!("must be x-forwarded-for or forwarded, got {other}"),
            ))
        }
    };
    let quota = |setting: &str, text: &str| {
        RateQuota::parse(text).map_err(|e| ConfigError::new(&format!("rate_limits.{setting}"), e))
    };
    let limits = &raw.rate_limits;
    let rate_limits = RateLimitSettings {
        token: quota("token", &limits.token)?,
        par: quota("par", &limits.par)?,
        introspection: quota("introspection", &limits.introspection)?,
        revocation: quota("revocation", &limits.revocation)?,
        pages: quota("pages", &limits.pages)?,
        client_auth_failures_per_client: quota(
            "client_auth_failures_per_client",
            &limits.client_auth_failures_per_client,
        )?,
        client_auth_failures_per_address: quota(
            "client_auth_failures_per_address",
            &limits.client_auth_failures_per_address,
        )?,
        sign_in_failures_per_address: quota("sign_in_failures_per_address", &limits.sign_in_failures_per_address)?,
    };

    Ok(Settings {
        trusted_proxies,
        forwarded_header,
        rate_limits,
        registration,
        dpop,
        sessions,
        client_auth,
        issuer,
        listen,
        admin_listen,
        admin_url,
        admin_group,
        database,
        database_pool_size,
        redis_url,
        redis_prefix,
        redis_password: redis.password,
        redis_ca: redis.ca,
        redis_client_cert: redis.client_cert,
        redis_client_key: redis.client_key,
        redis_require_safe_config: raw.redis_require_safe_config,
        metrics_listen,
        keys_dir,
        log,
        workers,
        keys,
        tokens,
    })
}

/// An optional text setting: absent, empty or blank is unset.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|text| !text.is_empty())
}

/// The files of the Redis settings, as written.
struct RedisFiles<'a> {
    password: Option<&'a str>,
    ca: Option<&'a str>,
    client_cert: Option<&'a str>,
    client_key: Option<&'a str>,
}

/// What the files hold, read and checked now, so a missing secret or a broken certificate stops
/// the start with the setting's name rather than failing at the first connection.
struct RedisConnection {
    password: Option<RedisPassword>,
    ca: Option<PemFile>,
    client_cert: Option<PemFile>,
    client_key: Option<PemFile>,
}

fn redis_connection(url: Option<&RedisUrl>, files: RedisFiles<'_>) -> Result<RedisConnection, ConfigError> {
    let named = [
        ("redis_password_file", files.password),
        ("redis_ca_file", files.ca),
        ("redis_client_cert_file", files.client_cert),
        ("redis_client_key_file", files.client_key),
    ];
    let Some(url) = url else {
        return match named.iter().find(|(_, value)| value.is_some()) {
            Some((setting, _)) => Err(ConfigError::new(setting, "is only used with redis_url")),
            None => Ok(RedisConnection { password: None, ca: None, client_cert: None, client_key: None }),
        };
    };
    if !url.is_tls() {
        if let Some((setting, _)) = named[1..].iter().find(|(_, value)| value.is_some()) {
            return Err(ConfigError::new(setting, "needs a rediss:// redis_url (TLS)"));
        }
    }
    let password = match files.password {
        None => None,
        Some(_) if url.has_password() => {
            return Err(ConfigError::new(
                "redis_password_file",
                "is set while redis_url carries a password too; keep the password in the file only",
            ))
        }
        Some(path) => {
            let content = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("redis_password_file", format!("cannot read {path}: {e}")))?;
            // The message says what is wrong with the file, never what it holds.
            Some(
                RedisPassword::parse(&content)
                    .map_err(|e| ConfigError::new("redis_password_file", format!("{path} {e}")))?,
            )
        }
    };
    let ca = files.ca.map(PemFile::certificates).transpose().map_err(|e| ConfigError::new("redis_ca_file", e))?;
    let (client_cert, client_key) = match (files.client_cert, files.client_key) {
        (None, None) => (None, None),
        (Some(_), None) => {
            return Err(ConfigError::new("redis_client_key_file", "must be set with redis_client_cert_file"))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new("redis_client_cert_file", "must be set with redis_client_key_file"))
        }
        (Some(cert), Some(key)) => (
            Some(PemFile::certificates(cert).map_err(|e| ConfigError::new("redis_client_cert_file", e))?),
            Some(PemFile::private_key(key).map_err(|e| ConfigError::new("redis_client_key_file", e))?),
        ),
    };
    Ok(RedisConnection { password, ca, client_cert, client_key })
}
