//! One file per table: `NewX` to insert, `X` as read, queries as associated functions.

pub mod audit_event;
pub mod signing_key;

pub use audit_event::{AuditEvent, NewAuditEvent};
pub use signing_key::SigningKeyRow;
