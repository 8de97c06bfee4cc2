//! OAuth grant types this server implements (RFC 6749 §4.1.3, §4.4.2, §6).

use super::{impl_string_traits, DomainError};

/// A `grant_type` value this server supports. An unknown value is a parse error, which the
/// token endpoint reports as `unsupported_grant_type` (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
}

const UNSUPPORTED: DomainError = DomainError::new("grant_type is not supported");

impl GrantType {
    /// Every variant, e.g. for `grant_types_supported` in metadata (RFC 8414 §2).
    pub const ALL: [GrantType; 3] =
        [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];

    /// Exact, case-sensitive match on the registered names (RFC 6749 §4, §6).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "client_credentials" => Ok(Self::ClientCredentials),
            "refresh_token" => Ok(Self::RefreshToken),
            _ => Err(UNSUPPORTED),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

impl_string_traits!(GrantType, "a grant_type");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_type_parses_from_its_rfc_name() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Ok(grant));
            assert_eq!(grant.to_string(), grant.as_str());
        }
        assert_eq!(GrantType::parse("authorization_code"), Ok(GrantType::AuthorizationCode));
        assert_eq!(GrantType::parse("client_credentials"), Ok(GrantType::ClientCredentials));
        assert_eq!(GrantType::parse("refresh_token"), Ok(GrantType::RefreshToken));
    }

    #[test]
    fn an_unknown_grant_type_is_refused() {
        for text in ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "", "authorization_code "]
        {
            assert_eq!(GrantType::parse(text), Err(UNSUPPORTED), "{text:?}");
        }
    }

    #[test]
    fn a_grant_type_in_another_case_is_refused() {
        assert_eq!(GrantType::parse("Authorization_Code"), Err(UNSUPPORTED));
        assert_eq!(GrantType::parse("REFRESH_TOKEN"), Err(UNSUPPORTED));
    }

    #[test]
    fn a_grant_type_serialises_as_its_rfc_name() {
        assert_eq!(serde_json::to_string(&GrantType::RefreshToken).unwrap(), r#""refresh_token""#);
        assert_eq!(serde_json::from_str::<GrantType>(r#""client_credentials""#).unwrap(), GrantType::ClientCredentials);
        assert!(serde_json::from_str::<GrantType>(r#""password""#).is_err());
    }
}
