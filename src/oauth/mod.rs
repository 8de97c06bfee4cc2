//! Protocol endpoints.

pub mod discovery;
pub mod jwks;
