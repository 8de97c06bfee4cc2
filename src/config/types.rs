//! The typed values that settings parse into: the issuer, the database and Redis URLs, the Redis
//! password and the PEM files of Redis TLS.

use std::fmt;
use std::path::PathBuf;

use url::Url;

/// The issuer identifier, kept exactly as configured (without a lone trailing `/`).
#[derive(Clone, PartialEq, Eq)]
pub struct Issuer {
    text: String,
    url: Url,
}

impl Issuer {
    pub fn parse(input: &str) -> Result<Self, String> {
        let url = Url::parse(input).map_err(|e| format!("must be an absolute URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err("must use https (http is allowed for a loopback host only)".into()),
            other => return Err(format!("must be an http(s) URL, not {other}:")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        if url.query().is_some() || input.contains('?') {
            return Err("must not have a query".into());
        }
        if url.fragment().is_some() || input.contains('#') {
            return Err("must not have a fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry user information".into());
        }
        let text = input.strip_suffix('/').unwrap_or(input).to_owned();
        Ok(Self { text, url })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// Path under which the endpoints are mounted (`""` for an issuer at the host root).
    pub fn path_prefix(&self) -> &str {
        self.url.path().trim_end_matches('/')
    }

    /// `scheme://host[:port]` of the issuer.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The absolute URL of an endpoint path such as `/jwks`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.text)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Which relational database, chosen by the URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        if input.starts_with("postgres://") || input.starts_with("postgresql://") {
            Url::parse(input).map_err(|e| format!("is not a valid URL ({e})"))?;
            return Ok(Self::Postgres(input.to_owned()));
        }
        let path = input
            .strip_prefix("sqlite://")
            .or_else(|| input.strip_prefix("sqlite:"))
            .ok_or("must start with postgres:// or sqlite://")?;
        if path.is_empty() {
            return Err("names no SQLite file".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The URL with any password replaced, fit for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            Self::Postgres(url) => redact_url(url),
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The Redis URL: `redis://` (plain TCP) or `rediss://` (TLS, the server's certificate always
/// verified); its `Debug` hides any password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Url);

impl RedisUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        let url = Url::parse(input).map_err(|e| format!("is not a valid URL ({e})"))?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err("must start with redis:// or rediss:// (TLS)".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        // The Redis client reads `#insecure` as "accept any certificate"; no fragment is needed
        // for anything else.
        if url.fragment().is_some() || input.contains('#') {
            return Err("must not have a fragment (`#insecure` would turn off certificate verification)".into());
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// `rediss://`: the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.0.scheme() == "rediss"
    }

    /// Whether the URL itself carries a password (`redis://:pw@host`).
    pub fn has_password(&self) -> bool {
        self.0.password().is_some()
    }

    /// The URL with any password replaced, fit for logs and error messages.
    pub fn redacted(&self) -> String {
        redact_url(self.0.as_str())
    }
}

/// The Redis password, read from `redis_password_file`; its `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisPassword(String);

impl RedisPassword {
    /// The file's content without its final line break: one line, not empty.
    pub fn parse(content: &str) -> Result<Self, String> {
        let line = content.strip_suffix('\n').unwrap_or(content);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Err("is empty".into());
        }
        if line.chars().any(char::is_control) {
            return Err("must hold the password alone, on one line".into());
        }
        Ok(Self(line.to_owned()))
    }

    /// The password itself, for the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A PEM file read at start (a CA bundle, a client certificate or key), with its path for
/// messages; its `Debug` prints the path only.
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    pub path: PathBuf,
    pub pem: Vec<u8>,
}

impl PemFile {
    /// Reads `path` and checks it holds at least one PEM certificate.
    pub fn certificates(path: &str) -> Result<Self, String> {
        use rustls_pki_types::pem::PemObject;
        let file = Self::read(path)?;
        let mut count = 0;
        for certificate in rustls_pki_types::CertificateDer::pem_slice_iter(&file.pem) {
            certificate.map_err(|e| format!("{path}: not a PEM certificate ({e})"))?;
            count += 1;
        }
        if count == 0 {
            return Err(format!("{path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
        }
        Ok(file)
    }

    /// Reads `path` and checks it holds a PEM private key.
    pub fn private_key(path: &str) -> Result<Self, String> {
        use rustls_pki_types::pem::PemObject;
        let file = Self::read(path)?;
        rustls_pki_types::PrivateKeyDer::from_pem_slice(&file.pem)
            .map_err(|_| format!("{path}: holds no PEM private key"))?;
        Ok(file)
    }

    fn read(path: &str) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        Ok(Self { path: PathBuf::from(path), pem })
    }
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.as_str()))
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(input: &str) -> String {
    match Url::parse(input) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable URL>".into(),
    }
}
