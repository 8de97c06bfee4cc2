//! Server-side verification of DPoP proofs (RFC 9449 §4.3): pure, no I/O.
//!
//! [`verify_proof`] runs the checks of RFC 9449 §4.3 as a list of named steps, in an order
//! that never trusts data the signature has not covered: the proof's shape, then its JOSE
//! header (read as `unverified_*`), then the signature with the key in that header, then the
//! claims. The caller does what needs state: the `jti` replay cache (DPOP-15), the server
//! nonce (DPOP-13), the `cnf.jkt` binding (DPOP-16, DPOP-32) and the `DPoP` header count
//! (DPOP-1).

mod error;
mod htu;
#[cfg(test)]
mod tests;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

pub use self::error::DpopError;
use crate::alg::{AlgError, JwsAlg, SignatureVerifier};
use crate::encoding::{b64url, constant_time_eq, sha256};
use crate::jwk::{has_private_members, Jkt};
use crate::jws::{CompactJws, Es256PublicKey};

/// Proof algorithms we verify, advertised as `dpop_signing_alg_values_supported` (RFC 9449
/// §5.1): the asymmetric ones client assertions take too ([`JwsAlg`]).
pub const SUPPORTED_ALGS: &[&str] = &JwsAlg::NAMES;

/// How far in the future a proof's `iat` may be (clock skew; FAPI 2.0 allows up to 10 s): the
/// provider's bound at its endpoints and a resource server's.
pub const MAX_FUTURE: i64 = 10;

/// A `DPoP` header value longer than this is refused unread: an RSA-4096 proof is under
/// 2 KiB, so this is room enough, and it bounds the JSON and key parsing an anonymous caller
/// can cause.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// The longest `jti` accepted (in characters), so the replay cache stays small (RFC 9449
/// §11.1).
pub const MAX_JTI_CHARS: usize = 256;

/// RSA moduli accepted for RS256/PS256 (RFC 7518 §3.3 and §3.5 require 2048 bits or more;
/// the upper bound only caps the verification cost).
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// The `typ` RFC 9449 §4.2 requires (explicit typing, RFC 8725 §3.11).
const DPOP_TYP: &str = "dpop+jwt";

/// What the proof must match: facts about the request being served.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// HTTP method of this request, e.g. `POST`.
    pub method: &'a str,
    /// Absolute URL of this endpoint, built from the configured issuer (never from `Host` or
    /// `X-Forwarded-*`, RFC 9700 §4.13).
    pub expected_htu: &'a str,
    /// Unix seconds, from the injected clock.
    pub now: i64,
    /// Accept `iat >= now - max_age`.
    pub max_age: i64,
    /// Accept `iat <= now + max_future` (FAPI 2.0 rejects more than 60 s in the future).
    pub max_future: i64,
    /// At a resource server, the access token the proof comes with: `ath` is then required.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key, for `cnf.jkt` (RFC 9449 §6.1).
    pub jkt: Jkt,
    /// For the caller's replay cache (RFC 9449 §11.1).
    pub jti: String,
    pub iat: i64,
    /// The `nonce` claim as sent; the caller compares it with the nonce it issued (§8).
    pub nonce: Option<String>,
    /// The `htu` claim as sent (it matched `expected_htu` after normalisation).
    pub htu: String,
}

/// `ath` for an access token: base64url(SHA-256(ASCII(token))) (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes()))
}

/// Verifies one `DPoP` header value against the request it came with (RFC 9449 §4.3).
pub fn verify_proof(proof: &str, check: &ProofCheck<'_>) -> Result<VerifiedProof, DpopError> {
    let parts = split_compact(proof)?;
    let unverified_header = decode_header(parts.header)?;
    reject_critical_header(&unverified_header)?;
    check_typ(&unverified_header)?;
    let alg = check_alg(&unverified_header)?;
    let unverified_jwk = check_jwk(&unverified_header)?;
    check_key(alg, unverified_jwk)?;
    let claims = verify_signature(alg, unverified_jwk, &parts)?;
    // The signature covers the header too, so from here on the key is the signer's.
    let jwk = unverified_jwk;
    let jti = check_jti(&claims)?;
    check_htm(&claims, check.method)?;
    let htu = htu::check_htu(&claims, check.expected_htu)?;
    let iat = check_iat(&claims, check)?;
    let nonce = read_nonce(&claims)?;
    if let Some(access_token) = check.access_token {
        check_ath(&claims, access_token)?;
    }
    let jkt = Jkt::of_jwk(jwk).ok_or(DpopError::MalformedJwk("no thumbprint members"))?;
    Ok(VerifiedProof { jkt, jti, iat, nonce, htu })
}

/// The three parts of a compact JWS and the input its signature covers.
struct CompactParts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    signing_input: &'a str,
}

/// RFC 9449 §4.3 check 2 (DPOP-2): the value is one compact JWS (RFC 7515 §7.1), three
/// non-empty base64url parts. Anything else, such as a space or a comma (two proofs folded
/// into one header line), is refused before any decoding; the length cap comes first.
fn split_compact(proof: &str) -> Result<CompactParts<'_>, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::TooLong);
    }
    let jws = CompactJws::split(proof, MAX_PROOF_LEN).ok_or(DpopError::NotCompactJws)?;
    Ok(CompactParts {
        header: jws.header,
        payload: jws.payload,
        signature: jws.signature,
        signing_input: jws.signing_input,
    })
}

/// DPOP-2: the protected header is base64url (no padding, RFC 7515 §2) of a JSON object.
fn decode_header(encoded: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| DpopError::MalformedHeader)?;
    serde_json::from_slice(&bytes).map_err(|_| DpopError::MalformedHeader)
}

/// RFC 7515 §4.1.11: a recipient MUST reject a JWS whose `crit` lists an extension it does
/// not understand, and we understand none (`b64: false` in particular would change what the
/// signature covers).
fn reject_critical_header(unverified_header: &Map<String, Value>) -> Result<(), DpopError> {
    if unverified_header.contains_key("crit") {
        return Err(DpopError::CriticalHeader);
    }
    Ok(())
}

/// RFC 9449 §4.3 check 4 (DPOP-4): `typ` is exactly `dpop+jwt`, so no other kind of JWT
/// signed by the same key can be passed off as a proof (RFC 8725 §3.11).
fn check_typ(unverified_header: &Map<String, Value>) -> Result<(), DpopError> {
    match unverified_header.get("typ") {
        Some(Value::String(typ)) if typ == DPOP_TYP => Ok(()),
        _ => Err(DpopError::WrongTyp),
    }
}

/// RFC 9449 §4.3 check 5 and §11.6 (DPOP-5, DPOP-6): `alg` is asymmetric, never `none` or a
/// MAC, and one we support. `none` and `HS*` get their own error: they are attacks, not a
/// client on another algorithm.
fn check_alg(unverified_header: &Map<String, Value>) -> Result<JwsAlg, DpopError> {
    let Some(Value::String(alg)) = unverified_header.get("alg") else {
        return Err(DpopError::MissingAlg);
    };
    if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") {
        return Err(DpopError::SymmetricAlg);
    }
    JwsAlg::parse(alg).ok_or(DpopError::UnsupportedAlg)
}

/// RFC 9449 §4.3 check 7 (DPOP-3, DPOP-8): `jwk` is present, an object, and a public key.
/// A private key in the header means the client leaked it; a symmetric key cannot be used
/// to check an asymmetric signature and is refused by name.
fn check_jwk(unverified_header: &Map<String, Value>) -> Result<&Map<String, Value>, DpopError> {
    let unverified_jwk = match unverified_header.get("jwk") {
        None => return Err(DpopError::MissingJwk),
        Some(Value::Object(jwk)) => jwk,
        Some(_) => return Err(DpopError::JwkNotObject),
    };
    if unverified_jwk.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err(DpopError::SymmetricJwk);
    }
    if has_private_members(unverified_jwk) {
        return Err(DpopError::PrivateKeyInJwk);
    }
    Ok(unverified_jwk)
}

/// RFC 9449 §4.3 check 6 (DPOP-7): the signature verifies with the header's `jwk`. Only then
/// is the payload decoded, so the claims are never read unverified.
fn verify_signature(
    alg: JwsAlg,
    unverified_jwk: &Map<String, Value>,
    parts: &CompactParts<'_>,
) -> Result<Map<String, Value>, DpopError> {
    let signature = URL_SAFE_NO_PAD.decode(parts.signature).map_err(|_| DpopError::NotCompactJws)?;
    if alg == JwsAlg::Es256 {
        // The common case, verified with ring: no OpenSSL key object or provider lookup per proof.
        verify_es256(unverified_jwk, parts.signing_input.as_bytes(), &signature)?;
    } else {
        let verifier = SignatureVerifier::new(alg, unverified_jwk).map_err(DpopError::KeyRejected)?;
        verifier.verify(parts.signing_input.as_bytes(), &signature).map_err(DpopError::InvalidSignature)?;
    }
    let payload = URL_SAFE_NO_PAD.decode(parts.payload).map_err(|_| DpopError::MalformedClaims)?;
    serde_json::from_slice(&payload).map_err(|_| DpopError::MalformedClaims)
}

/// ES256 with ring. The same key rules josekit applies on the other path: `use` (if any) is
/// `sig`, `key_ops` (if any) allows `verify`, `alg` (if any) is ES256; the point must be on
/// P-256 (ring refuses it otherwise).
fn verify_es256(unverified_jwk: &Map<String, Value>, message: &[u8], signature: &[u8]) -> Result<(), DpopError> {
    let rejected = |why: &'static str| DpopError::KeyRejected(AlgError::rule(why));
    if unverified_jwk.get("use").is_some_and(|u| u != "sig") {
        return Err(rejected("jwk use is not sig"));
    }
    if let Some(ops) = unverified_jwk.get("key_ops") {
        let allows_verify = ops.as_array().is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !allows_verify {
            return Err(rejected("jwk key_ops does not allow verify"));
        }
    }
    if unverified_jwk.get("alg").is_some_and(|a| a != "ES256") {
        return Err(rejected("jwk alg is not ES256"));
    }
    let key = Es256PublicKey::from_jwk(unverified_jwk).ok_or(DpopError::MalformedJwk("not a P-256 point"))?;
    if !key.verify(message, signature) {
        return Err(DpopError::InvalidSignature(AlgError::rule("ES256 signature")));
    }
    Ok(())
}

/// RFC 9449 §4.2 and §11.1 (DPOP-3, DPOP-15): `jti` is a non-empty string; it is capped so a
/// replay cache keyed on it cannot be inflated.
fn check_jti(claims: &Map<String, Value>) -> Result<String, DpopError> {
    match claims.get("jti") {
        None => Err(DpopError::MissingJti),
        Some(Value::String(jti)) if !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS => Ok(jti.clone()),
        Some(_) => Err(DpopError::InvalidJti),
    }
}

/// RFC 9449 §4.3 check 8 (DPOP-9): `htm` is the method of this request. Methods are
/// case-sensitive (RFC 9110 §9.1), so the comparison is exact.
fn check_htm(claims: &Map<String, Value>, method: &str) -> Result<(), DpopError> {
    match claims.get("htm") {
        Some(Value::String(htm)) if htm == method => Ok(()),
        Some(Value::String(_)) => Err(DpopError::HtmMismatch),
        _ => Err(DpopError::MissingHtm),
    }
}

/// RFC 9449 §4.3 check 11 and §11.1 (DPOP-14): `iat` is an integer within
/// `[now - max_age, now + max_future]`, so a captured proof is only good for a short time.
fn check_iat(claims: &Map<String, Value>, check: &ProofCheck<'_>) -> Result<i64, DpopError> {
    let iat = match claims.get("iat") {
        None => return Err(DpopError::MissingIat),
        Some(Value::Number(n)) => n.as_i64().ok_or(DpopError::IatNotInteger)?,
        Some(_) => return Err(DpopError::IatNotInteger),
    };
    if iat < check.now.saturating_sub(check.max_age) {
        return Err(DpopError::IatTooOld { iat, now: check.now, max_age: check.max_age });
    }
    if iat > check.now.saturating_add(check.max_future) {
        return Err(DpopError::IatInFuture { iat, now: check.now, max_future: check.max_future });
    }
    Ok(iat)
}

/// RFC 9449 §4.3 check 10 and §8 (DPOP-13): `nonce`, when present, is a string; the caller
/// compares it with the nonce it issued, since only it knows that.
fn read_nonce(claims: &Map<String, Value>) -> Result<Option<String>, DpopError> {
    match claims.get("nonce") {
        None => Ok(None),
        Some(Value::String(nonce)) => Ok(Some(nonce.clone())),
        Some(_) => Err(DpopError::NonceNotString),
    }
}

/// RFC 9449 §4.3 check 12 and §7 (DPOP-16, DPOP-25): with an access token, `ath` is required
/// and is its hash, so a proof made for one token cannot be used with another.
fn check_ath(claims: &Map<String, Value>, access_token: &str) -> Result<(), DpopError> {
    match claims.get("ath") {
        None => Err(DpopError::MissingAth),
        Some(Value::String(sent)) if constant_time_eq(sent.as_bytes(), ath(access_token).as_bytes()) => Ok(()),
        Some(_) => Err(DpopError::AthMismatch),
    }
}

/// RFC 7518 §3.3-3.5 and RFC 8037 §3.1: the key fits the algorithm (EC P-256 for ES256,
/// P-384 for ES384, RSA of 2048 bits or more for RS256/PS256, OKP Ed25519 for EdDSA), and
/// its members are canonical (full-length coordinates, minimal RSA integers), so one key
/// has one RFC 7638 thumbprint.
fn check_key(alg: JwsAlg, unverified_jwk: &Map<String, Value>) -> Result<(), DpopError> {
    let kty = unverified_jwk.get("kty").and_then(Value::as_str);
    let crv = unverified_jwk.get("crv").and_then(Value::as_str);
    match alg {
        JwsAlg::Es256 | JwsAlg::Es384 => {
            let (curve, len) = if alg == JwsAlg::Es256 { ("P-256", 32) } else { ("P-384", 48) };
            if kty != Some("EC") || crv != Some(curve) {
                return Err(DpopError::JwkDoesNotFitAlg);
            }
            if member_bytes(unverified_jwk, "x")?.len() != len || member_bytes(unverified_jwk, "y")?.len() != len {
                return Err(DpopError::MalformedJwk("EC coordinate of the wrong length"));
            }
        }
        JwsAlg::Ps256 | JwsAlg::Rs256 => {
            if kty != Some("RSA") {
                return Err(DpopError::JwkDoesNotFitAlg);
            }
            let n = member_bytes(unverified_jwk, "n")?;
            let e = member_bytes(unverified_jwk, "e")?;
            let (Some(&n_first), Some(&e_first)) = (n.first(), e.first()) else {
                return Err(DpopError::MalformedJwk("empty RSA member"));
            };
            if n_first == 0 || e_first == 0 {
                return Err(DpopError::MalformedJwk("RSA member with a leading zero"));
            }
            let bits = n.len() * 8 - n_first.leading_zeros() as usize;
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(DpopError::RsaKeySize { bits });
            }
            // An odd exponent of at most 31 bits, as Go's crypto/rsa requires: a huge
            // one would make every verification a full modular exponentiation.
            let exponent = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            if e.len() > 4 || exponent < 3 || exponent > i32::MAX as u64 || exponent % 2 == 0 {
                return Err(DpopError::MalformedJwk("unusable RSA exponent"));
            }
        }
        JwsAlg::EdDsa => {
            if kty != Some("OKP") || crv != Some("Ed25519") {
                return Err(DpopError::JwkDoesNotFitAlg);
            }
            if member_bytes(unverified_jwk, "x")?.len() != 32 {
                return Err(DpopError::MalformedJwk("Ed25519 key of the wrong length"));
            }
        }
    }
    Ok(())
}

/// A base64url key member, decoded strictly (no padding, no stray bits), so the string the
/// thumbprint hashes is the only spelling of the value.
fn member_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, DpopError> {
    let value =
        jwk.get(name).and_then(Value::as_str).ok_or(DpopError::MalformedJwk("key member missing or not a string"))?;
    URL_SAFE_NO_PAD.decode(value).map_err(|_| DpopError::MalformedJwk("key member is not base64url"))
}
