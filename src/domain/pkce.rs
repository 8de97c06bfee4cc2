//! PKCE (RFC 7636): the challenge an authorization request carries and the verifier that later
//! redeems the code. Only `S256` is accepted (RFC 9700 §2.1.1, FAPI 2.0 §5.3.2.2).

use super::DomainError;

const CHALLENGE_SHAPE: DomainError =
    DomainError::new("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
const VERIFIER_SHAPE: DomainError =
    DomainError::new("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
const METHOD: DomainError = DomainError::new("code_challenge_method must be S256");

/// RFC 7636 §4.1: `43*128unreserved`.
fn is_pkce_text(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An `S256` code challenge: `BASE64URL(SHA256(code_verifier))`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `method` is the `code_challenge_method` as sent: an omitted one means `plain` (RFC 7636
    /// §4.3), which this provider refuses like `plain` itself.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, DomainError> {
        if method != Some("S256") {
            return Err(METHOD);
        }
        if !is_pkce_text(challenge) {
            return Err(CHALLENGE_SHAPE);
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` hashes to this challenge (compared in constant time).
    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = crate::crypto::b64url(&crate::crypto::sha256(verifier.0.as_bytes()));
        crate::crypto::constant_time_eq(computed.as_bytes(), self.0.as_bytes())
    }
}

impl TryFrom<String> for CodeChallenge {
    type Error = DomainError;

    fn try_from(text: String) -> Result<Self, DomainError> {
        Self::parse(&text, Some("S256"))
    }
}

impl From<CodeChallenge> for String {
    fn from(challenge: CodeChallenge) -> String {
        challenge.0
    }
}

/// A `code_verifier` as presented at the token endpoint.
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if !is_pkce_text(text) {
            return Err(VERIFIER_SHAPE);
        }
        Ok(Self(text.to_owned()))
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_2_rfc7636_appendix_b_example_verifies() {
        let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(challenge.is_satisfied_by(&verifier));
        let other = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx").unwrap();
        assert!(!challenge.is_satisfied_by(&other));
    }

    #[test]
    fn pkce_3_and_11_plain_and_a_missing_method_are_refused() {
        let text = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(CodeChallenge::parse(text, None), Err(METHOD));
        assert_eq!(CodeChallenge::parse(text, Some("plain")), Err(METHOD));
        assert_eq!(CodeChallenge::parse(text, Some("s256")), Err(METHOD));
    }

    #[test]
    fn pkce_1_lengths_and_characters_are_enforced() {
        for bad in ["a".repeat(42), "a".repeat(129), format!("{}+", "a".repeat(42)), format!("{} ", "a".repeat(43))] {
            assert!(CodeChallenge::parse(&bad, Some("S256")).is_err(), "{bad}");
            assert!(CodeVerifier::parse(&bad).is_err(), "{bad}");
        }
        for good in ["a".repeat(43), "A-._~9".repeat(20) + "abcdefgh"] {
            assert!(CodeVerifier::parse(&good).is_ok(), "{good}");
        }
    }
}
