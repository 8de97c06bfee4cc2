//! One file per table: rows as read and inserted, queries as associated functions.

pub mod audit_event;
pub mod client;
pub mod client_secret;
pub mod consent;
pub mod group;
pub mod hot_entry;
pub mod refresh;
pub mod registration;
pub mod registry_version;
pub mod resource_server;
pub mod sealed_secret;
pub mod signing_key;
pub mod user;

pub use audit_event::{AuditEvent, AuditEventFilter, NewAuditEvent};
pub use client::ClientRow;
pub use client_secret::ClientSecretRow;
pub use consent::ConsentRow;
pub use group::{GroupMemberRow, GroupRow};
pub use hot_entry::{HotChange, HotEntryRow};
pub use refresh::RefreshFamilyRow;
pub use registration::{ClientRegistrationRow, InitialAccessTokenRow};
pub use registry_version::RegistryVersion;
pub use resource_server::ResourceServerRow;
pub use sealed_secret::SealedSecretRow;
pub use signing_key::SigningKeyRow;
pub use user::UserRow;
