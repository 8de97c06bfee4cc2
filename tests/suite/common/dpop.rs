//! Client-side DPoP proofs (RFC 9449 §4.2) for integration tests, made the way a real client
//! makes them: an ES256 key pair, a fresh random `jti` and `iat` from the system clock.
//!
//! Deliberately independent of `idp::crypto::dpop`: the thumbprint and `ath` are computed here
//! from the RFCs, so a test passes only if the server agrees with them.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, ES256};
use serde_json::{json, Map, Value};

/// A client's DPoP key pair.
pub struct DpopKey {
    signer: Box<dyn JwsSigner>,
    /// The full key pair as a JWK (with `d`), for tests that leak it into a header.
    private_jwk: Map<String, Value>,
    /// `kty`, `crv`, `x`, `y` only, as clients such as panva/dpop send it.
    public_jwk: Map<String, Value>,
}

impl DpopKey {
    /// A fresh ES256 (P-256) key.
    pub fn es256() -> Self {
        let pair = ES256.generate_key_pair().expect("generate a P-256 key");
        let key_pair: Jwk = pair.to_jwk_key_pair();
        let signer = ES256.signer_from_jwk(&key_pair).expect("ES256 signer");
        let private_jwk = key_pair.as_ref().clone();
        let public_jwk = ["kty", "crv", "x", "y"]
            .into_iter()
            .map(|member| (member.to_owned(), private_jwk[member].clone()))
            .collect();
        Self { signer: Box::new(signer), private_jwk, public_jwk }
    }

    /// RFC 7638 thumbprint of the public key (RFC 9449 §6.1 `jkt`): base64url SHA-256 of the
    /// required EC members in lexicographic order, without whitespace.
    pub fn thumbprint(&self) -> String {
        let member = |name: &str| self.public_jwk[name].as_str().expect("string member").to_owned();
        let canonical =
            format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, member("crv"), member("x"), member("y"));
        b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The key pair including the private `d`, to check a server refuses it in a header.
    pub fn private_jwk(&self) -> Map<String, Value> {
        self.private_jwk.clone()
    }

    /// A proof for one request (RFC 9449 §4.2), with a fresh `jti` and `iat` = now.
    pub fn proof(&self, method: &str, htu: &str, nonce: Option<&str>, access_token: Option<&str>) -> String {
        self.proof_at(method, htu, nonce, access_token, unix_now())
    }

    /// As [`DpopKey::proof`] with a given `iat`, e.g. the test app's `ManualClock` time.
    pub fn proof_at(
        &self,
        method: &str,
        htu: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
        iat: i64,
    ) -> String {
        self.proof_with(self.header(), self.claims(method, htu, nonce, access_token, iat))
    }

    /// The header a well-behaved client sends: `typ`, `alg` and the public `jwk`.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk })
    }

    /// The claims a well-behaved client sends, with a fresh random `jti`; `ath` is
    /// base64url(SHA-256(ASCII(access_token))) (RFC 9449 §4.2).
    pub fn claims(&self, method: &str, htu: &str, nonce: Option<&str>, access_token: Option<&str>, iat: i64) -> Value {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": htu,
            "iat": iat,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = access_token {
            claims["ath"] = json!(ath(token));
        }
        claims
    }

    /// Signs `header` and `claims` exactly as given (nothing added or checked), so tests can send
    /// a wrong `typ`, a `jwk` with `d`, an `alg` that does not fit the key, and so on.
    pub fn proof_with(&self, header: Value, claims: Value) -> String {
        let signing_input =
            format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = self.signer.sign(signing_input.as_bytes()).expect("ES256 signature");
        format!("{signing_input}.{}", b64url(&signature))
    }
}

/// `ath` for an access token (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes()).as_ref())
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}
