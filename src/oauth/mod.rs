//! Protocol endpoints.

pub mod access_token;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod form;
pub mod grants;
pub mod introspect;
pub mod jwks;
pub mod revoke;
pub mod token;
