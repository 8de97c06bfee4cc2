//! Reading compact JWS (RFC 7515 §7.1) and checking ES256 signatures: the one implementation
//! behind access tokens, client assertions, DPoP proofs and the resource-server verifier.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A compact JWS split into its parts; nothing in it is trusted yet.
#[derive(Debug, Clone, Copy)]
pub struct CompactJws<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Three non-empty base64url parts and nothing else (no spaces, no second token), at most
    /// `max_len` bytes.
    pub fn split(token: &'a str, max_len: usize) -> Option<Self> {
        let base64url_or_dot = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if token.len() > max_len || !token.bytes().all(base64url_or_dot) {
            return None;
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return None;
        }
        Some(Self { header, payload, signature, signing_input: &token[..header.len() + 1 + payload.len()] })
    }

    /// The protected header as JSON (read before any signature check: callers name it
    /// `unverified_*`).
    pub fn header_json<T: DeserializeOwned>(&self) -> Option<T> {
        decode_json(self.header)
    }

    pub fn payload_json<T: DeserializeOwned>(&self) -> Option<T> {
        decode_json(self.payload)
    }

    pub fn signature_bytes(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(self.signature).ok()
    }
}

fn decode_json<T: DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// The uncompressed SEC1 point (`0x04 || x || y`) of a P-256 JWK, if `x` and `y` are 32 bytes.
pub fn p256_point(jwk: &Map<String, Value>) -> Option<Vec<u8>> {
    let coordinate = |name: &str| {
        let bytes = URL_SAFE_NO_PAD.decode(jwk.get(name)?.as_str()?).ok()?;
        (bytes.len() == 32).then_some(bytes)
    };
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    Some(point)
}

/// A P-256 public key checked with ring: no OpenSSL key object or provider lookup per call.
#[derive(Debug)]
pub struct Es256PublicKey(UnparsedPublicKey<Vec<u8>>);

impl Es256PublicKey {
    /// From an uncompressed SEC1 point (`0x04 || x || y`).
    pub fn from_point(point: Vec<u8>) -> Self {
        Self(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point))
    }

    /// From a JWK's `x` and `y` (32 bytes each, base64url). Which JWKs may be used at all
    /// (`kty`, `crv`, `use`, `key_ops`, `alg`) is the caller's rule.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Option<Self> {
        p256_point(jwk).map(Self::from_point)
    }

    /// A JWS ES256 signature (`r || s`, 64 bytes) over `message`. A point not on the curve
    /// never verifies.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify(message, signature).is_ok()
    }
}

/// A P-256 key pair made with ring, for tests here that sign what they verify.
#[cfg(test)]
pub(crate) struct TestEs256Key {
    pair: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

#[cfg(test)]
impl TestEs256Key {
    pub(crate) fn generate() -> Self {
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self { pair, rng }
    }

    /// `r || s`, as JWS ES256 signatures are.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(&self.rng, message).unwrap().as_ref().to_vec()
    }

    /// The public JWK: `kty`, `crv`, `x`, `y`.
    pub(crate) fn public_jwk(&self) -> Map<String, Value> {
        let point = ring::signature::KeyPair::public_key(&self.pair).as_ref();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        jwk.as_object().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_jws_has_exactly_three_non_empty_base64url_parts() {
        let jws = CompactJws::split("aGk.eyJ9.c2ln", 100).unwrap();
        assert_eq!((jws.header, jws.payload, jws.signature, jws.signing_input), ("aGk", "eyJ9", "c2ln", "aGk.eyJ9"));
        for bad in ["a.b", "a.b.c.d", "a..c", "a.b.c d", "a.b.c,a.b.c", "a.b.c="] {
            assert!(CompactJws::split(bad, 100).is_none(), "{bad}");
        }
        assert!(CompactJws::split("aGk.eyJ9.c2ln", 5).is_none(), "longer than the cap");
    }

    #[test]
    fn an_es256_signature_verifies_only_with_its_own_key() {
        let pair = TestEs256Key::generate();
        let signature = pair.sign(b"message");
        let jwk = pair.public_jwk();
        let key = Es256PublicKey::from_jwk(&jwk).unwrap();
        assert!(key.verify(b"message", &signature));
        assert!(!key.verify(b"other message", &signature));
        let mut short = jwk.clone();
        short.insert("x".into(), Value::String(URL_SAFE_NO_PAD.encode([7u8; 31])));
        assert!(Es256PublicKey::from_jwk(&short).is_none());
    }
}
