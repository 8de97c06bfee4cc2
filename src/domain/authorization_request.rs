//! A valid authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 9449 §10)
//! of a known client, its redirect URI checked: what `/authorize` and `/par` parse into, what
//! an interaction carries through sign-in and consent.

use serde::{Deserialize, Serialize};

use idp_verify::Jkt;

use super::{CodeChallenge, ResourceIndicator, ScopeSet};
use crate::store::hot::HashedKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// `prompt` (OIDC Core §3.1.2.1); `none` never comes with another value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A valid authorization request of a known client, its redirect URI checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// As the client sent it (a loopback port may differ from the registered one), or the only
    /// registered one when the request had none.
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub scope: ScopeSet,
    /// The audiences the code may yield tokens for: those asked for, or the client's default.
    pub resources: Vec<ResourceIndicator>,
    pub code_challenge: CodeChallenge,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    pub dpop_jkt: Option<Jkt>,
    /// The hash of the `request_uri` of the pushed request (RFC 9126) this came from: used up
    /// when the code is issued (FAPI 2.0 §5.3.2.2 note 3), not when the page loads.
    #[serde(default, with = "pushed_key")]
    pub pushed: Option<HashedKey>,
}

/// The pushed request's hash travels as its full hot-store key (`par:{hash}`), as it always has,
/// so interactions stored by a node of another version still name the same entry.
mod pushed_key {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::store::hot::{keyspaces, HashedKey};

    pub fn serialize<S: Serializer>(hash: &Option<HashedKey>, serializer: S) -> Result<S::Ok, S::Error> {
        hash.as_ref().map(|h| keyspaces::PUSHED_REQUEST.key_of(h.as_str())).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<HashedKey>, D::Error> {
        let key = Option::<String>::deserialize(deserializer)?;
        Ok(key.map(|key| {
            let hash = keyspaces::PUSHED_REQUEST.id_in(&key).unwrap_or(&key).to_owned();
            HashedKey::from_stored(hash)
        }))
    }
}
