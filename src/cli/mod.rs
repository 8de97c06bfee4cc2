//! The `idp` command line: one file per command group, each a thin edge over the services the
//! HTTP edge uses too (`services::registry`, `services::users`, `services::keys`, ...), so a
//! rule holds the same whichever edge a change comes through.

mod admin;
mod audit;
mod clients;
mod demo;
mod grants;
mod groups;
mod keys;
mod resources;
mod serve;
mod users;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::services::registry::RegistryError;
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
    /// Groups of users (released to apps as the `groups` claim).
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// The admin API: its first client, and calls to it.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Revoke grants (refresh families) and access tokens.
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// Revoke one refresh family (a grant): its refresh token is refused and the access tokens
    /// issued with it are revoked.
    RevokeFamily {
        /// The family id (as audit events name it).
        family_id: String,
    },
    /// Revoke every live grant a user gave, to any client.
    RevokeUser {
        /// The user's id, as `users list` prints it.
        user_id: String,
    },
    /// Revoke every live grant of a client, for every user.
    RevokeClient { client_id: String },
    /// Revoke an access token by its jti, in the shared revoked set (needs redis_url).
    RevokeToken {
        /// A jti is base64url, so it may start with `-`.
        #[arg(allow_hyphen_values = true)]
        jti: String,
        /// The token's expiry: Unix seconds or RFC 3339; without it, the jti stays revoked for
        /// the longest lifetime an access token may have.
        #[arg(long, value_parser = parse_instant)]
        exp: Option<i64>,
    },
}

/// A point in time: Unix seconds or RFC 3339.
fn parse_instant(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| crate::clock::parse_rfc3339(text.trim()))
        .ok_or_else(|| "not a time: Unix seconds or RFC 3339 (2026-12-01T09:30:00Z)".to_owned())
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Audit events, newest first, times as RFC 3339 (the admin API's GET /audit-events).
    List {
        /// Events at or after this time: Unix seconds, RFC 3339 (2026-12-01T09:30:00Z) or a
        /// duration ago (15m, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Events before this time (the same forms as --since).
        #[arg(long)]
        until: Option<String>,
        /// Only this action, e.g. client.update or login.
        #[arg(long)]
        action: Option<String>,
        /// Only this outcome: success, refused, failure, locked, granted or denied.
        #[arg(long)]
        outcome: Option<String>,
        /// Only events about this client id.
        #[arg(long = "client")]
        client_id: Option<String>,
        /// Only events about this user id.
        #[arg(long = "user")]
        user_id: Option<String>,
        /// Only changes by this actor: cli, system, client:<id> or user:<id>.
        #[arg(long)]
        actor: Option<String>,
        /// Only requests sent with this Origin.
        #[arg(long)]
        origin: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
        /// Print a JSON array, as the admin API's items.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum GroupsCommand {
    /// Create a group (1 to 100 characters; what apps see in the `groups` claim).
    Create { name: String },
    /// List groups with their member counts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rename a group.
    Rename { group_id: String, name: String },
    /// Delete a group (its memberships go with it).
    Delete { group_id: String },
    /// Add a user to a group.
    AddMember { group_id: String, username: String },
    /// Remove a user from a group.
    RemoveMember { group_id: String, username: String },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Register the first admin API client (client_credentials, admin:read admin:write,
    /// DPoP-bound tokens) and print its credentials once. Refuses when an admin client exists.
    Bootstrap,
    /// Call the admin API as an admin client: get a DPoP-bound token and send one request
    /// with a fresh DPoP proof, e.g. `idp admin call GET /clients`.
    Call {
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// The path under /admin/v1, e.g. /clients?limit=10.
        path: String,
        /// A JSON body, or `-` to read it from standard input (PATCH sends it as a merge patch).
        #[arg(long)]
        data: Option<String>,
        /// The admin client's id.
        #[arg(long, env = "IDP_ADMIN_CLIENT_ID")]
        client_id: String,
        /// The admin client's secret (better from the environment than on a command line).
        #[arg(long, env = "IDP_ADMIN_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// Send `If-Match` with this ETag.
        #[arg(long)]
        if_match: Option<String>,
    },
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
    /// Change a user's profile: a JSON merge patch (RFC 7396) of username, email,
    /// email_verified, name, given_name, family_name, e.g. --patch '{"email":"a@example.com"}'.
    Update {
        username: String,
        /// The patch, or `-` to read it from standard input.
        #[arg(long)]
        patch: String,
        /// Only if the user is still at this ETag.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Delete a user: their grants are revoked, their consents and refresh tokens go with them.
    Delete {
        username: String,
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
    /// Clear failed sign-in attempts that locked a user out, or that slowed an address down
    /// (shared hot store only: the in-process store of an embedded node is not reachable from
    /// here).
    #[command(group = clap::ArgGroup::new("whom").required(true).multiple(true).args(["username", "address"]))]
    Unlock {
        /// The username whose lock to lift.
        username: Option<String>,
        /// A client address whose sign-in and client-authentication failure limits and page
        /// quota to restore (e.g. an office behind one address).
        #[arg(long)]
        address: Option<std::net::IpAddr>,
    },
}

#[derive(Subcommand)]
pub enum ResourcesCommand {
    /// Register a resource server.
    Create {
        /// Its identifier: an absolute URI, the `aud` of its tokens.
        #[arg(long)]
        identifier: String,
        /// A name for people (defaults to the identifier).
        #[arg(long)]
        name: Option<String>,
        /// A scope it accepts (repeat for more).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Access-token lifetime for it: seconds or text such as 10m.
        #[arg(long, value_parser = parse_seconds)]
        access_token_lifetime: Option<i64>,
        /// Issue its tokens only with a DPoP proof.
        #[arg(long)]
        require_dpop: bool,
        /// Put the user's groups in its access tokens (when the grant has the `groups` scope).
        #[arg(long)]
        include_groups: bool,
        /// A client that acts for it: introspection shows it the claims of this resource
        /// server's tokens (repeat for more; a token's own client always sees its own).
        #[arg(long = "introspection-client")]
        introspection_clients: Vec<String>,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a resource server: a JSON merge patch (RFC 7396) of its registration, e.g.
    /// --patch '{"scopes":["read","write","admin"]}'.
    Update {
        identifier: String,
        /// The patch, or `-` to read it from standard input.
        #[arg(long)]
        patch: String,
        /// Only if it is still at this ETag (as `resources show` prints it).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Print a resource server and its ETag.
    Show { identifier: String },
    /// Remove a resource server that no client names any more.
    Delete { identifier: String },
    /// List resource servers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum ClientsCommand {
    /// Register a client; prints its metadata (RFC 7591 names) and, this once, its secret.
    Create {
        /// The name users see on the consent page (client_name).
        #[arg(long)]
        name: String,
        /// A public client: no secret, DPoP required (client_type public).
        #[arg(long)]
        public: bool,
        /// A grant type it may use, repeat for more: authorization_code, refresh_token,
        /// client_credentials (grant_types).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// A resource server it may get tokens for, repeat for more; the first is the default
        /// (resources).
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// The audience when a request names none; one of --resource (default_resource).
        #[arg(long)]
        default_resource: Option<String>,
        /// A scope it may ask for, repeat for more (scope).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A browser origin it calls from, `scheme://host[:port]`, repeat for more (allowed_origins).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Where the authorization response may go, repeat for more (redirect_uris).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Its access tokens must be DPoP-bound (dpop_bound_access_tokens).
        #[arg(long)]
        require_dpop: bool,
        /// client_secret_basic (default), client_secret_post or private_key_jwt
        /// (token_endpoint_auth_method).
        #[arg(long)]
        auth_method: Option<String>,
        /// Its public keys as a JWK Set, for private_key_jwt (jwks).
        #[arg(long)]
        jwks: Option<String>,
        /// Access-token lifetime: seconds or text such as 10m (access_token_lifetime).
        #[arg(long, value_parser = parse_seconds)]
        access_token_lifetime: Option<i64>,
        /// One of the company's own apps: users are not asked for consent (first_party).
        #[arg(long)]
        first_party: bool,
        /// ID token signing algorithm: RS256 (default), ES256 or EdDSA
        /// (id_token_signed_response_alg).
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Authorization requests only through PAR, RFC 9126
        /// (require_pushed_authorization_requests).
        #[arg(long)]
        require_par: bool,
        /// Where RP-initiated logout may return to, repeat for more (post_logout_redirect_uris).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where back-channel logout tokens are POSTed (backchannel_logout_uri).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Print the metadata as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client: a JSON merge patch (RFC 7396) of its registration, as the admin API's
    /// PATCH takes, e.g. --patch '{"redirect_uris":["https://app.example/cb"]}'.
    Update {
        client_id: String,
        /// The patch, or `-` to read it from standard input.
        #[arg(long)]
        patch: String,
        /// Only if the client is still at this ETag (as `clients show` prints it).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// List clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a client's metadata and ETag.
    Show { client_id: String },
    /// Delete a client and its secrets.
    Delete { client_id: String },
    /// Stop a client from authenticating and using its grants.
    Disable { client_id: String },
    /// Let a disabled client authenticate again.
    Enable { client_id: String },
    /// A new secret; the old ones keep working for --overlap.
    RotateSecret {
        client_id: String,
        /// How long the old secrets keep working: seconds or text such as 1h (at most 30 days).
        #[arg(long, default_value = "1d", value_parser = parse_seconds)]
        overlap: i64,
    },
}

/// A duration as the settings take one: whole seconds or text such as `10m`, `1h`, `30d`.
fn parse_seconds(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return if seconds >= 0 { Ok(seconds) } else { Err("must not be negative".into()) };
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("not a duration like `600` or `10m` ({e})"))
        .and_then(|d| i64::try_from(d.as_secs()).map_err(|e| e.to_string()))
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List the published keys with their state (next, active, retired), times as RFC 3339.
    List {
        /// Print JSON, as the admin API's GET /keys items.
        #[arg(long)]
        json: bool,
    },
    /// Publish a successor for each algorithm; it signs once the publish window has passed
    /// (with --now at once).
    Rotate {
        /// Only these algorithms (ES256, RS256, EdDSA); default all.
        #[arg(long = "alg", value_parser = clap::value_parser!(String))]
        algs: Vec<String>,
        /// An emergency rotation: the successor signs at once (a published next key is
        /// promoted); the old key stays published until the tokens it signed have expired.
        #[arg(long)]
        now: bool,
        /// With --now: drop the old key from the JWKS at once, so its tokens stop verifying.
        #[arg(long)]
        revoke: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retire a key early: an active key stops signing (its successor signs at once) and
    /// leaves the JWKS once nothing it signed can still be valid.
    Retire {
        kid: String,
        /// Leave the JWKS at once: the tokens it signed stop verifying.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create the key-encryption key file (`kek`, mode 0600) in the keys directory if there is
    /// none; never overwrites one.
    InitKek {
        /// Print a new KEK (base64url) on standard output and write no file: for a secret store
        /// (`… | kubectl create secret generic idp-kek --from-file=kek=/dev/stdin`).
        #[arg(long, conflicts_with = "owner")]
        stdout: bool,
        /// Give the new file to this numeric UID[:GID] (root only), e.g. 10001:10001, the user the
        /// container image runs as; it stays mode 0600.
        #[arg(long, value_name = "UID[:GID]", value_parser = parse_owner)]
        owner: Option<(u32, u32)>,
    },
    /// Re-seal every signing key under the current KEK (`kek`) that the previous one
    /// (`kek.previous`, beside it) sealed; audited, and safe to run again after an interruption.
    /// Then remove kek.previous from every node.
    RotateKek {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `UID[:GID]`, numeric; the group defaults to the uid.
fn parse_owner(text: &str) -> Result<(u32, u32), String> {
    let number = |part: &str| part.trim().parse::<u32>().map_err(|_| format!("not a numeric UID[:GID]: {text}"));
    match text.split_once(':') {
        Some((uid, gid)) => Ok((number(uid)?, number(gid)?)),
        None => number(text).map(|uid| (uid, uid)),
    }
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
        Command::Groups(command) => with_state(settings, |state| groups::run(command, state)).await,
        Command::Grants(command) => with_state(settings, |state| grants::run(command, state)).await,
        Command::Audit(command) => with_state(settings, |state| audit::run(command, state)).await,
        Command::Admin(AdminCommand::Bootstrap) => with_state(settings, admin::bootstrap).await,
        Command::Admin(AdminCommand::Call { method, path, data, client_id, client_secret, if_match }) => {
            let call = admin::Call { method, path, data, client_id, client_secret, if_match };
            admin::call(call, &settings).await
        }
    }
}

/// Connects the node's state for a command, runs it, and stops the background tasks.
async fn with_state<F, Fut>(settings: Settings, command: F) -> anyhow::Result<()>
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let state = AppState::connect_command(settings, Arc::new(SystemClock)).await?;
    let result = command(state.clone()).await;
    state.shut_down().await;
    result
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value).context("cannot print JSON")?);
    Ok(())
}

/// The registry's refusal as the CLI shows it: the service's own message (the same text the
/// admin API sends), with the flag that sets the member in front.
pub fn explain(error: RegistryError) -> anyhow::Error {
    match &error {
        RegistryError::Invalid(field) => match flag_of(&field.field) {
            Some(flag) => anyhow::anyhow!("{flag} ({field})"),
            None => anyhow::anyhow!("{field}"),
        },
        _ => anyhow::Error::new(error),
    }
}

/// The `clients create` / `resources create` flag that sets a registration member.
fn flag_of(field: &str) -> Option<&'static str> {
    let member = field.split(['[', '.']).next().unwrap_or(field);
    Some(match member {
        "client_name" | "name" => "--name",
        "client_type" => "--public",
        "token_endpoint_auth_method" => "--auth-method",
        "grant_types" => "--grant",
        "resources" => "--resource",
        "default_resource" => "--default-resource",
        "scope" | "scopes" => "--scope",
        "allowed_origins" => "--origin",
        "redirect_uris" => "--redirect-uri",
        "jwks" => "--jwks",
        "access_token_lifetime" => "--access-token-lifetime",
        "id_token_signed_response_alg" => "--id-token-alg",
        "post_logout_redirect_uris" => "--post-logout-redirect-uri",
        "backchannel_logout_uri" => "--backchannel-logout-uri",
        "identifier" => "--identifier",
        "overlap" => "--overlap",
        _ => return None,
    })
}

/// A `--patch` value: JSON, or `-` for standard input.
pub fn read_patch(patch: String) -> anyhow::Result<serde_json::Value> {
    let text = if patch == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read the patch from standard input")?;
        text
    } else {
        patch
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--patch: not JSON ({e})"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, GrantsCommand, KeysCommand};

    #[test]
    fn a_jti_that_starts_with_a_dash_is_a_jti_not_a_flag() {
        let cli = Cli::try_parse_from(["idp", "grants", "revoke-token", "-bX9_k", "--exp", "10"]).unwrap();
        let Some(Command::Grants(GrantsCommand::RevokeToken { jti, exp })) = cli.command else { panic!("parsed") };
        assert_eq!((jti.as_str(), exp), ("-bX9_k", Some(10)));
    }

    #[test]
    fn init_kek_takes_a_numeric_owner_or_stdout_but_not_both() {
        let cli = Cli::try_parse_from(["idp", "keys", "init-kek", "--owner", "10001"]).unwrap();
        let Some(Command::Keys(KeysCommand::InitKek { owner, stdout })) = cli.command else { panic!("parsed") };
        assert_eq!((owner, stdout), (Some((10001, 10001)), false));
        assert!(Cli::try_parse_from(["idp", "keys", "init-kek", "--owner", "10001:0", "--stdout"]).is_err());
        assert!(Cli::try_parse_from(["idp", "keys", "init-kek", "--owner", "idp"]).is_err());
    }
}
