//! The `idp` command line: serve, migrate, and key administration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use idp::clock::SystemClock;
use idp::config::Settings;
use idp::crypto::keyring::RotationOutcome;
use idp::crypto::{Kek, SigningAlg};
use idp::state::{AppState, KEYS_CHANNEL};

#[derive(Parser)]
#[command(name = "idp", version, about = "A company identity provider (OAuth 2.0 / OpenID Connect)")]
struct Cli {
    /// TOML configuration file (also `IDP_CONFIG`); `IDP_*` variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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
enum UsersCommand {
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
enum ResourcesCommand {
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
enum ClientsCommand {
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
enum KeysCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("idp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Keys(command) => keys(command, settings).await,
            Command::Resources(command) => resources(command, settings).await,
            Command::Clients(command) => clients(command, settings).await,
            Command::Users(command) => users(command, settings).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("idp: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    idp::telemetry::init_logging(&settings.log);
    if settings.is_development() {
        tracing::warn!(
            database = ?settings.database,
            hot_store = if settings.redis_url.is_some() { "redis" } else { "memory" },
            "DEVELOPMENT SETUP: embedded SQLite and/or in-process hot store; single node only, not for production"
        );
    }
    let app = idp::build_server(settings.clone(), Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    let listening = format!("{}:{}", settings.listen.ip(), app.port());
    tracing::info!(issuer = %settings.issuer, listen = %listening, "idp is serving");
    eprintln!("idp: serving {} on http://{listening} (issuer {})", app.state().db.backend_name(), settings.issuer);
    let embedded = matches!(settings.database, idp::config::DatabaseUrl::Sqlite(_)) && settings.redis_url.is_none();
    if embedded {
        register_demo(app.state(), &settings).await?;
    }
    app.run_until_stopped().await.map_err(|e| format!("server stopped: {e}"))
}

async fn migrate(settings: Settings) -> Result<(), String> {
    let database = settings.database.clone();
    let db = tokio::task::spawn_blocking(move || idp::store::Db::connect(&database, 1))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("`database_url`: {e}"))?;
    let applied = db.migrate().await.map_err(|e| e.to_string())?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for version in applied {
        println!("applied {version}");
    }
    Ok(())
}

async fn keys(command: KeysCommand, settings: Settings) -> Result<(), String> {
    if let KeysCommand::InitKek = command {
        let dir = &settings.keys_dir;
        match Kek::load(dir).map_err(|e| e.to_string())? {
            Some(kek) => println!("{} already holds a key-encryption key (id {})", dir.display(), kek.id()),
            None => {
                let kek = Kek::generate_into(dir).map_err(|e| e.to_string())?;
                println!("created {} (id {})", Kek::path(dir).display(), kek.id());
            }
        }
        return Ok(());
    }
    let state = AppState::connect(settings, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    match command {
        KeysCommand::List { json } => {
            let keys = state.keyring.list();
            if json {
                println!("{}", serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())?);
            } else {
                println!("{:<44} {:<6} {:>4} {:<8} {:>12}", "KID", "ALG", "GEN", "STATE", "SIGNS_FROM");
                for key in keys {
                    println!(
                        "{:<44} {:<6} {:>4} {:<8} {:>12}",
                        key.kid,
                        key.alg,
                        key.generation,
                        key.state.name(),
                        key.signs_from
                    );
                }
            }
        }
        KeysCommand::Rotate { algs, json } => {
            let algs: Vec<SigningAlg> = if algs.is_empty() {
                SigningAlg::ALL.to_vec()
            } else {
                algs.iter().map(|a| a.parse()).collect::<Result<_, _>>()?
            };
            let keyring = state.keyring.clone();
            let outcomes = tokio::task::spawn_blocking(move || keyring.rotate(&algs))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            // Nodes also re-read the key table on their own; this makes it immediate.
            let _ = state.hot.publish(KEYS_CHANNEL, b"changed").await;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcomes).map_err(|e| e.to_string())?);
            } else {
                for outcome in outcomes {
                    match outcome {
                        RotationOutcome::Created { kid, alg, signs_from } => {
                            println!("{alg}: published {kid}; it signs from {signs_from}")
                        }
                        RotationOutcome::AlreadyPending { kid, alg, signs_from } => {
                            println!("{alg}: {kid} is already waiting to sign from {signs_from}; nothing to do")
                        }
                    }
                }
            }
        }
        KeysCommand::InitKek => unreachable!("handled above"),
    }
    Ok(())
}

/// Runs a registry change off the async workers and announces it to running nodes.
async fn registry_call<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&idp::services::registry::Registry) -> Result<T, idp::services::registry::RegistryError>
        + Send
        + 'static,
) -> Result<T, String> {
    let registry = state.registry.clone();
    let result = tokio::task::spawn_blocking(move || call(&registry)).await.map_err(|e| e.to_string())?;
    let _ = state.hot.publish(idp::services::registry::REGISTRY_CHANNEL, b"changed").await;
    result.map_err(|e| e.to_string())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    Ok(())
}

async fn resources(command: ResourcesCommand, settings: Settings) -> Result<(), String> {
    let state = AppState::connect(settings, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    match command {
        ResourcesCommand::Create { identifier, name, scopes, access_token_lifetime, require_dpop, json } => {
            let registration = idp::services::registry::ResourceRegistration {
                identifier,
                name,
                scopes,
                access_token_lifetime,
                require_dpop,
            };
            let created = registry_call(&state, move |r| r.create_resource(registration)).await?;
            if json {
                print_json(&created)?;
            } else {
                println!("registered resource server {}", created.identifier);
            }
        }
        ResourcesCommand::List { json } => {
            let all: Vec<_> = state.registry.resources().iter().map(|r| (**r).clone()).collect();
            if json {
                print_json(&all)?;
            } else {
                for r in all {
                    println!("{}  scopes: {}  dpop: {}", r.identifier, r.scopes, r.require_dpop);
                }
            }
        }
    }
    state.shut_down().await;
    Ok(())
}

async fn clients(command: ClientsCommand, settings: Settings) -> Result<(), String> {
    let state = AppState::connect(settings, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    match command {
        ClientsCommand::Create {
            name,
            public,
            grants,
            resources,
            default_resource,
            scopes,
            origins,
            redirect_uris,
            require_dpop,
            auth_method,
            jwks,
            access_token_lifetime,
            first_party,
            id_token_alg,
            require_par,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            json,
        } => {
            let registration = idp::services::registry::ClientRegistration {
                name,
                public,
                grant_types: grants,
                resources,
                default_resource,
                scopes,
                web_origins: origins,
                redirect_uris,
                require_dpop,
                auth_method,
                jwks,
                access_token_lifetime,
                first_party,
                id_token_alg,
                require_pushed_authorization_requests: require_par,
                post_logout_redirect_uris,
                backchannel_logout_uri,
            };
            let (client, secret) = registry_call(&state, move |r| r.create_client(registration)).await?;
            let metadata = client.metadata(secret.as_ref());
            if json {
                print_json(&metadata)?;
            } else {
                println!("client_id:     {}", client.id);
                if let Some(secret) = &secret {
                    println!("client_secret: {}   (shown once; store it now)", secret.expose());
                }
            }
        }
        ClientsCommand::List { json } => {
            let all = registry_call(&state, |r| r.list_clients()).await?;
            if json {
                print_json(&all.iter().map(|c| c.metadata(None)).collect::<Vec<_>>())?;
            } else {
                for c in all {
                    println!("{}  {}  {}  enabled: {}", c.id, c.auth_method, c.name, c.enabled);
                }
            }
        }
        ClientsCommand::Show { client_id } => {
            let client = registry_call(&state, move |r| r.load_client_blocking(&client_id)).await?;
            print_json(&client.metadata(None))?;
        }
        ClientsCommand::Delete { client_id } => {
            let shown = client_id.clone();
            registry_call(&state, move |r| r.delete_client(&client_id)).await?;
            println!("deleted client {shown}");
        }
        ClientsCommand::Disable { client_id } => {
            let client = registry_call(&state, move |r| r.set_enabled(&client_id, false)).await?;
            println!("disabled client {}", client.id);
        }
        ClientsCommand::Enable { client_id } => {
            let client = registry_call(&state, move |r| r.set_enabled(&client_id, true)).await?;
            println!("enabled client {}", client.id);
        }
        ClientsCommand::RotateSecret { client_id, overlap } => {
            let secret = registry_call(&state, move |r| r.rotate_secret(&client_id, overlap)).await?;
            print_json(&serde_json::json!({ "client_secret": secret.expose(), "previous_secret_valid_for": overlap }))?;
        }
    }
    state.shut_down().await;
    Ok(())
}

/// On the embedded development setup's first start, a demo API and client to try it with.
async fn register_demo(state: &AppState, settings: &Settings) -> Result<(), String> {
    const DEMO_API: &str = "https://demo-api.localhost";
    let empty = state.registry.resources().is_empty() && registry_call(state, |r| r.list_clients()).await?.is_empty();
    if !empty {
        return Ok(());
    }
    let resource = idp::services::registry::ResourceRegistration {
        identifier: DEMO_API.into(),
        name: Some("Demo API".into()),
        scopes: vec!["read".into(), "write".into()],
        ..Default::default()
    };
    registry_call(state, move |r| r.create_resource(resource)).await?;
    let client = idp::services::registry::ClientRegistration {
        name: "Demo service".into(),
        grant_types: vec!["client_credentials".into()],
        resources: vec![DEMO_API.into()],
        scopes: vec!["read".into(), "write".into()],
        ..Default::default()
    };
    let (client, secret) = registry_call(state, move |r| r.create_client(client)).await?;
    let secret = secret.map(|s| s.expose().to_owned()).unwrap_or_default();
    eprintln!("idp: development demo: resource {DEMO_API} (scopes read write) and a client_credentials client:");
    eprintln!("idp:   client_id     {}", client.id);
    eprintln!("idp:   client_secret {secret}   (shown once)");
    eprintln!(
        "idp:   curl -u '{}:{secret}' -d grant_type=client_credentials {}",
        client.id,
        settings.issuer.endpoint("/token")
    );
    register_demo_sign_in(state, settings, DEMO_API).await
}

/// The browser half of the demo: a user and a web app that signs them in with the code flow.
async fn register_demo_sign_in(state: &AppState, settings: &Settings, api: &str) -> Result<(), String> {
    const REDIRECT: &str = "http://127.0.0.1:8400/callback";
    // RFC 7636 Appendix B: a verifier and its S256 challenge, fine for a demo only.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let web_app = idp::services::registry::ClientRegistration {
        name: "Demo web app".into(),
        grant_types: vec!["authorization_code".into()],
        resources: vec![api.into()],
        scopes: ["openid", "profile", "email", "read"].map(String::from).to_vec(),
        redirect_uris: vec![REDIRECT.into()],
        ..Default::default()
    };
    let (web_app, secret) = registry_call(state, move |r| r.create_client(web_app)).await?;
    let secret = secret.map(|s| s.expose().to_owned()).unwrap_or_default();
    let password = idp::crypto::random_token()[..20].to_owned();
    let user = idp::services::users::NewUser {
        username: "demo".into(),
        email: Some("demo@example.com".into()),
        email_verified: true,
        name: Some("Demo User".into()),
        password: Some(idp::services::users::Password::parse(password.clone()).map_err(|e| e.to_string())?),
        ..Default::default()
    };
    let users = state.users.clone();
    tokio::task::spawn_blocking(move || users.create(user))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let authorize = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20read&state=demo&code_challenge={CHALLENGE}&code_challenge_method=S256",
        settings.issuer.endpoint("/authorize"),
        web_app.id,
        "http%3A%2F%2F127.0.0.1%3A8400%2Fcallback",
    );
    eprintln!("idp: development demo: user `demo`, password {password}   (shown once), and a web app:");
    eprintln!("idp:   client_id     {}", web_app.id);
    eprintln!("idp:   client_secret {secret}   (shown once)");
    eprintln!("idp:   sign in at    {authorize}");
    eprintln!(
        "idp:   then          curl -u '{}:{secret}' -d grant_type=authorization_code -d code=CODE_FROM_THE_REDIRECT -d redirect_uri={REDIRECT} -d code_verifier={VERIFIER} {}",
        web_app.id,
        settings.issuer.endpoint("/token")
    );
    Ok(())
}

async fn find_user(
    directory: &idp::services::users::Users,
    username: String,
) -> Result<idp::services::users::User, String> {
    let directory = directory.clone();
    tokio::task::spawn_blocking(move || directory.find_by_username(&username))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no such user".to_owned())
}

type UserCall = Box<
    dyn FnOnce(&idp::services::users::Users) -> Result<idp::services::users::User, idp::services::users::UserError>
        + Send,
>;

fn password_from_stdin() -> Result<idp::services::users::Password, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    idp::services::users::Password::parse(password).map_err(|e| e.to_string())
}

async fn users(command: UsersCommand, settings: Settings) -> Result<(), String> {
    let state = AppState::connect(settings, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    let directory = state.users.clone();
    let blocking = |call: UserCall| {
        let directory = directory.clone();
        async move {
            tokio::task::spawn_blocking(move || call(&directory))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        }
    };
    match command {
        UsersCommand::Create {
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            password_stdin,
            json,
        } => {
            let password = if password_stdin { Some(password_from_stdin()?) } else { None };
            let new = idp::services::users::NewUser {
                username,
                email,
                email_verified,
                name,
                given_name,
                family_name,
                password,
            };
            let user = blocking(Box::new(move |d| d.create(new))).await?;
            if json {
                print_json(&user)?;
            } else {
                println!("created user {} ({})", user.username, user.user_id);
            }
        }
        UsersCommand::SetPassword { username } => {
            let password = password_from_stdin()?;
            let user = blocking(Box::new(move |d| d.set_password(&username, password))).await?;
            println!("password set for {}", user.username);
        }
        UsersCommand::Disable { username } => {
            let user = blocking(Box::new(move |d| d.set_enabled(&username, false))).await?;
            // Refreshes do not read the user: a disabled user's grants end here.
            let revoked = idp::oauth::grants::refresh_token::revoke_user_grants(&state, &user.user_id)
                .await
                .map_err(|e| e.to_string())?;
            println!("disabled {}; {revoked} refresh grant(s) revoked", user.username);
        }
        UsersCommand::Enable { username } => {
            let user = blocking(Box::new(move |d| d.set_enabled(&username, true))).await?;
            println!("enabled {}", user.username);
        }
        UsersCommand::Consents { username, json } => {
            let user = find_user(&directory, username).await?;
            let consents = idp::session::consent::list(&state, &user.user_id).await.map_err(|e| e.to_string())?;
            if json {
                print_json(&consents)?;
            } else {
                for c in consents {
                    let scopes = c.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
                    let at: Vec<String> = c
                        .resources
                        .iter()
                        .map(|(r, s)| format!("{r} ({})", s.iter().cloned().collect::<Vec<_>>().join(" ")))
                        .collect();
                    println!("{}  scopes: {scopes}  resources: {}", c.client_id, at.join(", "));
                }
            }
        }
        UsersCommand::RevokeConsent { username, client_id } => {
            let user = find_user(&directory, username).await?;
            let (existed, grants) = idp::session::consent::withdraw(&state, &user.user_id, &client_id).await?;
            if !existed && grants == 0 {
                return Err(format!("{} gave no consent to {client_id}", user.username));
            }
            println!("consent withdrawn; {grants} refresh grant(s) revoked");
        }
        UsersCommand::Unlock { username } => {
            let username = idp::services::users::normalize_username(&username).map_err(|e| e.to_string())?;
            idp::session::login::unlock(&state, &username).await.map_err(|e| e.to_string())?;
            println!("{username} may sign in again");
        }
        UsersCommand::List { json } => {
            let all = tokio::task::spawn_blocking(move || directory.list()).await.map_err(|e| e.to_string())?;
            let all = all.map_err(|e| e.to_string())?;
            if json {
                print_json(&all)?;
            } else {
                for u in all {
                    println!("{}  {}  {}  enabled: {}", u.user_id, u.username, u.email.unwrap_or_default(), u.enabled);
                }
            }
        }
    }
    state.shut_down().await;
    Ok(())
}
