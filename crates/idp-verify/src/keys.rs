//! The provider's token-signing keys as a resource server holds them: its JWKS fetched over
//! HTTP and cached. A `kid` the cache does not know triggers a refetch (the provider rotated),
//! but at most one per refetch interval across all requests: concurrent callers wait for the
//! one fetch in flight instead of each starting one, and a flood of tokens with made-up `kid`s
//! costs the provider one request per interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::jwk::has_private_members;
use crate::jws::Es256PublicKey;

/// A JWKS larger than this is refused: this provider publishes a handful of keys.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Keys beyond this many in one JWKS are ignored.
const MAX_KEYS: usize = 64;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable key: ES256, for signatures.
pub struct VerificationKey {
    pub kid: String,
    key: Es256PublicKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The keys of one successful fetch.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
    /// Counts successful fetches; 0 is the empty set before the first.
    generation: u64,
    fetched_at: Option<Instant>,
}

impl KeySet {
    /// The keys with this `kid`: usually one; several when the JWKS repeats a `kid` for keys of
    /// the same type (decoys of another type were already dropped, FAPI-28).
    pub fn candidates<'a>(&'a self, kid: &'a str) -> impl Iterator<Item = &'a Es256PublicKey> + 'a {
        self.keys.iter().filter(move |k| k.kid == kid).map(|k| &k.key)
    }

    fn knows(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    fn is_fresh(&self, max_age: Duration) -> bool {
        self.fetched_at.is_some_and(|at| at.elapsed() < max_age)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("JWKS request to {uri} failed: {source}")]
    Http { uri: String, source: reqwest::Error },
    #[error("JWKS at {uri} answered {status}")]
    Status { uri: String, status: u16 },
    #[error("JWKS at {uri} is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge { uri: String },
    #[error("JWKS at {uri} is not a JSON object with a keys array")]
    NotJwks { uri: String },
    #[error("no JWKS has been fetched yet; the last attempt was less than the refetch interval ago")]
    NeverFetched,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// The set to pick candidates from (it may not know the `kid`: then the key is unknown).
    Keys(Arc<KeySet>),
    /// The key is not cached and the JWKS could not be fetched: the caller answers 503.
    Unavailable(FetchError),
}

#[derive(Debug)]
struct FetchState {
    last_attempt: Option<Instant>,
}

#[derive(Debug)]
pub struct KeyCache {
    client: reqwest::Client,
    uri: String,
    keys: ArcSwap<KeySet>,
    /// Held while fetching: one fetch in flight, and the time of the last attempt.
    fetch: Mutex<FetchState>,
    refetch_interval: Duration,
    max_age: Duration,
    fetches: std::sync::atomic::AtomicU64,
}

impl KeyCache {
    pub fn new(uri: String, refetch_interval: Duration, max_age: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // Fetches are rare, and an idle pooled connection would tie this client to the
            // runtime (actix worker) that opened it.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self {
            client,
            uri,
            keys: ArcSwap::from_pointee(KeySet::default()),
            fetch: Mutex::new(FetchState { last_attempt: None }),
            refetch_interval,
            max_age,
            fetches: Default::default(),
        })
    }

    /// The key set to verify a token signed with `kid`: the cached one when it knows `kid` and
    /// is fresh, else the result of a refetch (or of the refetch another request just made).
    /// A stale set that knows `kid` is still used when the refetch fails.
    pub async fn lookup(&self, kid: &str) -> Lookup {
        let cached = self.keys.load_full();
        if cached.knows(kid) && cached.is_fresh(self.max_age) {
            return Lookup::Keys(cached);
        }
        match self.refresh(cached.generation).await {
            Ok(keys) => Lookup::Keys(keys),
            Err(_) if cached.knows(kid) => Lookup::Keys(cached),
            Err(error) => Lookup::Unavailable(error),
        }
    }

    /// Fetches now unless another caller fetched since `seen_generation` or the last attempt is
    /// within the refetch interval; then the current set is the answer.
    async fn refresh(&self, seen_generation: u64) -> Result<Arc<KeySet>, FetchError> {
        let mut state = self.fetch.lock().await;
        let current = self.keys.load_full();
        if current.generation != seen_generation {
            return Ok(current);
        }
        if state.last_attempt.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return match current.generation {
                0 => Err(FetchError::NeverFetched),
                _ => Ok(current),
            };
        }
        state.last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(jwks.uri = %self.uri, jwks.keys = keys.len(), "fetched the provider's JWKS");
                let fresh =
                    Arc::new(KeySet { keys, generation: current.generation + 1, fetched_at: Some(Instant::now()) });
                self.keys.store(fresh.clone());
                Ok(fresh)
            }
            Err(error) => {
                tracing::warn!(jwks.uri = %self.uri, error = %error, "could not fetch the provider's JWKS");
                Err(error)
            }
        }
    }

    /// Fetches now (rate limit permitting), e.g. at start to fail fast on a wrong `jwks_uri`.
    pub async fn load(&self) -> Result<(), FetchError> {
        let generation = self.keys.load().generation;
        self.refresh(generation).await.map(|_| ())
    }

    /// How many fetches were started, for metrics.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn fetch(&self) -> Result<Vec<VerificationKey>, FetchError> {
        let http = |source| FetchError::Http { uri: self.uri.clone(), source };
        let mut response = self
            .client
            .get(&self.uri)
            .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status { uri: self.uri.clone(), status: response.status().as_u16() });
        }
        if response.content_length().is_some_and(|len| len > MAX_JWKS_BYTES as u64) {
            return Err(FetchError::TooLarge { uri: self.uri.clone() });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge { uri: self.uri.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body).ok_or_else(|| FetchError::NotJwks { uri: self.uri.clone() })
    }
}

/// The usable keys of a JWK Set (RFC 7517 §5); `None` if it is not one. Keys of another type,
/// curve, algorithm or use are skipped, not errors: the set also holds ID-token keys.
pub fn parse_jwks(body: &[u8]) -> Option<Vec<VerificationKey>> {
    let document: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let Some(Value::Array(keys)) = document.get("keys") else {
        return None;
    };
    Some(keys.iter().filter_map(Value::as_object).filter_map(usable_key).take(MAX_KEYS).collect())
}

/// FAPI-28: a key is picked by `kid` *and* `kty`, `crv`, `alg` and `use`, so decoys sharing a
/// `kid` with the real key never stand in for it.
fn usable_key(jwk: &Map<String, Value>) -> Option<VerificationKey> {
    let member = |name: &str| jwk.get(name).map(Value::as_str);
    let kid = member("kid")??;
    let fits = !kid.is_empty()
        && member("kty") == Some(Some("EC"))
        && member("crv") == Some(Some("P-256"))
        && matches!(member("alg"), None | Some(Some("ES256")))
        && matches!(member("use"), None | Some(Some("sig")))
        && key_ops_allow_verify(jwk)
        && !has_private_members(jwk);
    if !fits {
        return None;
    }
    Some(VerificationKey { kid: kid.to_owned(), key: Es256PublicKey::from_jwk(jwk)? })
}

/// RFC 7517 §4.3: when `key_ops` is present it must allow `verify`.
fn key_ops_allow_verify(jwk: &Map<String, Value>) -> bool {
    match jwk.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) => ops.iter().any(|op| op.as_str() == Some("verify")),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jws::TestEs256Key;

    fn es256_jwk(kid: &str) -> Value {
        let mut jwk = TestEs256Key::generate().public_jwk();
        jwk.insert("kid".into(), json!(kid));
        Value::Object(jwk)
    }

    /// RFC 7638 §3.1's RSA key: another type of key, whatever its `kid`.
    fn rsa_jwk() -> Map<String, Value> {
        serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256"}"#).unwrap()
    }

    fn kids(body: Value) -> Vec<String> {
        parse_jwks(body.to_string().as_bytes()).unwrap().into_iter().map(|k| k.kid).collect()
    }

    #[test]
    fn fapi_28_only_es256_signature_keys_are_kept() {
        let mut rsa = rsa_jwk();
        rsa.insert("kid".into(), json!("same"));
        let with = |name: &str, value: Value| {
            let mut jwk = es256_jwk("same");
            jwk[name] = value;
            jwk
        };
        let body = json!({ "keys": [
            Value::Object(rsa),
            with("alg", json!("ES384")),
            with("use", json!("enc")),
            with("key_ops", json!(["sign"])),
            with("crv", json!("P-384")),
            with("d", json!("AAAA")),
            json!({ "kty": "oct", "kid": "same", "k": "AAAA" }),
            json!("not an object"),
            with("kid", json!(7)),
            with("alg", json!("ES256")),
            es256_jwk("other"),
        ]});
        assert_eq!(kids(body), ["same", "other"]);
    }

    #[test]
    fn duplicate_kids_of_the_same_type_are_all_candidates() {
        let keys = parse_jwks(json!({ "keys": [es256_jwk("k"), es256_jwk("k")] }).to_string().as_bytes()).unwrap();
        let set = KeySet { keys, generation: 1, fetched_at: Some(Instant::now()) };
        assert_eq!(set.candidates("k").count(), 2);
        assert_eq!(set.candidates("x").count(), 0);
    }

    #[test]
    fn a_document_without_a_keys_array_is_not_a_jwks() {
        for body in ["[]", "{}", r#"{"keys": {}}"#, "not json"] {
            assert!(parse_jwks(body.as_bytes()).is_none(), "{body}");
        }
    }
}
