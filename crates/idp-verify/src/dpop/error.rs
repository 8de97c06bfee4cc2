//! Why a proof was refused, one variant per check of [`super::verify_proof`].

use super::{MAX_JTI_CHARS, MAX_PROOF_LEN, MAX_RSA_BITS, MIN_RSA_BITS, SUPPORTED_ALGS};
use crate::alg::AlgError;

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
    KeyRejected(#[source] AlgError),
    #[error("DPoP proof signature does not verify with its jwk")]
    InvalidSignature(#[source] AlgError),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_safe_for_error_description() {
        let jose = || AlgError::rule("detail");
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
