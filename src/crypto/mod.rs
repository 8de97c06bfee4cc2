//! Keys and the cryptography around them.

pub mod kek;
pub mod nonce;
pub mod signing;

pub use kek::{DerivationRoot, Kek, KekError};
pub use signing::SigningAlg;

// The resource-server verifier's encodings, so both sides hash and compare the same way.
pub use idp_verify::encoding::{b64url, constant_time_eq, sha256};

/// A fresh random token: 256 bits, base64url (codes, session ids, CSRF tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("system randomness");
    b64url(&bytes)
}
