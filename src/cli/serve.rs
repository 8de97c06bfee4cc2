//! `idp serve` (the default) and `idp migrate`.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::SystemClock;
use crate::config::{DatabaseUrl, Settings};
use crate::store::Db;

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init_logging(&settings.log);
    if settings.is_development() {
        tracing::warn!(
            database = ?settings.database,
            hot_store = if settings.redis_url.is_some() { "redis" } else { "memory" },
            "DEVELOPMENT SETUP: embedded SQLite and/or in-process hot store; single node only, not for production"
        );
    }
    let app = crate::build_server(settings.clone(), Arc::new(SystemClock)).await.context("cannot start")?;
    let listening = format!("{}:{}", settings.listen.ip(), app.port());
    tracing::info!(issuer = %settings.issuer, listen = %listening, "idp is serving");
    eprintln!("idp: serving {} on http://{listening} (issuer {})", app.state().db.backend_name(), settings.issuer);
    let embedded = matches!(settings.database, DatabaseUrl::Sqlite(_)) && settings.redis_url.is_none();
    if embedded {
        super::demo::register(app.state(), &settings).await.context("cannot register the development demo")?;
    }
    app.run_until_stopped().await.context("server stopped")
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let database = settings.database.clone();
    let db = tokio::task::spawn_blocking(move || Db::connect(&database, 1))
        .await?
        .map_err(anyhow::Error::msg)
        .context("`database_url`")?;
    let applied = db.migrate().await?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for version in applied {
        println!("applied {version}");
    }
    Ok(())
}
