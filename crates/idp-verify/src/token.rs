//! The claims of the provider's RFC 9068 access tokens, as the provider signs them and as a
//! resource server gets them back from [`crate::Verifier`].

use serde::{Deserialize, Serialize};

use crate::jwk::Jkt;

/// Seconds of clock skew tolerated when checking `exp`, `nbf` and `iat`. The provider keeps a
/// revoked token id this much past `exp`, so a verifier with this leeway never misses one.
pub const LEEWAY: i64 = 5;

/// RFC 9449 §6.1: the DPoP key the token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: Jkt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// docs/security.md §3: the browser origin the token was issued to, if a browser asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The user's groups, for a resource server that authorizes by group and opted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl AccessTokenClaims {
    pub fn token_type(&self) -> &'static str {
        if self.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}
