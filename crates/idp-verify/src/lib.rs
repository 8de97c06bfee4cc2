//! `idp-verify`: what a resource server needs to accept idp's access tokens.

pub mod alg;
pub mod clock;
pub mod dpop;
pub mod encoding;
pub mod jwk;
pub mod jws;
pub mod store;
pub mod token;
