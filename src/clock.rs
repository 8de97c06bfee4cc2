//! Time, injected: the resource-server verifier's clock (`idp_verify::clock`), so the provider
//! and a verifier in the same test move together. Production reads the system clock, tests
//! move a [`ManualClock`] to check expiry and key rotation without sleeping.

pub use idp_verify::clock::*;
