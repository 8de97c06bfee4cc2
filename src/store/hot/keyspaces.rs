//! Every keyspace of the hot store, in one place: its name (the key prefix, shared by every
//! node and by resource servers that read the provider's Redis), how long an entry lives, and
//! what it holds. The service that owns a keyspace binds it to its value type with
//! [`Keyspace::of`](super::Keyspace::of); nothing else writes a key.
//!
//! Secrets (codes, tokens, session ids, request URIs) are keyed by their SHA-256
//! ([`HashedKey`](super::HashedKey)), never by themselves.
//!
//! Each keyspace also says whether it is [`Durability::Durable`]: whether forgetting it at a
//! restart would sign users out, un-revoke something or lift a lock. Redis keeps every keyspace
//! as long as Redis keeps its data; the embedded store keeps the durable ones in the database
//! too (`hot_entries`, see [`MemoryStore`](super::MemoryStore)) and the ephemeral ones in memory
//! only. An ephemeral keyspace holds what is useless after a restart anyway: state of a few
//! seconds or minutes that a user simply starts again (a code, a pending sign-in), or a replay
//! marker whose proof or assertion is expired long before a node is back.

/// Whether the embedded store keeps a keyspace across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written through to the database and loaded at start.
    Durable,
    /// In memory only: lost at a restart, which costs nothing that matters.
    Ephemeral,
}

/// A keyspace's name and what the catalogue says of it.
#[derive(Debug)]
pub struct KeyspaceName {
    pub name: &'static str,
    /// How long an entry lives, for the reader.
    pub lifetime: &'static str,
    /// Whether the embedded store keeps it across a restart.
    pub durability: Durability,
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

    pub fn is_durable(&self) -> bool {
        self.durability == Durability::Durable
    }
}

/// The keyspace `key` belongs to, if any (a key outside the catalogue belongs to none).
pub fn of_key(key: &str) -> Option<&'static KeyspaceName> {
    let (name, _) = key.split_once(":{")?;
    ALL.iter().copied().find(|keyspace| keyspace.name == name)
}

/// Whether `key` is in a durable keyspace (a key outside the catalogue is not).
pub fn is_durable(key: &str) -> bool {
    of_key(key).is_some_and(KeyspaceName::is_durable)
}

macro_rules! keyspaces {
    ($($(#[$doc:meta])* $id:ident = $name:literal, lives $lifetime:literal, $durability:ident, holds $holds:literal;)*) => {
        $(
            $(#[$doc])*
            pub static $id: KeyspaceName =
                KeyspaceName { name: $name, lifetime: $lifetime, durability: Durability::$durability, holds: $holds };
        )*
        /// All of them, for the uniqueness test and for operators' tooling.
        pub static ALL: &[&KeyspaceName] = &[$(&$id),*];
    };
}

keyspaces! {
    /// `services::codes`.
    AUTHORIZATION_CODE = "code", lives "60 s (FAPI 2.0 §5.3.2.1)", Ephemeral,
        holds "the code's grant: client, redirect URI, PKCE challenge, scopes, resources, user snapshot";
    /// `services::codes`. Durable: a code replayed after a restart must still revoke what its
    /// first use issued (one small write per code exchange, which writes SQL anyway).
    REDEEMED_CODE = "code-redeemed", lives "as long as the tokens it issued (at least 60 s)", Durable,
        holds "what a redeemed code issued, so a replay revokes it (RFC 6749 §4.1.2)";
    /// `oauth::par`.
    PUSHED_REQUEST = "par", lives "60 s (RFC 9126 §2.2)", Ephemeral, holds "a pushed authorization request";
    /// `http::dpop` (the token endpoint, PAR, userinfo, the admin API, SCIM).
    DPOP_PROOF_ID = "dpop-jti", lives "the proof's acceptance window (max age + future skew)", Ephemeral,
        holds "a marker: this proof jti was accepted at this endpoint (RFC 9449 §11.1)";
    /// `oauth::client_auth`.
    ASSERTION_ID = "assertion-jti", lives "until the assertion expires, plus skew", Ephemeral,
        holds "a marker: this client assertion jti was accepted (RFC 7523 §3)";
    /// `services::access_tokens`; read by resource servers through the verifier crate.
    REVOKED_TOKEN_ID = "revoked-jti", lives "until the token expires, plus the verifiers' leeway", Durable,
        holds "a marker: this access token jti is revoked";
    /// `services::refresh_families`.
    REFRESH_TOKEN = "rt", lives "the idle lifetime, capped by the grant's end", Durable,
        holds "a family's current refresh token and a copy of its grant";
    /// `services::refresh_families`.
    USED_REFRESH_TOKEN = "rt-used", lives "until the grant ends", Durable,
        holds "a refresh token already rotated, so its reuse is recognised";
    /// `services::refresh_families`.
    REFRESH_FAMILY = "rt-family", lives "until the grant ends", Durable,
        holds "a family's current token hash and its live access tokens";
    /// `services::refresh_families`.
    REVOKED_REFRESH_FAMILY = "rt-revoked", lives "the absolute refresh lifetime", Durable,
        holds "a marker: the family is revoked (a racing rotation checks it)";
    /// `session`. Durable: otherwise a restart signs every browser out and forgets which clients
    /// to tell at logout (one write per page a browser loads, not per API call).
    BROWSER_SESSION = "session", lives "the idle lifetime, capped by the absolute one", Durable,
        holds "a browser session: CSRF token, signed-in user, clients to tell at logout";
    /// `session`.
    INTERACTION = "interaction", lives "600 s", Ephemeral, holds "a pending authorization request bound to a browser";
    /// Written by resource servers that share the provider's Redis (`idp_verify::redis`).
    RESOURCE_SERVER_PROOF_ID = "rs-dpop-jti", lives "the proof's acceptance window at the resource server", Ephemeral,
        holds "a marker: a resource server accepted this DPoP proof jti";
    /// `services::sign_in_limits`.
    FAILED_SIGN_INS_BY_USERNAME = "login-failures-username", lives "15 min from the first failure", Durable,
        holds "a counter of failed sign-ins for a username";
    /// `services::sign_in_limits`.
    LOCKED_USERNAME = "login-lock-username", lives "15 min", Durable, holds "a marker: the username is locked";
    /// `services::rate_limits`; the id is the limit's name and its subject (a client id, an
    /// address). Ephemeral: most limits change at request rates, and a restart that forgets
    /// them only gives each subject its quota back early.
    RATE_LIMIT = "rate", lives "until the limit is whole again (at most its window)", Ephemeral,
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
    fn what_a_restart_must_not_forget_is_durable_and_the_rest_is_not() {
        let durable: Vec<&str> = ALL.iter().filter(|k| k.is_durable()).map(|k| k.name).collect();
        assert_eq!(
            durable,
            [
                "code-redeemed",
                "revoked-jti",
                "rt",
                "rt-used",
                "rt-family",
                "rt-revoked",
                "session",
                "login-failures-username",
                "login-lock-username",
            ]
        );
    }

    #[test]
    fn a_key_is_durable_by_its_keyspace() {
        assert!(is_durable(&REFRESH_TOKEN.key_of("h")));
        assert!(is_durable(&idp_verify::store::revoked_key("j1")));
        assert!(!is_durable(&REFRESH_TOKEN.key_of("h").replacen("rt", "rt-x", 1)));
        assert!(!is_durable(&DPOP_PROOF_ID.key_of("p")));
        assert!(!is_durable("rt"), "a key outside the catalogue");
        assert_eq!(of_key(&USED_REFRESH_TOKEN.key_of("h")).map(|k| k.name), Some("rt-used"));
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
