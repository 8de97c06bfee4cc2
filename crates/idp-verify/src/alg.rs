//! The asymmetric JWS algorithms accepted from clients, shared by DPoP proofs (RFC 9449 §5.1)
//! and `private_key_jwt` client assertions (RFC 7523), and the one verifier factory for them.
//!
//! josekit lives here and nowhere else in this crate: it covers the algorithms ring lacks
//! (ES384, PS256, RS256 and EdDSA from a JWK). DPoP proofs in ES256, the common case, are
//! checked with ring instead ([`crate::jws::Es256PublicKey`]).

use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsVerifier, ES256, ES384, PS256, RS256};
use serde_json::{Map, Value};

/// One of the asymmetric algorithms a client may sign with. Only asymmetric ones (RFC 9449
/// §11.6): a MAC would need a secret shared with a client that has not authenticated yet, and
/// `none` proves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    Es256,
    Es384,
    Ps256,
    Rs256,
    EdDsa,
}

impl JwsAlg {
    pub const ALL: [JwsAlg; 5] = [JwsAlg::Es256, JwsAlg::Es384, JwsAlg::Ps256, JwsAlg::Rs256, JwsAlg::EdDsa];

    /// The `alg` names of [`JwsAlg::ALL`], in that order.
    pub const NAMES: [&'static str; 5] = ["ES256", "ES384", "PS256", "RS256", "EdDSA"];

    /// An `alg` header value, compared exactly (RFC 7515 §4.1.1 names are case-sensitive).
    pub fn parse(alg: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|candidate| candidate.as_str() == alg)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Ps256 => "PS256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

/// Why a key or a signature was refused on this path. `Display` is the detail, for the log.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AlgError(Refusal);

#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{0}")]
    Rule(&'static str),
    #[error(transparent)]
    Jose(josekit::JoseError),
}

impl AlgError {
    /// A refusal by a rule of the caller's (a JWK member that does not allow verifying).
    pub fn rule(why: &'static str) -> Self {
        Self(Refusal::Rule(why))
    }

    fn jose(error: josekit::JoseError) -> Self {
        Self(Refusal::Jose(error))
    }
}

/// A public key ready to check signatures of one [`JwsAlg`]. josekit applies the JWK's own
/// `use`, `key_ops` and `alg` members, and refuses a key that does not fit the algorithm.
pub struct SignatureVerifier(Box<dyn JwsVerifier>);

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SignatureVerifier").field(&self.0.algorithm().name()).finish()
    }
}

impl SignatureVerifier {
    /// The factory for every [`JwsAlg`]: DPoP proof keys and client assertion keys alike.
    pub fn new(alg: JwsAlg, jwk: &Map<String, Value>) -> Result<Self, AlgError> {
        let jwk = Jwk::from_map(jwk.clone()).map_err(AlgError::jose)?;
        let verifier: Box<dyn JwsVerifier> = match alg {
            JwsAlg::Es256 => Box::new(ES256.verifier_from_jwk(&jwk).map_err(AlgError::jose)?),
            JwsAlg::Es384 => Box::new(ES384.verifier_from_jwk(&jwk).map_err(AlgError::jose)?),
            JwsAlg::Ps256 => Box::new(PS256.verifier_from_jwk(&jwk).map_err(AlgError::jose)?),
            JwsAlg::Rs256 => Box::new(RS256.verifier_from_jwk(&jwk).map_err(AlgError::jose)?),
            JwsAlg::EdDsa => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(AlgError::jose)?),
        };
        Ok(Self(verifier))
    }

    /// A JWS signature over `message` (the signing input), in the algorithm's JWS encoding.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), AlgError> {
        self.0.verify(message, signature).map_err(AlgError::jose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exact_and_in_order() {
        assert_eq!(JwsAlg::ALL.map(JwsAlg::as_str), JwsAlg::NAMES);
        for name in JwsAlg::NAMES {
            assert_eq!(JwsAlg::parse(name).map(JwsAlg::as_str), Some(name));
        }
        for other in ["es256", "HS256", "none", "ES512", "RS384", ""] {
            assert_eq!(JwsAlg::parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_key_of_another_type_has_no_verifier() {
        let ec = ES256.generate_key_pair().unwrap().to_jwk_public_key();
        assert!(SignatureVerifier::new(JwsAlg::Es256, ec.as_ref()).is_ok());
        for alg in [JwsAlg::Es384, JwsAlg::Rs256, JwsAlg::Ps256, JwsAlg::EdDsa] {
            assert!(SignatureVerifier::new(alg, ec.as_ref()).is_err(), "{alg:?}");
        }
    }
}
