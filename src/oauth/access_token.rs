//! RFC 9068 JWT access tokens: signed with the active ES256 key, one audience, bound to a
//! DPoP key (`cnf.jkt`) and, when a browser asked, to its origin.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::{Keyring, SigningAlg};

/// Seconds of clock skew tolerated when checking `exp`, `nbf` and `iat`.
pub const LEEWAY: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl AccessTokenClaims {
    pub fn token_type(&self) -> &'static str {
        if self.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no active ES256 signing key")]
    NoKey,
    #[error("signing failed: {0}")]
    Sign(String),
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

pub fn sign(keyring: &Keyring, claims: &AccessTokenClaims) -> Result<String, SignError> {
    let key = keyring.signing_key(SigningAlg::Es256).ok_or(SignError::NoKey)?;
    let header = serde_json::to_vec(&Header { alg: "ES256", typ: "at+jwt", kid: &key.kid })
        .map_err(|e| SignError::Sign(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| SignError::Sign(e.to_string()))?;
    let mut token = String::with_capacity(512);
    token.push_str(&URL_SAFE_NO_PAD.encode(header));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = match &key.es256 {
        Some(fast) => fast.sign(token.as_bytes()).map_err(SignError::Sign)?,
        None => key.signer.sign(token.as_bytes()).map_err(|e| SignError::Sign(e.to_string()))?,
    };
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Why a presented token is not valid; resource servers map every one to `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("not a JWT")]
    Malformed,
    #[error("not an access token (typ)")]
    WrongType,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("another issuer")]
    WrongIssuer,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
}

#[derive(Deserialize)]
struct UnverifiedHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// Verifies a token this provider issued: signature by a published key, `typ`, `iss`, and
/// time. Audience and revocation are the caller's to check.
pub fn verify(keyring: &Keyring, issuer: &str, token: &str, now: i64) -> Result<AccessTokenClaims, TokenRejection> {
    let (_, claims) = verify_signature(keyring, issuer, token)?;
    check_time(&claims, now)?;
    Ok(claims)
}

fn check_time(claims: &AccessTokenClaims, now: i64) -> Result<(), TokenRejection> {
    // The provider's own clock is the reference for its tokens: no leeway on expiry here.
    if claims.exp <= now {
        return Err(TokenRejection::Expired);
    }
    if claims.iat > now + LEEWAY {
        return Err(TokenRejection::NotYetValid);
    }
    Ok(())
}

/// Signature, `typ` and `iss`; returns the signing key id with the claims.
fn verify_signature(
    keyring: &Keyring,
    issuer: &str,
    token: &str,
) -> Result<(String, AccessTokenClaims), TokenRejection> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };
    let unverified_header: UnverifiedHeader = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenRejection::Malformed)?;
    // RFC 9068 §4: only at+jwt, so an ID token or another JWT is never taken for an access token.
    if !matches!(unverified_header.typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
        return Err(TokenRejection::WrongType);
    }
    let kid = unverified_header.kid.ok_or(TokenRejection::UnknownKey)?;
    let key = keyring.verification_key(&kid).ok_or(TokenRejection::UnknownKey)?;
    if unverified_header.alg != key.alg.as_str() || key.alg != SigningAlg::Es256 {
        return Err(TokenRejection::BadSignature);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| TokenRejection::Malformed)?;
    let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let verified = match &key.es256 {
        Some(fast) => fast.verify(message, &signature),
        None => key.verifier.verify(message, &signature).is_ok(),
    };
    if !verified {
        return Err(TokenRejection::BadSignature);
    }
    let claims: AccessTokenClaims = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenRejection::Malformed)?;
    if claims.iss != issuer {
        return Err(TokenRejection::WrongIssuer);
    }
    Ok((kid, claims))
}

/// Tokens whose signature this node already checked, by SHA-256 of the whole token: the same
/// bytes verify the same way, so a repeated introspection skips the ECDSA verification (the
/// expensive part). Time, key publication and revocation are still checked on every call.
pub struct VerifiedTokens {
    entries: dashmap::DashMap<[u8; 32], Arc<(String, AccessTokenClaims)>>,
    capacity: usize,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens").field("entries", &self.entries.len()).finish()
    }
}

impl VerifiedTokens {
    pub fn new(capacity: usize) -> Self {
        Self { entries: dashmap::DashMap::new(), capacity }
    }

    pub fn verify(
        &self,
        keyring: &Keyring,
        issuer: &str,
        token: &str,
        now: i64,
    ) -> Result<AccessTokenClaims, TokenRejection> {
        let digest = crate::crypto::sha256(token.as_bytes());
        let cached = self.entries.get(&digest).map(|entry| entry.clone());
        let entry = match cached {
            Some(entry) => {
                // A key may have left the JWKS since; then its tokens are no longer valid.
                keyring.verification_key(&entry.0).ok_or(TokenRejection::UnknownKey)?;
                entry
            }
            None => {
                let entry = Arc::new(verify_signature(keyring, issuer, token)?);
                if self.entries.len() >= self.capacity {
                    self.entries.retain(|_, e| e.1.exp > now);
                    if self.entries.len() >= self.capacity {
                        self.entries.clear();
                    }
                }
                self.entries.insert(digest, entry.clone());
                entry
            }
        };
        check_time(&entry.1, now)?;
        Ok(entry.1.clone())
    }
}

/// Hot-store key of a revoked token id; it lives until the token would have expired.
pub fn revoked_key(jti: &str) -> String {
    crate::store::hot::key("revoked-jti", jti)
}
