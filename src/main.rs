//! The `idp` command line: serve, migrate, and key administration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use idp::clock::SystemClock;
use idp::config::Settings;
use idp::crypto::keyring::RotationOutcome;
use idp::crypto::{Kek, SigningAlg};
use idp::startup::{AppState, KEYS_CHANNEL};

#[derive(Parser)]
#[command(
    name = "idp",
    version,
    about = "A company identity provider (OAuth 2.0 / OpenID Connect)"
)]
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
    let app = idp::build_server(settings.clone(), Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let listening = format!("{}:{}", settings.listen.ip(), app.port());
    tracing::info!(issuer = %settings.issuer, listen = %listening, "idp is serving");
    eprintln!(
        "idp: serving {} on http://{listening} (issuer {})",
        app.state().db.backend_name(),
        settings.issuer
    );
    app.run_until_stopped()
        .await
        .map_err(|e| format!("server stopped: {e}"))
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
            Some(kek) => println!(
                "{} already holds a key-encryption key (id {})",
                dir.display(),
                kek.id()
            ),
            None => {
                let kek = Kek::generate_into(dir).map_err(|e| e.to_string())?;
                println!("created {} (id {})", Kek::path(dir).display(), kek.id());
            }
        }
        return Ok(());
    }
    let state = AppState::connect(settings, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    match command {
        KeysCommand::List { json } => {
            let keys = state.keyring.list();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "{:<44} {:<6} {:>4} {:<8} {:>12}",
                    "KID", "ALG", "GEN", "STATE", "SIGNS_FROM"
                );
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
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcomes).map_err(|e| e.to_string())?
                );
            } else {
                for outcome in outcomes {
                    match outcome {
                        RotationOutcome::Created {
                            kid,
                            alg,
                            signs_from,
                        } => {
                            println!("{alg}: published {kid}; it signs from {signs_from}")
                        }
                        RotationOutcome::AlreadyPending {
                            kid,
                            alg,
                            signs_from,
                        } => {
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
