//! Client types (RFC 6749 §2.1).

use super::{impl_string_traits, DomainError};

/// Whether a client can keep a credential confidential (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientType {
    Confidential,
    Public,
}

const UNKNOWN: DomainError = DomainError::new("client type must be confidential or public");

impl ClientType {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            _ => Err(UNKNOWN),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

impl_string_traits!(ClientType, "a client type");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_client_types_parse_from_their_names() {
        assert_eq!(ClientType::parse("confidential"), Ok(ClientType::Confidential));
        assert_eq!(ClientType::parse("public"), Ok(ClientType::Public));
        assert_eq!(ClientType::Public.to_string(), "public");
    }

    #[test]
    fn an_unknown_client_type_is_refused() {
        for text in ["Public", "private", "", "credentialed"] {
            assert_eq!(ClientType::parse(text), Err(UNKNOWN), "{text:?}");
        }
    }

    #[test]
    fn a_client_type_serialises_as_its_name() {
        assert_eq!(serde_json::to_string(&ClientType::Confidential).unwrap(), r#""confidential""#);
        assert_eq!(serde_json::from_str::<ClientType>(r#""public""#).unwrap(), ClientType::Public);
        assert!(serde_json::from_str::<ClientType>(r#""other""#).is_err());
    }
}
