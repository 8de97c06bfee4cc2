//! The integration harness: every test spawns the real application on its own port with its own
//! data (a temp SQLite file and in-process hot store, or a fresh PostgreSQL schema and a Redis
//! key prefix) and its own movable clock.
//!
//! The suite runs on SQLite + memory always, and on PostgreSQL + Redis when
//! `IDP_TEST_DATABASE_URL` and `IDP_TEST_REDIS_URL` are set (`.ci/run` sets them); without them
//! that half is reported as ignored (`harness.rs`).

pub mod admin;
pub mod browser;
pub mod dpop;
pub mod harness;
pub mod oauth;
pub mod provider;
pub mod proxy;
pub mod redis_server;
pub mod scim;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use idp::clock::ManualClock;
use idp::config::{Settings, Sources};
use idp::{AppState, Application, StartupError};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SqliteMemory,
    PostgresRedis,
}

pub fn postgres_url() -> Option<String> {
    std::env::var("IDP_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("IDP_TEST_REDIS_URL").ok().filter(|v| !v.is_empty())
}

impl Backend {
    /// Whether this backend can run here; PostgreSQL + Redis needs both test URLs.
    pub fn available(self) -> bool {
        match self {
            Backend::SqliteMemory => true,
            Backend::PostgresRedis => postgres_url().is_some() && redis_url().is_some(),
        }
    }
}

/// The data one test owns: a directory (keys, SQLite file), and on PostgreSQL a schema of its
/// own, dropped at the end.
pub struct TestData {
    pub dir: TempDir,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    postgres_schema: Option<(String, String)>,
}

impl TestData {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let redis_prefix = format!("idptest:{id}:");
        match backend {
            Backend::SqliteMemory => {
                let database_url = format!("sqlite://{}", dir.path().join("idp.db").display());
                Self { dir, database_url, redis_url: None, redis_prefix, postgres_schema: None }
            }
            Backend::PostgresRedis => {
                let base = postgres_url().expect("IDP_TEST_DATABASE_URL");
                let schema = format!("test_{id}");
                let mut admin = diesel::PgConnection::establish(&base).expect("connect to IDP_TEST_DATABASE_URL");
                admin.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("create test schema");
                let database_url = with_search_path(&base, &schema);
                Self { dir, database_url, redis_url: redis_url(), redis_prefix, postgres_schema: Some((base, schema)) }
            }
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    /// `IDP_*` variables describing this data, as an operator would set them.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("IDP_DATABASE_URL".to_string(), self.database_url.clone()),
            ("IDP_KEYS_DIR".to_string(), self.keys_dir().display().to_string()),
            ("IDP_REDIS_PREFIX".to_string(), self.redis_prefix.clone()),
            ("IDP_DATABASE_POOL_SIZE".to_string(), "4".to_string()),
            ("IDP_WORKERS".to_string(), "1".to_string()),
            ("IDP_KEYS__REFRESH_INTERVAL".to_string(), "200ms".to_string()),
        ];
        if let Some(redis) = &self.redis_url {
            env.push(("IDP_REDIS_URL".to_string(), redis.clone()));
        }
        env
    }

    pub fn settings(&self, port: u16, extra: &[(&str, &str)]) -> Settings {
        let mut env = self.env();
        env.push(("IDP_ISSUER".into(), format!("http://127.0.0.1:{port}")));
        env.push(("IDP_LISTEN".into(), format!("127.0.0.1:{port}")));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::from_sources(Sources { file: None, env }).expect("valid test settings")
    }
}

impl Drop for TestData {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.postgres_schema {
            if let Ok(mut admin) = diesel::PgConnection::establish(base) {
                let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// `postgres://…/db` -> the same with `options=-csearch_path=<schema>`.
pub fn with_search_path(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// A running node and the handles a test needs.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The admin listener's port, when the app was started with `IDP_ADMIN_LISTEN`.
    pub admin_port: Option<u16>,
    /// The metrics listener's port, when the app was started with `IDP_METRICS_LISTEN`.
    pub metrics_port: Option<u16>,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    handle: ServerHandle,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn jwks_kids(&self) -> Vec<String> {
        let body: serde_json::Value = self.get("/jwks").await.json().await.expect("JWKS is JSON");
        body["keys"].as_array().expect("keys array").iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    /// Stops the server and its background tasks, as a shutdown would.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.running.await;
    }
}

/// Spawns a node on `data` with a fresh clock.
pub async fn spawn_app(data: &TestData) -> TestApp {
    spawn_app_with(data, ManualClock::starting_now(), &[]).await.expect("app starts")
}

/// Spawns a node on `data` with a fresh clock and the `IDP_*` settings `env` on top.
pub async fn spawn_app_with_env(data: &TestData, env: &[(&str, &str)]) -> TestApp {
    spawn_app_with(data, ManualClock::starting_now(), env).await.expect("app starts")
}

pub async fn spawn_app_with(
    data: &TestData,
    clock: ManualClock,
    extra: &[(&str, &str)],
) -> Result<TestApp, StartupError> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    spawn_app_on(data, clock, extra, listener).await
}

impl TestApp {
    /// Stops this node and starts another on the same data, port and clock, as an upgrade
    /// does: same issuer (so tokens issued before still name it), a new process state.
    pub async fn restart(self, data: &TestData) -> TestApp {
        let (port, clock) = (self.port, self.clock.clone());
        self.stop().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => break listener,
                Err(e) if tokio::time::Instant::now() >= deadline => panic!("port {port} stays taken: {e}"),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        spawn_app_on(data, clock, &[], listener).await.expect("app restarts")
    }
}

async fn spawn_app_on(
    data: &TestData,
    clock: ManualClock,
    extra: &[(&str, &str)],
    listener: TcpListener,
) -> Result<TestApp, StartupError> {
    let port = listener.local_addr().unwrap().port();
    let settings = data.settings(port, extra);
    let app = Application::build_on(settings, Arc::new(clock.clone()), Some(listener)).await?;
    let state = app.state().clone();
    let admin_port = app.admin_port();
    let metrics_port = app.metrics_port();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        admin_port,
        metrics_port,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        clock,
        state,
        handle,
        running,
    })
}

/// Polls `check` every 100 ms until it is true or `limit` has passed.
pub async fn eventually<F, Fut>(limit: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
