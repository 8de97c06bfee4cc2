//! Every keyspace of the hot store, in one place: its name (the key prefix, shared by every
//! node and by resource servers that read the provider's Redis), how long an entry lives, and
//! what it holds. The service that owns a keyspace binds it to its value type with
//! [`Keyspace::of`](super::Keyspace::of); nothing else writes a key.
//!
//! Secrets (codes, tokens, session ids, request URIs) are keyed by their SHA-256
//! ([`HashedKey`](super::HashedKey)), never by themselves.

/// A keyspace's name and what the catalogue says of it.
#[derive(Debug)]
pub struct KeyspaceName {
    pub name: &'static str,
    /// How long an entry lives, for the reader.
    pub lifetime: &'static str,
    /// What an entry holds, for the reader.
    pub holds: &'static str,
}

impl KeyspaceName {
    /// `name:{id}`: the id is the Redis Cluster hash tag, so one logical item maps to one slot.
    pub fn key_of(&self, id: &str) -> String {
        super::key(self.name, id)
    }

    /// The id of `key` if it is a key of this keyspace.
    pub fn id_in<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.name)?.strip_prefix(":{")?.strip_suffix('}')
    }
}

macro_rules! keyspaces {
    ($($(#[$doc:meta])* $id:ident = $name:literal, lives $lifetime:literal, holds $holds:literal;)*) => {
        $(
            $(#[$doc])*
            pub static $id: KeyspaceName = KeyspaceName { name: $name, lifetime: $lifetime, holds: $holds };
        )*
        /// All of them, for the uniqueness test and for operators' tooling.
        pub static ALL: &[&KeyspaceName] = &[$(&$id),*];
    };
}

keyspaces! {
    /// `services::codes`.
    AUTHORIZATION_CODE = "code", lives "60 s (FAPI 2.0 §5.3.2.1)",
        holds "the code's grant: client, redirect URI, PKCE challenge, scopes, resources, user snapshot";
    /// `services::codes`.
    REDEEMED_CODE = "code-redeemed", lives "as long as the tokens it issued (at least 60 s)",
        holds "what a redeemed code issued, so a replay revokes it (RFC 6749 §4.1.2)";
    /// `oauth::par`.
    PUSHED_REQUEST = "par", lives "60 s (RFC 9126 §2.2)", holds "a pushed authorization request";
    /// `http::dpop` (the token endpoint, PAR, userinfo, the admin API, SCIM).
    DPOP_PROOF_ID = "dpop-jti", lives "the proof's acceptance window (max age + future skew)",
        holds "a marker: this proof jti was accepted at this endpoint (RFC 9449 §11.1)";
    /// `oauth::client_auth`.
    ASSERTION_ID = "assertion-jti", lives "until the assertion expires, plus skew",
        holds "a marker: this client assertion jti was accepted (RFC 7523 §3)";
    /// `services::access_tokens`; read by resource servers through the verifier crate.
    REVOKED_TOKEN_ID = "revoked-jti", lives "until the token expires, plus the verifiers' leeway",
        holds "a marker: this access token jti is revoked";
    /// `services::refresh_families`.
    REFRESH_TOKEN = "rt", lives "the idle lifetime, capped by the grant's end",
        holds "a family's current refresh token and a copy of its grant";
    /// `services::refresh_families`.
    USED_REFRESH_TOKEN = "rt-used", lives "until the grant ends",
        holds "a refresh token already rotated, so its reuse is recognised";
    /// `services::refresh_families`.
    REFRESH_FAMILY = "rt-family", lives "until the grant ends",
        holds "a family's current token hash and its live access tokens";
    /// `services::refresh_families`.
    REVOKED_REFRESH_FAMILY = "rt-revoked", lives "the absolute refresh lifetime",
        holds "a marker: the family is revoked (a racing rotation checks it)";
    /// `session`.
    BROWSER_SESSION = "session", lives "the idle lifetime, capped by the absolute one",
        holds "a browser session: CSRF token, signed-in user, clients to tell at logout";
    /// `session`.
    INTERACTION = "interaction", lives "600 s", holds "a pending authorization request bound to a browser";
    /// Written by resource servers that share the provider's Redis (`idp_verify::redis`).
    RESOURCE_SERVER_PROOF_ID = "rs-dpop-jti", lives "the proof's acceptance window at the resource server",
        holds "a marker: a resource server accepted this DPoP proof jti";
    /// `services::sign_in_limits`.
    FAILED_SIGN_INS_BY_USERNAME = "login-failures-username", lives "15 min from the first failure",
        holds "a counter of failed sign-ins for a username";
    /// `services::sign_in_limits`.
    LOCKED_USERNAME = "login-lock-username", lives "15 min", holds "a marker: the username is locked";
    /// `services::rate_limits`; the id is the limit's name and its subject (a client id, an
    /// address).
    RATE_LIMIT = "rate", lives "until the limit is whole again (at most its window)",
        holds "a rate limit's theoretical arrival time, in microseconds on the store's clock";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_resource_servers_use_are_the_catalogues() {
        assert_eq!(REVOKED_TOKEN_ID.key_of("j1"), idp_verify::store::revoked_key("j1"));
        assert_eq!(RESOURCE_SERVER_PROOF_ID.key_of("p1"), idp_verify::store::replay_key("p1"));
    }

    #[test]
    fn a_key_gives_back_its_id_only_in_its_own_keyspace() {
        let key = PUSHED_REQUEST.key_of("abc");
        assert_eq!(key, "par:{abc}");
        assert_eq!(PUSHED_REQUEST.id_in(&key), Some("abc"));
        assert_eq!(AUTHORIZATION_CODE.id_in(&key), None);
    }

    #[test]
    fn no_two_keyspaces_share_a_name() {
        let mut names: Vec<_> = ALL.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate keyspace names");
    }
}
