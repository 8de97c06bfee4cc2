//! What is read from a JWK (RFC 7517) before any algorithm is involved: its RFC 7638
//! thumbprint (`cnf.jkt`, key ids) and whether it holds private material.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::encoding::{b64url, sha256};

/// An RFC 7638 JWK SHA-256 thumbprint, base64url without padding (43 characters): what a
/// DPoP-bound token, code or refresh token is bound to (RFC 9449 §6.1, §10). It is public, so
/// its `Debug` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Jkt(String);

/// A text that is not a SHA-256 thumbprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a JWK SHA-256 thumbprint (43 base64url characters)")]
pub struct InvalidJkt;

impl Jkt {
    pub fn parse(text: &str) -> Result<Self, InvalidJkt> {
        let well_formed = text.len() == 43 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(text.to_owned())).ok_or(InvalidJkt)
    }

    /// The thumbprint of `jwk`, when it has the members RFC 7638 needs.
    pub fn of_jwk(jwk: &Map<String, Value>) -> Option<Self> {
        thumbprint(jwk).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Jkt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Jkt {
    type Error = InvalidJkt;

    fn try_from(text: String) -> Result<Self, InvalidJkt> {
        Self::parse(&text)
    }
}

impl From<Jkt> for String {
    fn from(jkt: Jkt) -> Self {
        jkt.0
    }
}

/// RFC 7638 JWK thumbprint: base64url(SHA-256) of the required members in lexicographic order.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = Map::new();
    for member in members {
        canonical.insert((*member).to_owned(), Value::String(jwk.get(*member)?.as_str()?.to_owned()));
    }
    // serde_json's Map is ordered by key (no `preserve_order`), which is what RFC 7638 needs.
    let json = serde_json::to_string(&canonical).ok()?;
    Some(b64url(&sha256(json.as_bytes())))
}

/// Whether a JWK holds private or symmetric material (it must never be published).
pub fn has_private_members(jwk: &Map<String, Value>) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().any(|m| jwk.contains_key(*m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn a_thumbprint_is_43_base64url_characters() {
        assert!(Jkt::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").is_ok());
        for bad in ["", "abc", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X=", &"a".repeat(44)] {
            assert_eq!(Jkt::parse(bad), Err(InvalidJkt), "{bad}");
        }
    }

    #[test]
    fn private_and_symmetric_members_are_found() {
        let public: Map<String, Value> = serde_json::from_str(r#"{"kty":"EC","crv":"P-256","x":"a","y":"b"}"#).unwrap();
        assert!(!has_private_members(&public));
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let mut jwk = public.clone();
            jwk.insert(member.into(), Value::String("AQAB".into()));
            assert!(has_private_members(&jwk), "{member}");
        }
    }
}
