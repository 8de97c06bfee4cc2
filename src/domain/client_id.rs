//! OAuth `client_id` (RFC 6749 §2.2).

use ring::rand::{SecureRandom, SystemRandom};

use super::{impl_string_traits, is_unreserved, DomainError};

/// A client identifier: 1 to 128 RFC 3986 unreserved characters, never shaped like a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

const EMPTY: DomainError = DomainError::new("client_id must not be empty");
const TOO_LONG: DomainError = DomainError::new("client_id must be at most 128 characters");
const BAD_CHARS: DomainError =
    DomainError::new("client_id must contain only letters, digits and the characters - . _ ~");
const LOOKS_LIKE_SUBJECT: DomainError = DomainError::new("client_id must not have the form of a UUID");

impl ClientId {
    pub const MAX_LEN: usize = 128;
    /// Prefix of server-generated ids, so they are recognisable in logs and support tickets.
    pub const GENERATED_PREFIX: &'static str = "idp_c_";
    /// 22 base62 characters carry 22 × log2(62) ≈ 131 bits, above the 128 we want so that
    /// ids cannot be guessed or enumerated.
    const GENERATED_RANDOM_LEN: usize = 22;
    const BASE62: &'static [u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.is_empty() {
            return Err(EMPTY);
        }
        if text.len() > Self::MAX_LEN {
            return Err(TOO_LONG);
        }
        // Unreserved characters need no escaping in a URL query, a form body or the
        // form-urlencoded-then-base64 `Authorization: Basic` credentials (RFC 6749 §2.3.1),
        // so the same id reads the same on every path the client can send it by.
        if !text.bytes().all(is_unreserved) {
            return Err(BAD_CHARS);
        }
        // User subjects are UUIDs, and a client-credentials access token's `sub` is the
        // client_id (RFC 9068 §2.2 / §6). A client id shaped like a UUID could equal a user's
        // `sub`, letting a client's token pass as that user's (RFC 9700 §4.15). `parse_str`
        // also accepts the 32-hex-digit simple form, which is refused for the same reason.
        if uuid::Uuid::parse_str(text).is_ok() {
            return Err(LOOKS_LIKE_SUBJECT);
        }
        Ok(Self(text.to_owned()))
    }

    /// A fresh id: `idp_c_` followed by 22 uniformly random base62 characters.
    ///
    /// Fails only if the operating system's random number generator does.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let rng = SystemRandom::new();
        let mut id = String::with_capacity(Self::GENERATED_PREFIX.len() + Self::GENERATED_RANDOM_LEN);
        id.push_str(Self::GENERATED_PREFIX);
        let mut buffer = [0u8; 32];
        while id.len() < Self::GENERATED_PREFIX.len() + Self::GENERATED_RANDOM_LEN {
            rng.fill(&mut buffer)?;
            for &byte in &buffer {
                // Rejection sampling: 248 = 4 × 62, so keeping only bytes below it makes
                // `byte % 62` uniform; a plain `% 62` would favour the first 8 characters.
                if byte < 248 && id.len() < Self::GENERATED_PREFIX.len() + Self::GENERATED_RANDOM_LEN {
                    id.push(char::from(Self::BASE62[usize::from(byte % 62)]));
                }
            }
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl_string_traits!(ClientId, "a client_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_has_the_prefix_and_22_base62_characters() {
        let id = ClientId::generate().unwrap();
        let random = id.as_str().strip_prefix("idp_c_").unwrap();
        assert_eq!(random.len(), 22);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn a_generated_id_parses_back_to_itself() {
        let id = ClientId::generate().unwrap();
        assert_eq!(ClientId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn two_generated_ids_differ() {
        assert_ne!(ClientId::generate().unwrap(), ClientId::generate().unwrap());
    }

    #[test]
    fn an_id_of_unreserved_characters_is_accepted() {
        let id = ClientId::parse("my-app.v2_prod~1").unwrap();
        assert_eq!(id.as_str(), "my-app.v2_prod~1");
        assert_eq!(id.to_string(), "my-app.v2_prod~1");
    }

    #[test]
    fn an_empty_id_is_refused() {
        assert_eq!(ClientId::parse(""), Err(EMPTY));
    }

    #[test]
    fn an_id_of_128_characters_is_accepted_and_129_is_refused() {
        assert!(ClientId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(ClientId::parse(&"a".repeat(129)), Err(TOO_LONG));
    }

    #[test]
    fn an_id_with_reserved_or_non_ascii_characters_is_refused() {
        for text in ["a b", "a:b", "a/b", "a%20b", "a+b", "a@b", "a\"b", "a\\b", "a\nb", "é", "a=b"] {
            assert_eq!(ClientId::parse(text), Err(BAD_CHARS), "{text:?}");
        }
    }

    #[test]
    fn an_id_that_is_a_hyphenated_uuid_is_refused() {
        assert_eq!(ClientId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8"), Err(LOOKS_LIKE_SUBJECT));
        assert_eq!(ClientId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8"), Err(LOOKS_LIKE_SUBJECT));
    }

    #[test]
    fn an_id_that_is_a_simple_form_uuid_is_refused() {
        assert_eq!(ClientId::parse("67e5504410b1426f9247bb680e5fe0c8"), Err(LOOKS_LIKE_SUBJECT));
    }

    #[test]
    fn the_error_never_echoes_the_input() {
        let err = ClientId::parse("<script>").unwrap_err();
        assert!(!err.to_string().contains("script"));
    }

    #[test]
    fn an_id_serialises_as_a_plain_string_and_deserialises_through_parse() {
        let id = ClientId::parse("web-app").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""web-app""#);
        assert_eq!(serde_json::from_str::<ClientId>(r#""web-app""#).unwrap(), id);
        assert!(serde_json::from_str::<ClientId>(r#""web app""#).is_err());
    }
}
