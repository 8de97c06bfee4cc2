//! Protocol endpoints.

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod grants;
pub mod id_token;
pub mod introspect;
pub mod jwks;
pub mod par;
pub mod registration;
pub mod revoke;
pub mod token;
pub mod userinfo;

pub use crate::error::no_store_response;
