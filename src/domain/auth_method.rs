//! Client authentication methods at the token endpoint (RFC 7591 §2, RFC 7523 §2.2).

use super::{impl_string_traits, DomainError};

/// A `token_endpoint_auth_method` this server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenEndpointAuthMethod {
    /// Client id and secret in `Authorization: Basic` (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// Client id and secret in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A JWT signed with the client's key (RFC 7523 §2.2, OIDC Core §9).
    PrivateKeyJwt,
    /// No authentication: a public client (RFC 7591 §2).
    None,
}

const UNSUPPORTED: DomainError = DomainError::new("token_endpoint_auth_method is not supported");

impl TokenEndpointAuthMethod {
    /// Every variant, e.g. for `token_endpoint_auth_methods_supported` (RFC 8414 §2).
    pub const ALL: [TokenEndpointAuthMethod; 4] = [
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::None,
    ];

    /// Exact, case-sensitive match on the RFC 7591 §2 names.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            "none" => Ok(Self::None),
            _ => Err(UNSUPPORTED),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// True for the methods that present a shared secret, which we must then store hashed
    /// and compare in constant time.
    pub fn is_secret_based(&self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

impl_string_traits!(TokenEndpointAuthMethod, "a token_endpoint_auth_method");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_parses_from_its_rfc_7591_name() {
        for method in TokenEndpointAuthMethod::ALL {
            assert_eq!(TokenEndpointAuthMethod::parse(method.as_str()), Ok(method));
        }
        assert_eq!(
            TokenEndpointAuthMethod::parse("client_secret_basic"),
            Ok(TokenEndpointAuthMethod::ClientSecretBasic)
        );
        assert_eq!(TokenEndpointAuthMethod::parse("client_secret_post"), Ok(TokenEndpointAuthMethod::ClientSecretPost));
        assert_eq!(TokenEndpointAuthMethod::parse("private_key_jwt"), Ok(TokenEndpointAuthMethod::PrivateKeyJwt));
        assert_eq!(TokenEndpointAuthMethod::parse("none"), Ok(TokenEndpointAuthMethod::None));
    }

    #[test]
    fn only_the_client_secret_methods_are_secret_based() {
        assert!(TokenEndpointAuthMethod::ClientSecretBasic.is_secret_based());
        assert!(TokenEndpointAuthMethod::ClientSecretPost.is_secret_based());
        assert!(!TokenEndpointAuthMethod::PrivateKeyJwt.is_secret_based());
        assert!(!TokenEndpointAuthMethod::None.is_secret_based());
    }

    #[test]
    fn an_unknown_or_unsupported_method_is_refused() {
        for text in ["client_secret_jwt", "tls_client_auth", "None", "", " none"] {
            assert_eq!(TokenEndpointAuthMethod::parse(text), Err(UNSUPPORTED), "{text:?}");
        }
    }

    #[test]
    fn a_method_serialises_as_its_rfc_7591_name() {
        assert_eq!(serde_json::to_string(&TokenEndpointAuthMethod::PrivateKeyJwt).unwrap(), r#""private_key_jwt""#);
        assert_eq!(
            serde_json::from_str::<TokenEndpointAuthMethod>(r#""none""#).unwrap(),
            TokenEndpointAuthMethod::None
        );
        assert!(serde_json::from_str::<TokenEndpointAuthMethod>(r#""basic""#).is_err());
    }
}
