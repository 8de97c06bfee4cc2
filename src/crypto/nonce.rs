//! DPoP server nonces (RFC 9449 §8): stateless, so every node accepts every node's nonce
//! without a shared-store lookup. A nonce is a time window number and an HMAC of it under a key
//! derived from the KEK; it rotates every window and the previous window stays valid.

use ring::hmac;

use super::b64url;
use crate::clock::UnixTime;

pub const WINDOW_SECONDS: i64 = 300;

pub struct NonceIssuer {
    key: hmac::Key,
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceIssuer(***)")
    }
}

impl NonceIssuer {
    pub fn new(key: hmac::Key) -> Self {
        Self { key }
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: UnixTime) -> String {
        self.for_window(now.div_euclid(WINDOW_SECONDS))
    }

    /// Whether `nonce` was issued in this window or the previous one.
    pub fn is_valid(&self, nonce: &str, now: UnixTime) -> bool {
        let window = now.div_euclid(WINDOW_SECONDS);
        [window, window - 1].into_iter().any(|w| {
            let expected = self.for_window(w);
            super::constant_time_eq(expected.as_bytes(), nonce.as_bytes())
        })
    }

    fn for_window(&self, window: i64) -> String {
        let tag = hmac::sign(&self.key, &window.to_be_bytes());
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag.as_ref()[..16]);
        b64url(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(seed: u8) -> NonceIssuer {
        NonceIssuer::new(hmac::Key::new(hmac::HMAC_SHA256, &[seed; 32]))
    }

    #[test]
    fn a_nonce_is_valid_for_its_window_and_the_next_then_expires() {
        let nonces = issuer(1);
        let nonce = nonces.current(1_000_000);
        assert!(nonces.is_valid(&nonce, 1_000_000));
        assert!(nonces.is_valid(&nonce, 1_000_000 + WINDOW_SECONDS));
        assert!(!nonces.is_valid(&nonce, 1_000_000 + 2 * WINDOW_SECONDS + 1));
        assert_ne!(nonce, nonces.current(1_000_000 + WINDOW_SECONDS));
    }

    #[test]
    fn nonces_of_another_key_or_garbage_are_refused() {
        let nonce = issuer(1).current(1_000_000);
        assert!(!issuer(2).is_valid(&nonce, 1_000_000));
        assert!(!issuer(1).is_valid("not-a-nonce", 1_000_000));
        assert!(!issuer(1).is_valid("", 1_000_000));
    }
}
