//! `idp`: a company identity provider, an OAuth 2.0 / OpenID Connect authorization server.
//!
//! `main.rs` is a thin CLI over this library; [`build_server`] assembles a node from
//! [`config::Settings`], so tests spawn real servers on port 0.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod oauth;
pub mod ops;
pub mod scim;
pub mod services;
pub mod session;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;

pub use startup::Application;
pub use state::{AppState, StartupError};

/// Builds a node (stores connected, keys loaded, listener bound) ready to
/// [`Application::run_until_stopped`].
pub async fn build_server(settings: config::Settings, clock: clock::SharedClock) -> Result<Application, StartupError> {
    Application::build(settings, clock).await
}
