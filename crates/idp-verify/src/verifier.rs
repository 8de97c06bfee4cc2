//! The [`Verifier`]: every check of a request to a protected resource, as an ordered list of
//! named steps.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{SharedClock, SystemClock};
use crate::dpop::{verify_proof, ProofCheck, VerifiedProof, MAX_FUTURE as PROOF_MAX_FUTURE};
use crate::encoding::{b64url, sha256};
use crate::error::{Challenge, ProofError, Refusal, Scheme, TokenError, VerifyError};
use crate::jwk::Jkt;
use crate::jwt::{self, Expected};
use crate::keys::{KeyCache, Lookup};
use crate::request::{self, Presented, Request};
use crate::store::{MemoryReplayCache, ReplayCache, RevocationList};
use crate::token::{AccessTokenClaims, LEEWAY};

/// A resource server's view of the provider, validated by [`Verifier::new`].
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The provider's issuer identifier; `iss` must equal it exactly.
    pub issuer: String,
    /// This resource server's identifier as registered with `idp resources create
    /// --identifier`; `aud` must be it (or an array containing it), compared exactly.
    pub audience: String,
    /// The provider's JWKS (`jwks_uri` in its metadata).
    pub jwks_uri: String,
    /// This resource server's public base URL (scheme, host, port, and a path prefix if a
    /// proxy adds one). A proof's `htu` must be this plus the request path; the URL is never
    /// taken from `Host` or `X-Forwarded-*` (RFC 9700 §4.13).
    pub public_url: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 5 s ([`LEEWAY`]): the provider
    /// keeps a revoked token id that long past `exp`, so with a longer leeway a revoked token
    /// passes again once its entry is gone.
    pub leeway: Duration,
    /// Accept unbound tokens with the `Bearer` scheme. DPoP-bound tokens always need `DPoP`.
    /// Default `false`.
    pub accept_bearer: bool,
    /// How old (by `iat`) a DPoP proof may be. Default 5 min, as at the provider.
    pub dpop_max_age: Duration,
    /// An unknown `kid` refetches the JWKS at most once per this interval. Default 5 s.
    pub jwks_refetch_interval: Duration,
    /// Keys older than this are refetched on use (a removed key stops working). Default 5 min.
    pub jwks_max_age: Duration,
}

impl VerifierConfig {
    /// Defaults for this provider: `jwks_uri` is `{issuer}/jwks`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, public_url: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            jwks_uri: format!("{}/jwks", issuer.trim_end_matches('/')),
            issuer,
            audience: audience.into(),
            public_url: public_url.into(),
            leeway: Duration::from_secs(LEEWAY as u64),
            accept_bearer: false,
            dpop_max_age: Duration::from_secs(300),
            jwks_refetch_interval: Duration::from_secs(5),
            jwks_max_age: Duration::from_secs(300),
        }
    }
}

/// A configuration value that cannot work, found at start.
#[derive(Debug, thiserror::Error)]
#[error("verifier {field}: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// A request that passed every check: what handlers see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccess {
    /// The token's claims; `aud` is this resource server's identifier.
    pub claims: AccessTokenClaims,
    /// The scheme the token came with.
    pub scheme: Scheme,
    /// For a DPoP-bound token, the thumbprint of the key that signed this request's proof.
    pub dpop_jkt: Option<Jkt>,
}

impl VerifiedAccess {
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.claims.scope.as_deref().unwrap_or_default().split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// For handlers: `access.require_scope("write")?` answers 403 `insufficient_scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), VerifyError> {
        match self.has_scope(scope) {
            true => Ok(()),
            false => Err(VerifyError::insufficient_scope(self.scheme, scope)),
        }
    }
}

/// Verifies requests to a resource server. Cheap to share: put it in `web::Data`.
#[derive(Debug)]
pub struct Verifier {
    issuer: String,
    audience: String,
    /// `public_url` without a trailing `/`.
    base_url: String,
    leeway: i64,
    accept_bearer: bool,
    dpop_max_age: i64,
    keys: KeyCache,
    revocation: Option<Arc<dyn RevocationList>>,
    replay: Arc<dyn ReplayCache>,
    clock: SharedClock,
}

impl Verifier {
    /// Checks the configuration. Keys are fetched on first use (or by [`Verifier::load_keys`]);
    /// DPoP proof ids are remembered in this process until [`Verifier::with_replay_cache`]
    /// names a shared store; revocation is not checked until [`Verifier::with_revocation`].
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        http_url(&config.issuer).map_err(|reason| ConfigError::new("issuer", reason))?;
        http_url(&config.jwks_uri).map_err(|reason| ConfigError::new("jwks_uri", reason))?;
        let public_url = http_url(&config.public_url).map_err(|reason| ConfigError::new("public_url", reason))?;
        if public_url.query().is_some() {
            return Err(ConfigError::new("public_url", "must not have a query"));
        }
        if config.audience.is_empty() {
            return Err(ConfigError::new("audience", "must not be empty"));
        }
        if config.leeway > Duration::from_secs(300) {
            return Err(ConfigError::new("leeway", "must be at most 5m"));
        }
        if config.dpop_max_age.is_zero() || config.dpop_max_age > Duration::from_secs(3_600) {
            return Err(ConfigError::new("dpop_max_age", "must be more than 0 and at most 1h"));
        }
        if config.jwks_refetch_interval.is_zero() {
            return Err(ConfigError::new("jwks_refetch_interval", "must be more than 0"));
        }
        let keys = KeyCache::new(config.jwks_uri.clone(), config.jwks_refetch_interval, config.jwks_max_age)
            .map_err(|e| ConfigError::new("jwks_uri", format!("no HTTP client: {e}")))?;
        Ok(Self {
            issuer: config.issuer,
            audience: config.audience,
            base_url: config.public_url.trim_end_matches('/').to_owned(),
            leeway: config.leeway.as_secs() as i64,
            accept_bearer: config.accept_bearer,
            dpop_max_age: config.dpop_max_age.as_secs() as i64,
            keys,
            revocation: None,
            replay: Arc::new(MemoryReplayCache::default()),
            clock: Arc::new(SystemClock),
        })
    }

    /// Refuses tokens this list names; a lookup error answers 503.
    pub fn with_revocation(mut self, list: impl RevocationList) -> Self {
        self.revocation = Some(Arc::new(list));
        self
    }

    /// Where DPoP proof ids are remembered: a shared store for a resource server of several
    /// nodes (with the `redis` feature, `RedisStore`).
    pub fn with_replay_cache(mut self, cache: impl ReplayCache) -> Self {
        self.replay = Arc::new(cache);
        self
    }

    /// The clock for `exp`, `nbf`, `iat` and the proof `iat` (the JWKS refetch limit uses the
    /// monotonic clock).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Fetches the JWKS now, to fail fast at start on a wrong `jwks_uri`.
    pub async fn load_keys(&self) -> Result<(), VerifyError> {
        self.keys.load().await.map_err(|e| VerifyError::Unavailable(e.to_string()))
    }

    /// How many JWKS fetches were started so far, for metrics.
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    /// The challenges this resource server answers with.
    pub fn challenge(&self) -> Challenge {
        Challenge { bearer: self.accept_bearer }
    }

    /// Logs `error` once (a 5xx as an error, a refusal as info): what every answer to a
    /// refused request goes through.
    pub(crate) fn log(&self, error: &VerifyError) {
        let code = error.code().unwrap_or("none");
        if error.status() >= 500 {
            tracing::error!(error.code = code, error.cause = %error, "access token check failed");
        } else {
            tracing::info!(error.code = code, error.cause = %error, "access refused");
        }
    }

    /// The answer to a refused request, with this verifier's challenge; logged once.
    pub fn refuse(&self, error: &VerifyError) -> Refusal {
        self.log(error);
        error.refusal(self.challenge())
    }

    /// Every check of a request to a protected resource, in order.
    pub async fn verify(&self, req: &Request<'_>) -> Result<VerifiedAccess, VerifyError> {
        let presented = request::read_authorization(req.authorization)?;
        self.check_scheme_accepted(&presented)?;
        let now = self.clock.now();
        let claims = self.verify_token(presented.token, now).await?;
        let proof = self.check_binding(req, &presented, &claims, now)?;
        request::check_origin(req.origin, &claims)?;
        self.check_not_revoked(&claims).await?;
        if let Some(proof) = &proof {
            self.check_not_replayed(proof).await?;
        }
        Ok(VerifiedAccess { claims, scheme: presented.scheme, dpop_jkt: proof.map(|p| p.jkt) })
    }

    /// RFC 9449 §7.2: `Bearer` only where unbound tokens are accepted at all.
    fn check_scheme_accepted(&self, presented: &Presented<'_>) -> Result<(), VerifyError> {
        if presented.scheme == Scheme::Bearer && !self.accept_bearer {
            return Err(TokenError::BearerNotAccepted.into());
        }
        Ok(())
    }

    /// JWT-5: shape and header, the signature with a key of the provider's JWKS picked by
    /// `kid`, then the claims.
    async fn verify_token(&self, token: &str, now: i64) -> Result<AccessTokenClaims, VerifyError> {
        let unverified = jwt::parse(token)?;
        let keys = match self.keys.lookup(&unverified.kid).await {
            Lookup::Keys(keys) => keys,
            Lookup::Unavailable(error) => return Err(VerifyError::Unavailable(error.to_string())),
        };
        let claims = unverified.verify_signature(keys.candidates(&unverified.kid))?;
        let expected = Expected { issuer: &self.issuer, audience: &self.audience, leeway: self.leeway };
        Ok(jwt::check_claims(claims, &expected, now)?)
    }

    /// DPOP-16, DPOP-25, DPOP-28: a token with `cnf.jkt` needs the `DPoP` scheme and a proof
    /// for this request (method, this resource's public URL, `ath` of this token) signed by
    /// the bound key; an unbound token is not presented as DPoP.
    fn check_binding(
        &self,
        req: &Request<'_>,
        presented: &Presented<'_>,
        claims: &AccessTokenClaims,
        now: i64,
    ) -> Result<Option<VerifiedProof>, VerifyError> {
        let bound = match (presented.scheme, &claims.cnf) {
            (Scheme::Bearer, None) => return Ok(None),
            (Scheme::Bearer, Some(_)) => return Err(TokenError::BoundTokenAsBearer.into()),
            (Scheme::Dpop, None) => return Err(TokenError::NotBound.into()),
            (Scheme::Dpop, Some(cnf)) => cnf,
        };
        let proof = request::read_proof(req.dpop)?;
        let htu = format!("{}{}", self.base_url, req.path);
        let check = ProofCheck {
            method: req.method,
            expected_htu: &htu,
            now,
            max_age: self.dpop_max_age,
            max_future: PROOF_MAX_FUTURE,
            access_token: Some(presented.token),
        };
        let verified = verify_proof(proof, &check).map_err(ProofError::from)?;
        if verified.jkt != bound.jkt {
            return Err(TokenError::KeyMismatch.into());
        }
        Ok(Some(verified))
    }

    /// Revocation is in force at once (docs/security.md §3); a list that cannot answer fails closed.
    async fn check_not_revoked(&self, claims: &AccessTokenClaims) -> Result<(), VerifyError> {
        let Some(list) = &self.revocation else {
            return Ok(());
        };
        match list.is_revoked(&claims.jti).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(TokenError::Revoked.into()),
            Err(error) => Err(VerifyError::Unavailable(format!("revocation list: {error}"))),
        }
    }

    /// RFC 9449 §11.1 (DPOP-15): each proof once, remembered for as long as its `iat` could be
    /// accepted. Keyed by this audience, the proof key and its `jti`.
    async fn check_not_replayed(&self, proof: &VerifiedProof) -> Result<(), VerifyError> {
        let id = b64url(&sha256(format!("{}\n{}\n{}", self.audience, proof.jkt, proof.jti).as_bytes()));
        let ttl = Duration::from_secs((self.dpop_max_age + PROOF_MAX_FUTURE + self.leeway) as u64);
        match self.replay.first_use(&id, ttl).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProofError::Replayed.into()),
            Err(error) => Err(VerifyError::Unavailable(format!("replay cache: {error}"))),
        }
    }
}

/// An absolute http(s) URL without a fragment.
fn http_url(value: &str) -> Result<Url, &'static str> {
    let url = Url::parse(value).map_err(|_| "must be an absolute URL")?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err("must be an http or https URL with a host");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VerifierConfig {
        VerifierConfig::new("https://idp.example", "https://api.example", "https://api.example/v1/")
    }

    #[test]
    fn defaults_follow_this_provider() {
        let config = config();
        assert_eq!(config.jwks_uri, "https://idp.example/jwks");
        assert_eq!(config.leeway, Duration::from_secs(5));
        assert!(!config.accept_bearer);
        let verifier = Verifier::new(config).unwrap();
        assert_eq!(verifier.base_url, "https://api.example/v1");
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused_at_start() {
        type Change = fn(&mut VerifierConfig);
        let cases: [(&str, Change); 6] = [
            ("issuer", |c| c.issuer = "idp.example".into()),
            ("jwks_uri", |c| c.jwks_uri = "ftp://idp.example/jwks".into()),
            ("public_url", |c| c.public_url = "https://api.example/?x=1".into()),
            ("public_url", |c| c.public_url = "/relative".into()),
            ("audience", |c| c.audience = String::new()),
            ("dpop_max_age", |c| c.dpop_max_age = Duration::ZERO),
        ];
        for (field, change) in cases {
            let mut config = config();
            change(&mut config);
            assert_eq!(Verifier::new(config).unwrap_err().field, field);
        }
    }

    #[test]
    fn scopes_and_the_insufficient_scope_helper() {
        let access = VerifiedAccess {
            claims: AccessTokenClaims {
                iss: "i".into(),
                sub: "s".into(),
                aud: "a".into(),
                client_id: "c".into(),
                scope: Some("read write".into()),
                iat: 0,
                exp: 0,
                jti: "j".into(),
                cnf: None,
                origin: None,
                groups: None,
            },
            scheme: Scheme::Dpop,
            dpop_jkt: Some(Jkt::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap()),
        };
        assert_eq!(access.scopes().collect::<Vec<_>>(), ["read", "write"]);
        assert!(access.require_scope("write").is_ok());
        let err = access.require_scope("admin").unwrap_err();
        assert!(matches!(&err, VerifyError::InsufficientScope { scheme: Scheme::Dpop, scope } if scope == "admin"));
    }
}
