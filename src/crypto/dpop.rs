//! Server-side verification of DPoP proofs (RFC 9449 §4.3): pure, no I/O.
//!
//! [`verify_proof`] runs the checks of RFC 9449 §4.3 as a list of named steps, in an order
//! that never trusts data the signature has not covered: the proof's shape, then its JOSE
//! header (read as `unverified_*`), then the signature with the key in that header, then the
//! claims. The caller does what needs state: the `jti` replay cache (DPOP-15), the server
//! nonce (DPOP-13), the `cnf.jkt` binding (DPOP-16, DPOP-32) and the `DPoP` header count
//! (DPOP-1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsVerifier, ES256, ES384, PS256, RS256};
use josekit::JoseError;
use serde_json::{Map, Value};
use url::Url;

use super::{b64url, constant_time_eq, sha256};
use idp_verify::jwk::{has_private_members, thumbprint};
use idp_verify::jws::{CompactJws, Es256PublicKey};

/// Proof algorithms we verify, advertised as `dpop_signing_alg_values_supported` (RFC 9449
/// §5.1). Only asymmetric algorithms (§11.6): a MAC would need a secret shared with a client
/// that has not authenticated yet, and `none` proves nothing.
pub const SUPPORTED_ALGS: &[&str] = &["ES256", "ES384", "PS256", "RS256", "EdDSA"];

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
    pub jkt: String,
    /// For the caller's replay cache (RFC 9449 §11.1).
    pub jti: String,
    pub iat: i64,
    /// The `nonce` claim as sent; the caller compares it with the nonce it issued (§8).
    pub nonce: Option<String>,
    /// The `htu` claim as sent (it matched `expected_htu` after normalisation).
    pub htu: String,
}

/// Why a proof was refused: one variant per check. `Display` is the detail for the log;
/// [`DpopError::description`] is the text for `error_description`.
#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    #[error("DPoP proof is longer than {MAX_PROOF_LEN} bytes")]
    TooLong,
    #[error("DPoP proof is not a single compact JWS of three base64url parts")]
    NotCompactJws,
    #[error("DPoP proof header is not a base64url-encoded JSON object")]
    MalformedHeader,
    #[error("DPoP proof header has crit, and no JWS extension is understood here")]
    CriticalHeader,
    #[error("DPoP proof typ is missing or not dpop+jwt")]
    WrongTyp,
    #[error("DPoP proof alg is missing or not a string")]
    MissingAlg,
    #[error("DPoP proof alg is none or a MAC algorithm")]
    SymmetricAlg,
    #[error("DPoP proof alg is not one of {SUPPORTED_ALGS:?}")]
    UnsupportedAlg,
    #[error("DPoP proof header has no jwk")]
    MissingJwk,
    #[error("DPoP proof jwk is not a JSON object")]
    JwkNotObject,
    #[error("DPoP proof jwk contains private key members")]
    PrivateKeyInJwk,
    #[error("DPoP proof jwk is a symmetric (oct) key")]
    SymmetricJwk,
    #[error("DPoP proof jwk kty or crv does not fit alg")]
    JwkDoesNotFitAlg,
    #[error("DPoP proof RSA key has {bits} bits, outside {MIN_RSA_BITS}..={MAX_RSA_BITS}")]
    RsaKeySize { bits: usize },
    #[error("DPoP proof jwk is malformed: {0}")]
    MalformedJwk(&'static str),
    #[error("DPoP proof jwk was rejected as a public key")]
    KeyRejected(#[source] JoseError),
    #[error("DPoP proof signature does not verify with its jwk")]
    InvalidSignature(#[source] JoseError),
    #[error("DPoP proof payload is not a base64url-encoded JSON object")]
    MalformedClaims,
    #[error("DPoP proof has no jti")]
    MissingJti,
    #[error("DPoP proof jti is not a string of 1 to {MAX_JTI_CHARS} characters")]
    InvalidJti,
    #[error("DPoP proof has no htm string")]
    MissingHtm,
    #[error("DPoP proof htm does not match the request method")]
    HtmMismatch,
    #[error("DPoP proof has no htu")]
    MissingHtu,
    #[error("DPoP proof htu is not a JSON string")]
    HtuNotString,
    #[error("DPoP proof htu is not an absolute http or https URL")]
    HtuNotAbsoluteUrl,
    #[error("DPoP proof htu does not match the request URL")]
    HtuMismatch,
    #[error("DPoP proof has no iat")]
    MissingIat,
    #[error("DPoP proof iat is not an integer")]
    IatNotInteger,
    #[error("DPoP proof iat {iat} is older than {max_age} s at {now}")]
    IatTooOld { iat: i64, now: i64, max_age: i64 },
    #[error("DPoP proof iat {iat} is more than {max_future} s ahead of {now}")]
    IatInFuture { iat: i64, now: i64, max_future: i64 },
    #[error("DPoP proof nonce is not a string")]
    NonceNotString,
    #[error("DPoP proof has no ath, and it comes with an access token")]
    MissingAth,
    #[error("DPoP proof ath is not the hash of the access token it comes with")]
    AthMismatch,
}

impl DpopError {
    /// Short public text for `error_description` (and the `WWW-Authenticate` quoted-string):
    /// printable ASCII without quotes or backslashes, and nothing taken from the request.
    pub fn description(&self) -> &'static str {
        match self {
            Self::TooLong => "DPoP proof is too long",
            Self::NotCompactJws => "DPoP proof must be one compact JWS",
            Self::MalformedHeader => "DPoP proof header is malformed",
            Self::CriticalHeader => "DPoP proof header crit is not supported",
            Self::WrongTyp => "DPoP proof typ must be dpop+jwt",
            Self::MissingAlg => "DPoP proof alg is missing",
            Self::SymmetricAlg => "DPoP proof alg must be asymmetric",
            Self::UnsupportedAlg => "DPoP proof alg is not supported",
            Self::MissingJwk => "DPoP proof jwk is missing",
            Self::JwkNotObject => "DPoP proof jwk must be a JSON object",
            Self::PrivateKeyInJwk => "DPoP proof jwk must not contain a private key",
            Self::SymmetricJwk => "DPoP proof jwk must not be a symmetric key",
            Self::JwkDoesNotFitAlg => "DPoP proof jwk does not fit its alg",
            Self::RsaKeySize { .. } => "DPoP proof RSA key must have 2048 to 8192 bits",
            Self::MalformedJwk(_) | Self::KeyRejected(_) => "DPoP proof jwk is not a valid public key",
            Self::InvalidSignature(_) => "DPoP proof signature is invalid",
            Self::MalformedClaims => "DPoP proof claims are malformed",
            Self::MissingJti => "DPoP proof jti is missing",
            Self::InvalidJti => "DPoP proof jti is invalid",
            Self::MissingHtm => "DPoP proof htm is missing",
            Self::HtmMismatch => "DPoP proof htm does not match the request method",
            Self::MissingHtu => "DPoP proof htu is missing",
            Self::HtuNotString => "DPoP proof htu must be a string",
            Self::HtuNotAbsoluteUrl => "DPoP proof htu must be an absolute URL",
            Self::HtuMismatch => "DPoP proof htu does not match the request URL",
            Self::MissingIat => "DPoP proof iat is missing",
            Self::IatNotInteger => "DPoP proof iat must be an integer",
            Self::IatTooOld { .. } => "DPoP proof is too old",
            Self::IatInFuture { .. } => "DPoP proof iat is in the future",
            Self::NonceNotString => "DPoP proof nonce must be a string",
            Self::MissingAth => "DPoP proof ath is missing",
            Self::AthMismatch => "DPoP proof ath does not match the access token",
        }
    }
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
    alg.check_key(unverified_jwk)?;
    let claims = verify_signature(alg, unverified_jwk, &parts)?;
    // The signature covers the header too, so from here on the key is the signer's.
    let jwk = unverified_jwk;
    let jti = check_jti(&claims)?;
    check_htm(&claims, check.method)?;
    let htu = check_htu(&claims, check.expected_htu)?;
    let iat = check_iat(&claims, check)?;
    let nonce = read_nonce(&claims)?;
    if let Some(access_token) = check.access_token {
        check_ath(&claims, access_token)?;
    }
    let jkt = thumbprint(jwk).ok_or(DpopError::MalformedJwk("no thumbprint members"))?;
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
fn check_alg(unverified_header: &Map<String, Value>) -> Result<ProofAlg, DpopError> {
    let Some(Value::String(alg)) = unverified_header.get("alg") else {
        return Err(DpopError::MissingAlg);
    };
    if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") {
        return Err(DpopError::SymmetricAlg);
    }
    ProofAlg::parse(alg).ok_or(DpopError::UnsupportedAlg)
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
    alg: ProofAlg,
    unverified_jwk: &Map<String, Value>,
    parts: &CompactParts<'_>,
) -> Result<Map<String, Value>, DpopError> {
    let signature = URL_SAFE_NO_PAD.decode(parts.signature).map_err(|_| DpopError::NotCompactJws)?;
    if alg == ProofAlg::Es256 {
        // The common case, verified with ring: no OpenSSL key object or provider lookup per proof.
        verify_es256(unverified_jwk, parts.signing_input.as_bytes(), &signature)?;
    } else {
        let jwk = Jwk::from_map(unverified_jwk.clone()).map_err(DpopError::KeyRejected)?;
        let verifier = alg.verifier(&jwk).map_err(DpopError::KeyRejected)?;
        verifier.verify(parts.signing_input.as_bytes(), &signature).map_err(DpopError::InvalidSignature)?;
    }
    let payload = URL_SAFE_NO_PAD.decode(parts.payload).map_err(|_| DpopError::MalformedClaims)?;
    serde_json::from_slice(&payload).map_err(|_| DpopError::MalformedClaims)
}

/// ES256 with ring. The same key rules josekit applies on the other path: `use` (if any) is
/// `sig`, `key_ops` (if any) allows `verify`, `alg` (if any) is ES256; the point must be on
/// P-256 (ring refuses it otherwise).
fn verify_es256(unverified_jwk: &Map<String, Value>, message: &[u8], signature: &[u8]) -> Result<(), DpopError> {
    let rejected = |why: &'static str| DpopError::KeyRejected(JoseError::InvalidKeyFormat(anyhow::anyhow!(why)));
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
        return Err(DpopError::InvalidSignature(JoseError::InvalidSignature(anyhow::anyhow!("ES256 signature"))));
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

/// RFC 9449 §4.3 check 9 (DPOP-10, DPOP-11, DPOP-12): `htu` is a string holding an absolute
/// http(s) URL that equals the URL of this endpoint, ignoring query and fragment, after
/// RFC 3986 §6.2.2 and §6.2.3 normalisation. The expected URL comes from configuration.
fn check_htu(claims: &Map<String, Value>, expected_htu: &str) -> Result<String, DpopError> {
    let htu = match claims.get("htu") {
        None => return Err(DpopError::MissingHtu),
        Some(Value::String(htu)) => htu,
        Some(_) => return Err(DpopError::HtuNotString),
    };
    let presented = normalize_http_url(htu).ok_or(DpopError::HtuNotAbsoluteUrl)?;
    // An expected URL that does not normalise is a configuration bug; it matches nothing.
    match normalize_http_url(expected_htu) {
        Some(expected) if expected == presented => Ok(htu.clone()),
        _ => Err(DpopError::HtuMismatch),
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

/// The proof algorithms of [`SUPPORTED_ALGS`], each with the key type it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProofAlg {
    Es256,
    Es384,
    Ps256,
    Rs256,
    EdDsa,
}

impl ProofAlg {
    fn parse(alg: &str) -> Option<Self> {
        Some(match alg {
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "PS256" => Self::Ps256,
            "RS256" => Self::Rs256,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }

    /// RFC 7518 §3.3-3.5 and RFC 8037 §3.1: the key fits the algorithm (EC P-256 for ES256,
    /// P-384 for ES384, RSA of 2048 bits or more for RS256/PS256, OKP Ed25519 for EdDSA), and
    /// its members are canonical (full-length coordinates, minimal RSA integers), so one key
    /// has one RFC 7638 thumbprint.
    fn check_key(self, unverified_jwk: &Map<String, Value>) -> Result<(), DpopError> {
        let kty = unverified_jwk.get("kty").and_then(Value::as_str);
        let crv = unverified_jwk.get("crv").and_then(Value::as_str);
        match self {
            Self::Es256 | Self::Es384 => {
                let (curve, len) = if self == Self::Es256 { ("P-256", 32) } else { ("P-384", 48) };
                if kty != Some("EC") || crv != Some(curve) {
                    return Err(DpopError::JwkDoesNotFitAlg);
                }
                if member_bytes(unverified_jwk, "x")?.len() != len || member_bytes(unverified_jwk, "y")?.len() != len {
                    return Err(DpopError::MalformedJwk("EC coordinate of the wrong length"));
                }
            }
            Self::Ps256 | Self::Rs256 => {
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
            Self::EdDsa => {
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

    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
        Ok(match self {
            Self::Es256 => Box::new(ES256.verifier_from_jwk(jwk)?),
            Self::Es384 => Box::new(ES384.verifier_from_jwk(jwk)?),
            Self::Ps256 => Box::new(PS256.verifier_from_jwk(jwk)?),
            Self::Rs256 => Box::new(RS256.verifier_from_jwk(jwk)?),
            Self::EdDsa => Box::new(EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

/// A base64url key member, decoded strictly (no padding, no stray bits), so the string the
/// thumbprint hashes is the only spelling of the value.
fn member_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, DpopError> {
    let value =
        jwk.get(name).and_then(Value::as_str).ok_or(DpopError::MalformedJwk("key member missing or not a string"))?;
    URL_SAFE_NO_PAD.decode(value).map_err(|_| DpopError::MalformedJwk("key member is not base64url"))
}

/// An absolute http(s) URL without query and fragment, normalised per RFC 3986 §6.2.2
/// (case of scheme and host, percent-encoding, dot segments) and §6.2.3 (default port
/// elided, empty path is `/`). `None` if `raw` is not such a URL.
fn normalize_http_url(raw: &str) -> Option<String> {
    // WHATWG parsing (the `url` crate) drops tabs and newlines and reads `\` as `/`; a string
    // that only matches after such repairs is not the URI the client signed, so anything that
    // is not RFC 3986 syntax up to the query is refused first.
    let (before_query, after) = match raw.find(['?', '#']) {
        Some(at) => raw.split_at(at),
        None => (raw, ""),
    };
    if !is_rfc3986_text(before_query) || !after.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    // An authority is required ("https:host/path" has none in RFC 3986 terms).
    let scheme_len = if starts_with_ignore_case(raw, "https://") {
        5
    } else if starts_with_ignore_case(raw, "http://") {
        4
    } else {
        return None;
    };
    let url = Url::parse(raw).ok()?;
    if url.scheme().len() != scheme_len || url.host().is_none() {
        return None;
    }
    let authority = &url[..url::Position::BeforePath];
    Some(format!("{authority}{}", normalize_percent_encoding(url.path())))
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// RFC 3986 §2: unreserved, reserved and well-formed percent-encoded octets only.
fn is_rfc3986_text(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// RFC 3986 §6.2.2.1-2: decode percent-encoded unreserved characters, upper-case the hex
/// digits of the rest. The input is a parsed path, so every `%` starts a valid triplet.
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let triplet = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match triplet {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                i += 3;
            }
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use josekit::jwk::alg::ed::EdCurve;
    use josekit::jws::{JwsSigner, ES512, HS256};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;
    const HTU: &str = "https://idp.example/token";

    fn check() -> ProofCheck<'static> {
        ProofCheck { method: "POST", expected_htu: HTU, now: NOW, max_age: 300, max_future: 10, access_token: None }
    }

    /// A client key: the signer and the public JWK it puts in its proofs.
    struct TestKey {
        alg: &'static str,
        signer: Box<dyn JwsSigner>,
        private_jwk: Map<String, Value>,
        public_jwk: Map<String, Value>,
    }

    impl TestKey {
        fn new(alg: &'static str) -> Self {
            let (pair_jwk, public): (Jwk, Jwk) = match alg {
                "ES256" => {
                    let pair = ES256.generate_key_pair().unwrap();
                    (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
                }
                "ES384" => {
                    let pair = ES384.generate_key_pair().unwrap();
                    (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
                }
                "RS256" | "PS256" => {
                    // RSA key generation is slow in debug builds: one key serves both.
                    static RSA: OnceLock<(Jwk, Jwk)> = OnceLock::new();
                    let (pair, public) = RSA.get_or_init(|| {
                        let pair = RS256.generate_key_pair(2048).unwrap();
                        (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
                    });
                    (pair.clone(), public.clone())
                }
                "EdDSA" => {
                    let pair = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
                    (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
                }
                _ => unreachable!("no test key for {alg}"),
            };
            // Drop `alg` (the RSA pair says RS256) so the same key signs with PS256 too.
            let without_alg = |jwk: &Jwk| {
                let mut map = jwk.as_ref().clone();
                map.remove("alg");
                map
            };
            let private_jwk = without_alg(&pair_jwk);
            let pair_jwk = Jwk::from_map(private_jwk.clone()).unwrap();
            let signer: Box<dyn JwsSigner> = match alg {
                "ES256" => Box::new(ES256.signer_from_jwk(&pair_jwk).unwrap()),
                "ES384" => Box::new(ES384.signer_from_jwk(&pair_jwk).unwrap()),
                "RS256" => Box::new(RS256.signer_from_jwk(&pair_jwk).unwrap()),
                "PS256" => Box::new(PS256.signer_from_jwk(&pair_jwk).unwrap()),
                _ => Box::new(EdDSA.signer_from_jwk(&pair_jwk).unwrap()),
            };
            Self { alg, signer, private_jwk, public_jwk: without_alg(&public) }
        }

        fn es256() -> Self {
            Self::new("ES256")
        }

        fn header(&self) -> Value {
            json!({ "typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk })
        }

        /// Signs `header` and `claims` as given, as a client (or an attacker) would.
        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
            let signature = self.signer.sign(input.as_bytes()).unwrap();
            format!("{input}.{}", b64url(&signature))
        }

        fn proof(&self, claims: &Value) -> String {
            self.sign(&self.header(), claims)
        }

        fn proof_with_header(&self, change: impl FnOnce(&mut Value)) -> String {
            let mut header = self.header();
            change(&mut header);
            self.sign(&header, &claims())
        }
    }

    fn claims() -> Value {
        json!({ "jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": HTU, "iat": NOW })
    }

    fn claims_with(name: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[name] = value;
        claims
    }

    fn claims_without(name: &str) -> Value {
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    /// RFC 7638 §3 by hand for an EC key, independent of `signing::thumbprint`.
    fn ec_thumbprint(jwk: &Map<String, Value>) -> String {
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        b64url(&sha256(canonical.as_bytes()))
    }

    /// Which refusal a table-driven case expects.
    type Expected = fn(&DpopError) -> bool;

    fn refusal(proof: &str, check: &ProofCheck<'_>) -> DpopError {
        match verify_proof(proof, check) {
            Ok(verified) => panic!("accepted: {verified:?}"),
            Err(err) => err,
        }
    }

    // Figures 4 and 13 of RFC 9449 (§4.1 and §7.1): proofs signed by the RFC's authors.
    const RFC_TOKEN_PROOF: &str = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
        ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
        ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
    );
    const RFC_RESOURCE_PROOF: &str = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
        ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9",
        ".2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
    );
    const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const RFC_JWK: &str = r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#;

    #[test]
    fn dpop_7_proof_made_like_the_client_helper_verifies_and_yields_its_thumbprint() {
        // Arrange: what tests/common/dpop.rs does, an ES256 key and a fresh proof.
        let key = TestKey::es256();
        let proof = key.proof(&claims());

        // Act
        let verified = verify_proof(&proof, &check()).unwrap();

        // Assert
        assert_eq!(
            verified,
            VerifiedProof {
                jkt: ec_thumbprint(&key.public_jwk),
                jti: "e1j3V_bKic8-LAEB".into(),
                iat: NOW,
                nonce: None,
                htu: HTU.into(),
            }
        );
    }

    #[test]
    fn dpop_5_every_supported_alg_verifies() {
        for alg in SUPPORTED_ALGS {
            let key = TestKey::new(alg);
            let verified = verify_proof(&key.proof(&claims()), &check()).unwrap_or_else(|err| panic!("{alg}: {err}"));
            assert_eq!(verified.jkt, thumbprint(&key.public_jwk).unwrap(), "{alg}");
        }
    }

    #[test]
    fn dpop_7_rfc9449_token_request_example_verifies() {
        let check = ProofCheck { expected_htu: "https://server.example.com/token", now: 1_562_262_616, ..check() };
        let verified = verify_proof(RFC_TOKEN_PROOF, &check).unwrap();
        let jwk: Map<String, Value> = serde_json::from_str(RFC_JWK).unwrap();
        assert_eq!(verified.jkt, ec_thumbprint(&jwk));
        assert_eq!(verified.jti, "-BwC3ESc6acc2lTc");
    }

    #[test]
    fn dpop_16_rfc9449_resource_example_verifies_with_its_access_token() {
        let check = ProofCheck {
            method: "GET",
            expected_htu: "https://resource.example.org/protectedresource",
            now: 1_562_262_618,
            access_token: Some(RFC_ACCESS_TOKEN),
            ..check()
        };
        verify_proof(RFC_RESOURCE_PROOF, &check).unwrap();
    }

    #[test]
    fn dpop_16_ath_is_the_rfc9449_example_hash() {
        // RFC 9449 §7.1.
        assert_eq!(ath(RFC_ACCESS_TOKEN), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    }

    #[test]
    fn dpop_23_jkt_is_the_rfc7638_thumbprint_of_the_jwk() {
        let key = TestKey::es256();
        let verified = verify_proof(&key.proof(&claims()), &check()).unwrap();
        assert_eq!(verified.jkt, ec_thumbprint(&key.public_jwk));
        assert_eq!(verified.jkt.len(), 43, "base64url of 32 bytes");
    }

    #[test]
    fn dpop_2_proof_longer_than_8_kib_is_refused() {
        let key = TestKey::es256();
        let padded = claims_with("pad", json!("x".repeat(MAX_PROOF_LEN)));
        let err = refusal(&key.proof(&padded), &check());
        assert!(matches!(err, DpopError::TooLong), "{err:?}");
    }

    #[test]
    fn dpop_2_value_that_is_not_three_base64url_parts_is_refused() {
        let proof = TestKey::es256().proof(&claims());
        let (input, signature) = proof.rsplit_once('.').unwrap();
        for bad in [
            String::new(),
            input.to_owned(),
            format!("{proof}.e30"),
            format!("{input}."),
            format!(".{}", proof.split_once('.').unwrap().1),
            proof.replacen('.', "..", 1),
            format!("{proof}="),
            format!("DPoP {proof}"),
            // Standard base64 alphabet instead of base64url.
            format!("{input}.+{signature}"),
            format!("{input}./{signature}"),
        ] {
            let err = refusal(&bad, &check());
            assert!(matches!(err, DpopError::NotCompactJws), "{bad}: {err:?}");
        }
    }

    #[test]
    fn dpop_2_two_proofs_in_one_value_are_refused() {
        // A repeated header folded into one line (RFC 9110 §5.3) reaches us comma-separated.
        let key = TestKey::es256();
        let (first, second) = (key.proof(&claims()), key.proof(&claims()));
        for bad in [format!("{first},{second}"), format!("{first}, {second}"), format!("{first} {second}")] {
            let err = refusal(&bad, &check());
            assert!(matches!(err, DpopError::NotCompactJws), "{err:?}");
        }
    }

    #[test]
    fn dpop_2_header_that_is_not_a_base64url_json_object_is_refused() {
        let proof = TestKey::es256().proof(&claims());
        let rest = proof.split_once('.').unwrap().1;
        for header in [
            b64url(b"not json"),
            b64url(b"[\"typ\"]"),
            b64url(br#"{"typ":"dpop+jwt""#),
            "A".to_owned(), // impossible base64 length
        ] {
            let err = refusal(&format!("{header}.{rest}"), &check());
            assert!(matches!(err, DpopError::MalformedHeader), "{err:?}");
        }
    }

    #[test]
    fn dpop_2_critical_header_extensions_are_refused() {
        let key = TestKey::es256();
        let proof = key.proof_with_header(|h| {
            h["crit"] = json!(["b64"]);
            h["b64"] = json!(false);
        });
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::CriticalHeader), "{err:?}");
    }

    #[test]
    fn dpop_2_payload_that_is_not_a_json_object_is_refused() {
        let key = TestKey::es256();
        let input = format!("{}.{}", b64url(key.header().to_string().as_bytes()), b64url(b"[1,2]"));
        let signature = key.signer.sign(input.as_bytes()).unwrap();
        let err = refusal(&format!("{input}.{}", b64url(&signature)), &check());
        assert!(matches!(err, DpopError::MalformedClaims), "{err:?}");
    }

    #[test]
    fn dpop_3_missing_alg_is_refused() {
        let key = TestKey::es256();
        for change in [json!(null), json!(256)] {
            let proof = key.proof_with_header(|h| match change {
                Value::Null => {
                    h.as_object_mut().unwrap().remove("alg");
                }
                other => h["alg"] = other,
            });
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::MissingAlg), "{err:?}");
        }
    }

    #[test]
    fn dpop_3_missing_jwk_is_refused() {
        let key = TestKey::es256();
        let proof = key.proof_with_header(|h| {
            h.as_object_mut().unwrap().remove("jwk");
        });
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::MissingJwk), "{err:?}");
    }

    #[test]
    fn dpop_3_each_missing_claim_is_refused() {
        let key = TestKey::es256();
        let cases: [(&str, Expected); 4] = [
            ("jti", |e| matches!(e, DpopError::MissingJti)),
            ("htm", |e| matches!(e, DpopError::MissingHtm)),
            ("htu", |e| matches!(e, DpopError::MissingHtu)),
            ("iat", |e| matches!(e, DpopError::MissingIat)),
        ];
        for (claim, expected) in cases {
            let err = refusal(&key.proof(&claims_without(claim)), &check());
            assert!(expected(&err), "without {claim}: {err:?}");
        }
    }

    #[test]
    fn dpop_4_typ_other_than_dpop_jwt_is_refused() {
        let key = TestKey::es256();
        for typ in [
            json!(null),
            json!("JWT"),
            json!("at+jwt"),
            json!("DPOP+JWT"),
            json!("application/dpop+jwt"),
            json!(["dpop+jwt"]),
        ] {
            let proof = key.proof_with_header(|h| match &typ {
                Value::Null => {
                    h.as_object_mut().unwrap().remove("typ");
                }
                other => h["typ"] = other.clone(),
            });
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::WrongTyp), "{typ}: {err:?}");
        }
    }

    #[test]
    fn dpop_5_unsupported_asymmetric_alg_is_refused() {
        // ES512 really signed with a P-521 key: refused by policy, not for a bad signature.
        let pair = ES512.generate_key_pair().unwrap();
        let signer = ES512.signer_from_jwk(&pair.to_jwk_key_pair()).unwrap();
        let header = json!({
            "typ": "dpop+jwt", "alg": "ES512", "jwk": pair.to_jwk_public_key().as_ref()
        });
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims().to_string().as_bytes()));
        let signature = signer.sign(input.as_bytes()).unwrap();
        let err = refusal(&format!("{input}.{}", b64url(&signature)), &check());
        assert!(matches!(err, DpopError::UnsupportedAlg), "{err:?}");

        let key = TestKey::es256();
        for alg in ["RS512", "PS384", "ES256K", "RSA-OAEP", "es256", "Ed25519"] {
            let proof = key.proof_with_header(|h| h["alg"] = json!(alg));
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::UnsupportedAlg), "{alg}: {err:?}");
        }
    }

    #[test]
    fn dpop_6_none_and_mac_algs_are_refused() {
        let key = TestKey::es256();
        // `none` with an empty signature is not even a three-part JWS with content.
        let unsigned = format!(
            "{}.{}.",
            b64url(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}).to_string().as_bytes()),
            b64url(claims().to_string().as_bytes())
        );
        assert!(matches!(refusal(&unsigned, &check()), DpopError::NotCompactJws));
        for alg in ["none", "None", "HS256", "HS384", "HS512"] {
            let proof = key.proof_with_header(|h| h["alg"] = json!(alg));
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::SymmetricAlg), "{alg}: {err:?}");
        }
        // A proof really MAC'd with the key it carries.
        let secret = Jwk::generate_oct_key(32).unwrap();
        let signer = HS256.signer_from_jwk(&secret).unwrap();
        let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": secret.as_ref()});
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims().to_string().as_bytes()));
        let mac = signer.sign(input.as_bytes()).unwrap();
        let err = refusal(&format!("{input}.{}", b64url(&mac)), &check());
        assert!(matches!(err, DpopError::SymmetricAlg), "{err:?}");
    }

    #[test]
    fn dpop_5_jwk_that_does_not_fit_the_alg_is_refused() {
        let es256 = TestKey::es256();
        let es384 = TestKey::new("ES384");
        let rsa = TestKey::new("RS256");
        let ed = TestKey::new("EdDSA");
        for (alg, jwk) in [
            ("ES256", &es384.public_jwk),
            ("ES384", &es256.public_jwk),
            ("ES256", &rsa.public_jwk),
            ("RS256", &es256.public_jwk),
            ("PS256", &ed.public_jwk),
            ("EdDSA", &es256.public_jwk),
            ("ES256", &ed.public_jwk),
        ] {
            let proof = es256.proof_with_header(|h| {
                h["alg"] = json!(alg);
                h["jwk"] = json!(jwk);
            });
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::JwkDoesNotFitAlg), "{alg}: {err:?}");
        }
        // Ed448 is an OKP key too, but EdDSA here means Ed25519.
        let mut ed448 = ed.public_jwk.clone();
        ed448.insert("crv".into(), json!("Ed448"));
        let proof = ed.proof_with_header(|h| h["jwk"] = json!(ed448));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::JwkDoesNotFitAlg), "{err:?}");
    }

    #[test]
    fn dpop_5_rsa_key_under_2048_bits_is_refused() {
        let rsa = TestKey::new("RS256");
        let mut weak = rsa.public_jwk.clone();
        // A 1024-bit modulus: top bit set, odd. Refused before any signature is checked.
        let mut n = vec![0xA5u8; 128];
        n[0] = 0xC1;
        weak.insert("n".into(), json!(b64url(&n)));
        let proof = rsa.proof_with_header(|h| h["jwk"] = json!(weak));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::RsaKeySize { bits: 1024 }), "{err:?}");

        // 2047 bits: 256 bytes, but the top bit is clear.
        let mut n = vec![0xA5u8; 256];
        n[0] = 0x41;
        weak.insert("n".into(), json!(b64url(&n)));
        let proof = rsa.proof_with_header(|h| h["jwk"] = json!(weak));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::RsaKeySize { bits: 2047 }), "{err:?}");
    }

    #[test]
    fn dpop_8_private_key_in_jwk_is_refused() {
        for alg in ["ES256", "RS256", "EdDSA"] {
            let key = TestKey::new(alg);
            let proof = key.proof_with_header(|h| h["jwk"] = json!(key.private_jwk));
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::PrivateKeyInJwk), "{alg}: {err:?}");
        }
        // Any one private member is enough, whatever its value.
        let key = TestKey::es256();
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let mut jwk = key.public_jwk.clone();
            jwk.insert(member.into(), json!("AQAB"));
            let proof = key.proof_with_header(|h| h["jwk"] = json!(jwk));
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::PrivateKeyInJwk), "{member}: {err:?}");
        }
    }

    #[test]
    fn dpop_8_symmetric_jwk_is_refused() {
        let key = TestKey::es256();
        let secret = Jwk::generate_oct_key(32).unwrap();
        for jwk in [json!(secret.as_ref()), json!({"kty": "oct"})] {
            let proof = key.proof_with_header(|h| h["jwk"] = jwk.clone());
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::SymmetricJwk), "{err:?}");
        }
    }

    #[test]
    fn dpop_8_jwk_that_is_not_an_object_is_refused() {
        let key = TestKey::es256();
        for jwk in [json!(ec_thumbprint(&key.public_jwk)), json!([key.public_jwk]), json!(null)] {
            let proof = key.proof_with_header(|h| h["jwk"] = jwk.clone());
            let err = refusal(&proof, &check());
            assert!(matches!(err, DpopError::JwkNotObject), "{jwk}: {err:?}");
        }
    }

    #[test]
    fn dpop_8_malformed_public_key_is_refused() {
        let key = TestKey::es256();
        let x = key.public_jwk["x"].as_str().unwrap().to_owned();
        let cases: [(&str, Value, Expected); 5] = [
            // A coordinate one byte short.
            ("x", json!(b64url(&[7u8; 31])), |e| matches!(e, DpopError::MalformedJwk(_))),
            ("y", json!(null), |e| matches!(e, DpopError::MalformedJwk(_))),
            ("x", json!(format!("{x}=")), |e| matches!(e, DpopError::MalformedJwk(_))),
            // Right length, but not a point on P-256: refused (ring reports it with the signature).
            ("y", json!(b64url(&[7u8; 32])), |e| {
                matches!(e, DpopError::KeyRejected(_) | DpopError::InvalidSignature(_))
            }),
            // josekit honours `use`: a key for encryption does not verify signatures.
            ("use", json!("enc"), |e| matches!(e, DpopError::KeyRejected(_))),
        ];
        for (member, value, expected) in cases {
            let mut jwk = key.public_jwk.clone();
            if value.is_null() {
                jwk.remove(member);
            } else {
                jwk.insert(member.into(), value.clone());
            }
            let proof = key.proof_with_header(|h| h["jwk"] = json!(jwk));
            let err = refusal(&proof, &check());
            assert!(expected(&err), "{member}={value}: {err:?}");
        }
    }

    #[test]
    fn dpop_7_proof_signed_by_another_key_is_refused() {
        // Signed by `signer` but naming `victim`'s public key: whoever holds only the public
        // key must not be able to produce proofs bound to it.
        let signer = TestKey::es256();
        let victim = TestKey::es256();
        let proof = signer.proof_with_header(|h| h["jwk"] = json!(victim.public_jwk));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::InvalidSignature(_)), "{err:?}");
    }

    #[test]
    fn dpop_7_claims_changed_after_signing_are_refused() {
        let key = TestKey::es256();
        let proof = key.proof(&claims_with("htm", json!("GET")));
        let (header, rest) = proof.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let forged = format!("{header}.{}.{signature}", b64url(claims().to_string().as_bytes()));
        let err = refusal(&forged, &check());
        assert!(matches!(err, DpopError::InvalidSignature(_)), "{err:?}");

        // A signature that is not base64url at all.
        let (input, _) = proof.rsplit_once('.').unwrap();
        let err = refusal(&format!("{input}.A"), &check());
        assert!(matches!(err, DpopError::NotCompactJws), "{err:?}");
    }

    #[test]
    fn dpop_9_htm_other_than_the_request_method_is_refused() {
        let key = TestKey::es256();
        for htm in ["GET", "post", "POST "] {
            let err = refusal(&key.proof(&claims_with("htm", json!(htm))), &check());
            assert!(matches!(err, DpopError::HtmMismatch), "{htm}: {err:?}");
        }
        let err = refusal(&key.proof(&claims_with("htm", json!(["POST"]))), &check());
        assert!(matches!(err, DpopError::MissingHtm), "{err:?}");
    }

    #[test]
    fn dpop_10_htu_matches_ignoring_query_and_fragment() {
        let key = TestKey::es256();
        for htu in [
            "https://idp.example/token?x=1",
            "https://idp.example/token#f",
            "https://idp.example/token?",
            "https://idp.example/token?a=|b{c}#f^",
        ] {
            let proof = key.proof(&claims_with("htu", json!(htu)));
            assert_eq!(verify_proof(&proof, &check()).unwrap().htu, htu, "the claim as sent");
        }
    }

    #[test]
    fn dpop_11_htu_is_compared_after_rfc3986_normalisation() {
        let key = TestKey::es256();
        for htu in [
            "HTTPS://IDP.EXAMPLE:443/token?x=1#f",
            "https://idp.example:443/token",
            "https://IDP.example/token",
            "https://idp.example/%74oken",
            "https://idp.example/a/../token",
            "https://idp.example/./token",
        ] {
            let proof = key.proof(&claims_with("htu", json!(htu)));
            verify_proof(&proof, &check()).unwrap_or_else(|err| panic!("{htu}: {err}"));
        }
        // The expected side is normalised the same way.
        let check = ProofCheck { expected_htu: "HTTP://Localhost:80/a%2fb/%7Euser", ..check() };
        let proof = key.proof(&claims_with("htu", json!("http://localhost/a%2Fb/~user")));
        verify_proof(&proof, &check).unwrap();
    }

    #[test]
    fn dpop_10_htu_with_another_scheme_host_port_or_path_is_refused() {
        let key = TestKey::es256();
        for htu in [
            "http://idp.example/token",
            "https://idp.example:8443/token",
            "https://idp.example:80/token",
            "https://other.example/token",
            "https://idp.example.evil/token",
            "https://idp.example/token/",
            "https://idp.example/Token",
            "https://idp.example/token2",
            "https://idp.example/",
            "https://idp.example/a%2Ftoken",
            "https://user@idp.example/token",
        ] {
            let err = refusal(&key.proof(&claims_with("htu", json!(htu))), &check());
            assert!(matches!(err, DpopError::HtuMismatch), "{htu}: {err:?}");
        }
    }

    #[test]
    fn dpop_12_htu_that_is_not_a_string_is_refused() {
        let key = TestKey::es256();
        for htu in [json!(1), json!(["https://idp.example/token"]), json!({"href": HTU}), json!(null)] {
            let err = refusal(&key.proof(&claims_with("htu", htu.clone())), &check());
            assert!(matches!(err, DpopError::HtuNotString), "{htu}: {err:?}");
        }
    }

    #[test]
    fn dpop_12_htu_that_is_not_an_absolute_http_url_is_refused() {
        let key = TestKey::es256();
        for htu in [
            "",
            "/token",
            "idp.example/token",
            "//idp.example/token",
            "ftp://idp.example/token",
            "wss://idp.example/token",
            "https:idp.example/token",
            "https:/idp.example/token",
            "https:\\\\idp.example\\token",
            "https://idp.exa\nmple/token",
            "https://idp.example/to\tken",
            " https://idp.example/token",
            "https://idp.example/tok%zzen",
            "https://idp.\u{e9}xample/token",
            "https://",
            // Whitespace and non-ASCII are never part of a URI, not even in the query.
            "https://idp.example/token?a=b c",
            "https://idp.example/token#\u{e9}",
        ] {
            let err = refusal(&key.proof(&claims_with("htu", json!(htu))), &check());
            assert!(matches!(err, DpopError::HtuNotAbsoluteUrl), "{htu:?}: {err:?}");
        }
    }

    #[test]
    fn dpop_14_iat_inside_the_window_is_accepted_up_to_its_edges() {
        let key = TestKey::es256();
        for iat in [NOW - 300, NOW - 1, NOW, NOW + 10] {
            let proof = key.proof(&claims_with("iat", json!(iat)));
            assert_eq!(verify_proof(&proof, &check()).unwrap().iat, iat);
        }
    }

    #[test]
    fn dpop_14_iat_outside_the_window_is_refused() {
        let key = TestKey::es256();
        let err = refusal(&key.proof(&claims_with("iat", json!(NOW - 301))), &check());
        assert!(matches!(err, DpopError::IatTooOld { .. }), "{err:?}");
        for iat in [NOW + 11, NOW + 61, i64::MAX] {
            let err = refusal(&key.proof(&claims_with("iat", json!(iat))), &check());
            assert!(matches!(err, DpopError::IatInFuture { .. }), "{iat}: {err:?}");
        }
        let err = refusal(&key.proof(&claims_with("iat", json!(i64::MIN))), &check());
        assert!(matches!(err, DpopError::IatTooOld { .. }), "{err:?}");
    }

    #[test]
    fn dpop_14_iat_that_is_not_an_integer_is_refused() {
        let key = TestKey::es256();
        for iat in [json!(NOW.to_string()), json!(NOW as f64 + 0.5), json!(NOW as f64), json!(u64::MAX), json!(true)] {
            let err = refusal(&key.proof(&claims_with("iat", iat.clone())), &check());
            assert!(matches!(err, DpopError::IatNotInteger), "{iat}: {err:?}");
        }
    }

    #[test]
    fn dpop_13_nonce_is_returned_for_the_caller_to_check() {
        let key = TestKey::es256();
        let proof = key.proof(&claims_with("nonce", json!("eyJ7S_zG.eyJH0-Z.HX4w-7v")));
        let verified = verify_proof(&proof, &check()).unwrap();
        assert_eq!(verified.nonce.as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
    }

    #[test]
    fn dpop_13_nonce_that_is_not_a_string_is_refused() {
        let key = TestKey::es256();
        for nonce in [json!(1), json!(["n"]), json!(null)] {
            let err = refusal(&key.proof(&claims_with("nonce", nonce.clone())), &check());
            assert!(matches!(err, DpopError::NonceNotString), "{nonce}: {err:?}");
        }
    }

    #[test]
    fn dpop_15_jti_must_be_a_non_empty_string_of_at_most_256_characters() {
        let key = TestKey::es256();
        for jti in [json!(""), json!("j".repeat(257)), json!("\u{e9}".repeat(257)), json!(42)] {
            let err = refusal(&key.proof(&claims_with("jti", jti.clone())), &check());
            assert!(matches!(err, DpopError::InvalidJti), "{jti}: {err:?}");
        }
        for jti in ["j".repeat(256), "\u{e9}".repeat(256)] {
            let proof = key.proof(&claims_with("jti", json!(jti)));
            assert_eq!(verify_proof(&proof, &check()).unwrap().jti, jti);
        }
    }

    #[test]
    fn dpop_16_ath_is_required_with_an_access_token() {
        let key = TestKey::es256();
        let check = ProofCheck { access_token: Some("at-1"), ..check() };
        let err = refusal(&key.proof(&claims()), &check);
        assert!(matches!(err, DpopError::MissingAth), "{err:?}");

        let proof = key.proof(&claims_with("ath", json!(ath("at-1"))));
        verify_proof(&proof, &check).unwrap();
    }

    #[test]
    fn dpop_16_ath_of_another_token_is_refused() {
        let key = TestKey::es256();
        let check = ProofCheck { access_token: Some("at-1"), ..check() };
        for sent in [json!(ath("at-2")), json!("at-1"), json!(ath("at-1").to_uppercase()), json!(1)] {
            let err = refusal(&key.proof(&claims_with("ath", sent.clone())), &check);
            assert!(matches!(err, DpopError::AthMismatch), "{sent}: {err:?}");
        }
    }

    #[test]
    fn dpop_16_ath_is_ignored_without_an_access_token() {
        // At the token endpoint there is no access token to hash.
        let key = TestKey::es256();
        let proof = key.proof(&claims_with("ath", json!(ath("whatever"))));
        verify_proof(&proof, &check()).unwrap();
    }

    #[test]
    fn dpop_17_unknown_header_parameters_and_claims_are_accepted() {
        let key = TestKey::es256();
        let mut header = key.header();
        header["kid"] = json!("client-key-1");
        header["x-extra"] = json!({"nested": [1, 2]});
        let claims = claims_with("client_hint", json!("anything"));
        let claims = {
            let mut c = claims;
            c["exp"] = json!(NOW + 60);
            c
        };
        verify_proof(&key.sign(&header, &claims), &check()).unwrap();

        // The conformance suite's shape: extra claims and an extra jwk member.
        let mut jwk = key.public_jwk.clone();
        jwk.insert("kid".into(), json!("k1"));
        header["jwk"] = json!(jwk);
        let verified = verify_proof(&key.sign(&header, &claims), &check()).unwrap();
        assert_eq!(verified.jkt, ec_thumbprint(&key.public_jwk), "kid is not in the thumbprint");
    }

    #[test]
    fn descriptions_are_safe_for_error_description() {
        let jose = || JoseError::InvalidSignature(anyhow::anyhow!("detail"));
        let all = [
            DpopError::TooLong,
            DpopError::NotCompactJws,
            DpopError::MalformedHeader,
            DpopError::CriticalHeader,
            DpopError::WrongTyp,
            DpopError::MissingAlg,
            DpopError::SymmetricAlg,
            DpopError::UnsupportedAlg,
            DpopError::MissingJwk,
            DpopError::JwkNotObject,
            DpopError::PrivateKeyInJwk,
            DpopError::SymmetricJwk,
            DpopError::JwkDoesNotFitAlg,
            DpopError::RsaKeySize { bits: 1024 },
            DpopError::MalformedJwk("detail"),
            DpopError::KeyRejected(jose()),
            DpopError::InvalidSignature(jose()),
            DpopError::MalformedClaims,
            DpopError::MissingJti,
            DpopError::InvalidJti,
            DpopError::MissingHtm,
            DpopError::HtmMismatch,
            DpopError::MissingHtu,
            DpopError::HtuNotString,
            DpopError::HtuNotAbsoluteUrl,
            DpopError::HtuMismatch,
            DpopError::MissingIat,
            DpopError::IatNotInteger,
            DpopError::IatTooOld { iat: 0, now: 0, max_age: 0 },
            DpopError::IatInFuture { iat: 0, now: 0, max_future: 0 },
            DpopError::NonceNotString,
            DpopError::MissingAth,
            DpopError::AthMismatch,
        ];
        for err in &all {
            let text = err.description();
            // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E.
            assert!(
                !text.is_empty() && text.bytes().all(|b| (0x20..=0x7E).contains(&b) && b != b'"' && b != b'\\'),
                "{err:?}: {text}"
            );
        }
    }
}
