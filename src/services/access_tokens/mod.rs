//! Access tokens: signing and checking this provider's RFC 9068 JWTs ([`signing`]), and
//! revocation: the set of revoked token ids every node and every resource server that shares
//! the hot store reads. An id stays in it for as long as a verifier could still accept the
//! token.

pub mod signing;

use std::sync::Arc;
use std::time::Duration;

use idp_verify::token::LEEWAY;

use crate::store::hot::{keyspaces, Keyspace, Marker};
use crate::store::{HotStore, HotStoreError};

pub(crate) const REVOKED: Keyspace<Marker> = Keyspace::of(&keyspaces::REVOKED_TOKEN_ID);

/// The revoked-token set.
#[derive(Debug, Clone)]
pub struct Revocations {
    hot: Arc<dyn HotStore>,
}

impl Revocations {
    pub fn new(hot: Arc<dyn HotStore>) -> Self {
        Self { hot }
    }

    /// Puts `jti` into the revoked set until `exp` plus the verifiers' leeway; nothing to do for
    /// a token already past that.
    pub async fn revoke(&self, jti: &str, exp: i64, now: i64) -> Result<(), HotStoreError> {
        let remaining = exp + LEEWAY - now;
        if remaining <= 0 {
            return Ok(());
        }
        REVOKED.mark(self.hot.as_ref(), jti, Duration::from_secs(remaining as u64)).await
    }

    /// Whether a token that expires at `exp` could still be accepted somewhere at `now`.
    pub fn could_be_accepted(exp: i64, now: i64) -> bool {
        exp + LEEWAY > now
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, HotStoreError> {
        REVOKED.is_marked(self.hot.as_ref(), jti).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revoked_set_is_where_resource_servers_read_it() {
        assert_eq!(REVOKED.key("j1"), idp_verify::store::revoked_key("j1"));
    }
}
