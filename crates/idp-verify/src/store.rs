//! The state a resource server reads or writes per request: the provider's revoked token ids
//! and the DPoP proof ids it has already accepted. Both are traits so a resource server can
//! keep them where it likes; the provider's key names for them are defined here, once, so a
//! resource server reading the provider's store and the provider writing it cannot drift.

/// `kind:{id}`: the id is the Redis Cluster hash tag, as the provider's hot store builds keys.
fn key(kind: &str, id: &str) -> String {
    format!("{kind}:{{{id}}}")
}

/// The key (before the store's prefix) under which the provider records a revoked access
/// token id (`jti`) until the token would have expired plus [`crate::token::LEEWAY`].
pub fn revoked_key(jti: &str) -> String {
    key("revoked-jti", jti)
}

/// The key (before the store's prefix) under which a resource server records a DPoP proof
/// id it accepted (RFC 9449 §11.1), so every node of it refuses the proof afterwards.
pub fn replay_key(id: &str) -> String {
    key("rs-dpop-jti", id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_providers_hash_tagged_names() {
        assert_eq!(revoked_key("j1"), "revoked-jti:{j1}");
        assert_eq!(replay_key("abc"), "rs-dpop-jti:{abc}");
    }
}
