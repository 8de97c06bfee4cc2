//! The services: one type per concept, holding its rules, used alike by the HTTP edge, the
//! pages, the CLI and the admin API. Each returns a typed error; each announces its own changes
//! to other nodes. They sit on the foundations (`domain`, `crypto`, `store`, `config`, `clock`)
//! and know nothing of HTTP.

pub mod access_tokens;
pub mod audit;
pub mod codes;
pub mod consents;
pub mod grants;
pub mod groups;
pub mod keys;
pub mod merge_patch;
pub mod rate_limits;
pub mod refresh_families;
pub mod registration;
pub mod registry;
pub mod sign_in_limits;
pub mod users;

#[cfg(test)]
mod tests;
