//! Signing algorithms the provider holds keys for, and key generation; a key's id is its
//! RFC 7638 thumbprint.

use std::fmt;
use std::str::FromStr;

use idp_verify::jwk::thumbprint;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::KeyPair;
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256, RS256};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    /// Access tokens.
    Es256,
    /// ID tokens (the OIDC default every relying party supports).
    Rs256,
    /// ID tokens for clients that ask for it.
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// A new key pair: the public JWK (with `kid`, `alg`, `use`) and the private key as DER.
    pub fn generate(self) -> Result<GeneratedKey, josekit::JoseError> {
        let (public, private_der) = match self {
            Self::Es256 => {
                let pair = ES256.generate_key_pair()?;
                (pair.to_jwk_public_key(), pair.to_der_private_key())
            }
            Self::Rs256 => {
                let pair = RS256.generate_key_pair(2048)?;
                (pair.to_jwk_public_key(), pair.to_der_private_key())
            }
            Self::EdDsa => {
                let pair = EdDSA.generate_key_pair(EdCurve::Ed25519)?;
                (pair.to_jwk_public_key(), pair.to_der_private_key())
            }
        };
        let mut public_jwk: Map<String, Value> = public.as_ref().clone();
        let kid = thumbprint(&public_jwk).ok_or_else(|| {
            josekit::JoseError::InvalidKeyFormat(anyhow::anyhow!("generated key lacks thumbprint members"))
        })?;
        public_jwk.insert("kid".into(), Value::String(kid.clone()));
        public_jwk.insert("alg".into(), Value::String(self.as_str().into()));
        public_jwk.insert("use".into(), Value::String("sig".into()));
        Ok(GeneratedKey { kid, public_jwk, private_der })
    }

    pub fn signer_from_der(self, der: &[u8]) -> Result<Box<dyn JwsSigner>, josekit::JoseError> {
        Ok(match self {
            Self::Es256 => Box::new(ES256.signer_from_der(der)?),
            Self::Rs256 => Box::new(RS256.signer_from_der(der)?),
            Self::EdDsa => Box::new(EdDSA.signer_from_der(der)?),
        })
    }

    /// For JWTs this provider signed and gets back (ID tokens as `id_token_hint`); keys from
    /// clients are verified by `idp_verify::alg` instead.
    pub fn verifier_from_jwk(self, jwk: &josekit::jwk::Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        Ok(match self {
            Self::Es256 => Box::new(ES256.verifier_from_jwk(jwk)?),
            Self::Rs256 => Box::new(RS256.verifier_from_jwk(jwk)?),
            Self::EdDsa => Box::new(EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| format!("unknown signing algorithm {s} (ES256, RS256, EdDSA)"))
    }
}

pub struct GeneratedKey {
    pub kid: String,
    pub public_jwk: Map<String, Value>,
    pub private_der: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use idp_verify::jwk::has_private_members;

    use super::*;

    #[test]
    fn generated_keys_are_public_only_and_named_by_their_thumbprint() {
        for alg in SigningAlg::ALL {
            let key = alg.generate().unwrap();
            assert!(!has_private_members(&key.public_jwk), "{alg}");
            assert_eq!(key.public_jwk["kid"], Value::String(key.kid.clone()));
            assert_eq!(key.public_jwk["alg"], Value::String(alg.as_str().into()));
            assert_eq!(thumbprint(&key.public_jwk).unwrap(), key.kid);
            alg.signer_from_der(&key.private_der).unwrap();
        }
    }
}
