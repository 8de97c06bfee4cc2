//! `idp-verify`: what a resource server needs to accept idp's access tokens (RFC 9068 JWTs,
//! bound by DPoP, RFC 9449). A resource server gets:
//!
//! - a [`Verifier`] that checks a request as an ordered list of named steps: the token from
//!   `Authorization` only (CORE-20, DPOP-27); its signature with a key from the provider's JWKS
//!   only, never from the token (JWT-5), fetched and cached here; its claims; for a DPoP-bound
//!   token the `DPoP` scheme and a proof for this very request by the bound key (DPOP-16,
//!   DPOP-25, DPOP-28), each proof accepted once; for a token a browser obtained, only its
//!   origin (docs/security.md §3); and the provider's revocation list. A lookup that fails (JWKS,
//!   revocation list, replay cache) fails closed with 503.
//! - refusals shaped as RFC 6750 §3 and RFC 9449 §7.1 ([`VerifyError`], [`Refusal`]).
//! - the pieces the provider shares with it: token claims ([`token`]), DPoP proof checks
//!   ([`dpop`]), compact JWS ([`jws`]), the client algorithms ([`alg`]), the [`clock`].
//!
//! With actix-web (feature `actix`), a middleware and an extractor:
//!
//! ```ignore
//! let config = VerifierConfig::new("https://idp.example.com", "https://api.example.com", "https://api.example.com");
//! let verifier = web::Data::new(Verifier::new(config)?);
//! App::new()
//!     .app_data(verifier.clone())
//!     .service(web::scope("/api").wrap(from_fn(idp_verify::require_access_token)).route("/hello", web::get().to(hello)));
//! async fn hello(access: VerifiedAccess) -> impl Responder { access.claims.sub.clone() }
//! ```
//!
//! With any other server, hand over the method, the path and the three headers, and answer a
//! refusal with its status, headers and body:
//!
//! ```ignore
//! let request = Request {
//!     method: "GET",
//!     path: "/api/hello",
//!     authorization: Header::from(headers.get("authorization")),
//!     dpop: Header::from(headers.get("dpop")),
//!     origin: Header::from(headers.get("origin")),
//! };
//! match verifier.verify(&request).await {
//!     Ok(access) => serve(access.subject()),
//!     Err(error) => answer(verifier.refuse(&error)), // status, headers, body
//! }
//! ```
//!
//! DPoP proof ids are remembered in this process until [`Verifier::with_replay_cache`] names a
//! shared store; revocation is checked once [`Verifier::with_revocation`] names the provider's
//! list. A resource server that shares the provider's Redis gets both from it with the `redis`
//! feature.

pub mod alg;
pub mod clock;
pub mod dpop;
pub mod encoding;
mod error;
pub mod jwk;
pub mod jws;
pub mod jwt;
mod keys;
#[cfg(feature = "redis")]
pub mod redis;
pub mod request;
pub mod store;
pub mod token;
mod verifier;

#[cfg(feature = "actix")]
mod actix;

#[cfg(feature = "actix")]
pub use self::actix::require_access_token;
pub use self::error::{Challenge, ProofError, Refusal, Scheme, TokenError, VerifyError};
pub use self::jwk::Jkt;
pub use self::request::{Header, Request};
pub use self::store::{MemoryReplayCache, ReplayCache, RevocationList, StoreError};
pub use self::verifier::{ConfigError, VerifiedAccess, Verifier, VerifierConfig};
