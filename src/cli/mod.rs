//! The `idp` command line: one file per command group, each a thin edge over the services the
//! HTTP edge uses too (`services::registry`, `services::users`, `services::keys`, ...), so a
//! rule holds the same whichever edge a change comes through.

mod clients;
mod demo;
mod keys;
mod resources;
mod serve;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::state::AppState;

#[derive(Parser)]
#[command(name = "idp", version, about = "A company identity provider (OAuth 2.0 / OpenID Connect)")]
pub struct Cli {
    /// TOML configuration file (also `IDP_CONFIG`); `IDP_*` variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the provider (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Resource servers (token audiences).
    #[command(subcommand)]
    Resources(ResourcesCommand),
    /// Clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// End users.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user; with --password-stdin the first line of standard input is the password.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        email_verified: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password from the first line of standard input.
    SetPassword {
        username: String,
    },
    Disable {
        username: String,
    },
    Enable {
        username: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// The consents a user gave.
    Consents {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a user's consent for a client: the next sign-in asks again, and the refresh
    /// tokens it allowed are revoked.
    RevokeConsent {
        username: String,
        #[arg(long = "client")]
        client_id: String,
    },
    /// Clear failed sign-in attempts that locked a user out (shared hot store only: the
    /// in-process store of an embedded node is not reachable from here).
    Unlock {
        username: String,
    },
}

#[derive(Subcommand)]
pub enum ResourcesCommand {
    /// Register a resource server.
    Create {
        /// Its identifier: an absolute URI, the `aud` of its tokens.
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        /// A scope it accepts (repeat for more).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Access-token lifetime for it, in seconds.
        #[arg(long)]
        access_token_lifetime: Option<i64>,
        /// Issue its tokens only with a DPoP proof.
        #[arg(long)]
        require_dpop: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum ClientsCommand {
    /// Register a client; prints its metadata (RFC 7591 names) and, this once, its secret.
    Create {
        #[arg(long)]
        name: String,
        /// A public client (no secret; DPoP required).
        #[arg(long)]
        public: bool,
        /// A grant type it may use (repeat for more).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// A resource server it may get tokens for (repeat for more); the first is the default.
        #[arg(long = "resource")]
        resources: Vec<String>,
        #[arg(long)]
        default_resource: Option<String>,
        /// A scope it may ask for (repeat for more).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A browser origin it calls from, `scheme://host[:port]` (repeat for more).
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Its access tokens must be DPoP-bound (dpop_bound_access_tokens).
        #[arg(long)]
        require_dpop: bool,
        /// client_secret_basic (default), client_secret_post or private_key_jwt.
        #[arg(long)]
        auth_method: Option<String>,
        /// Its public keys as a JWK Set (for private_key_jwt).
        #[arg(long)]
        jwks: Option<String>,
        #[arg(long)]
        access_token_lifetime: Option<i64>,
        /// One of the company's own apps: users are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// ID token signing algorithm: RS256 (default), ES256 or EdDSA.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Authorization requests only through PAR (RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// Where RP-initiated logout may return to (repeat for more).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where back-channel logout tokens are POSTed (OIDC Back-Channel Logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        client_id: String,
    },
    Delete {
        client_id: String,
    },
    Disable {
        client_id: String,
    },
    Enable {
        client_id: String,
    },
    /// A new secret; the old one keeps working for --overlap seconds.
    RotateSecret {
        client_id: String,
        #[arg(long, default_value_t = 86_400)]
        overlap: i64,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List keys with their state (next, active, retired).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Publish a successor for each algorithm; it signs once the publish window has passed.
    Rotate {
        /// Only these algorithms (ES256, RS256, EdDSA); default all.
        #[arg(long = "alg", value_parser = clap::value_parser!(String))]
        algs: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Create the key-encryption key file in the keys directory if there is none.
    InitKek,
}

/// Runs one command with its settings.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::serve(settings).await,
        Command::Migrate => serve::migrate(settings).await,
        Command::Keys(command) => keys::run(command, settings).await,
        Command::Resources(command) => with_state(settings, |state| resources::run(command, state)).await,
        Command::Clients(command) => with_state(settings, |state| clients::run(command, state)).await,
        Command::Users(command) => with_state(settings, |state| users::run(command, state)).await,
    }
}

/// Connects the node's state for a command, runs it, and stops the background tasks.
async fn with_state<F, Fut>(settings: Settings, command: F) -> anyhow::Result<()>
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let state = AppState::connect(settings, Arc::new(SystemClock)).await?;
    let result = command(state.clone()).await;
    state.shut_down().await;
    result
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value).context("cannot print JSON")?);
    Ok(())
}
