//! RFC 9068 JWT access tokens: signed with the active ES256 key, one audience, bound to a
//! DPoP key (`cnf.jkt`) and, when a browser asked, to its origin.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;

use idp_verify::TokenError;
use serde::Serialize;

use crate::crypto::SigningAlg;
use crate::services::keys::Keyring;

// The claims are the verifier's, so what is signed here is what a resource server reads.
pub use idp_verify::token::{AccessTokenClaims, Confirmation, LEEWAY};

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
    let signature = key.es256.as_ref().ok_or(SignError::NoKey)?.sign(token.as_bytes()).map_err(SignError::Sign)?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Verifies a token this provider issued: signature by a published key, `typ`, `iss`, and
/// time. Audience and revocation are the caller's to check.
pub fn verify(keyring: &Keyring, issuer: &str, token: &str, now: i64) -> Result<AccessTokenClaims, TokenError> {
    let (_, claims) = verify_signature(keyring, issuer, token)?;
    check_time(&claims, now)?;
    Ok(claims)
}

fn check_time(claims: &AccessTokenClaims, now: i64) -> Result<(), TokenError> {
    // The provider's own clock is the reference for its tokens: no leeway on expiry here.
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.iat > now + LEEWAY {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

/// Shape, header (the same rules a resource server applies, `idp_verify::jwt::parse`), signature
/// by a published key of this node's keyring, and `iss`; returns the key id with the claims.
fn verify_signature(keyring: &Keyring, issuer: &str, token: &str) -> Result<(String, AccessTokenClaims), TokenError> {
    let unverified = idp_verify::jwt::parse(token)?;
    let key = keyring.verification_key(&unverified.kid).ok_or(TokenError::UnknownKey)?;
    let public = key.es256.as_ref().map(|k| k.public()).ok_or(TokenError::UnknownKey)?;
    let claims = unverified.verify_signature([public])?;
    let claims: AccessTokenClaims =
        serde_json::from_value(serde_json::Value::Object(claims)).map_err(|_| TokenError::MalformedClaims)?;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    Ok((unverified.kid, claims))
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
    ) -> Result<AccessTokenClaims, TokenError> {
        let digest = crate::crypto::sha256(token.as_bytes());
        let cached = self.entries.get(&digest).map(|entry| entry.clone());
        let entry = match cached {
            Some(entry) => {
                // A key may have left the JWKS since; then its tokens are no longer valid.
                keyring.verification_key(&entry.0).ok_or(TokenError::UnknownKey)?;
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
