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
    if settings.redis_url.as_ref().is_some_and(|url| url.has_password()) {
        tracing::warn!(
            "redis_url carries a password, so whoever reads the configuration reads it: put it in a secret \
             and name the file with redis_password_file"
        );
    }
    let app = crate::build_server(settings.clone(), Arc::new(SystemClock)).await.context("cannot start")?;
    let listening = format!("{}:{}", settings.listen.ip(), app.port());
    let metrics = app.metrics_port().zip(settings.metrics_listen).map(|(port, at)| format!("{}:{port}", at.ip()));
    tracing::info!(issuer = %settings.issuer, listen = %listening, metrics.listen = metrics.as_deref(), "idp is serving");
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
