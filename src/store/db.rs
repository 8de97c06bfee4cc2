//! The relational store: one diesel code path over PostgreSQL and SQLite.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseUrl;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Held while migrating so nodes starting together do not migrate twice.
const MIGRATION_LOCK_ID: i64 = 0x1D9_0001;

/// A connection to either backend; queries are written once against it.
/// SQLite comes last: its `establish` accepts any string as a file name.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database connection unavailable: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Opens connections of the backend the URL names (never guesses by trying both).
#[derive(Debug, Clone)]
pub struct DbManager {
    url: DatabaseUrl,
}

impl DbManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    pub fn establish(&self) -> ConnectionResult<DbConnection> {
        match &self.url {
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url).map(DbConnection::Postgres),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                // Per connection: SQLite forgets these when a connection closes.
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.establish().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// The database pool. Cloning is cheap; every clone shares the pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool<DbManager>,
    url: DatabaseUrl,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("url", &self.url).finish()
    }
}

impl Db {
    /// Connects once (so an unreachable database fails now, with its real reason), then builds
    /// the pool. Blocking: call from a blocking context or at start.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Self, String> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
            }
        }
        let manager = DbManager::new(url.clone());
        let first = manager
            .establish()
            .map_err(|e| format!("cannot connect to {}: {}", url.redacted(), one_line(&e.to_string())))?;
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .test_on_check_out(false)
            .build_unchecked(manager);
        drop(first);
        Ok(Self { pool, url: url.clone() })
    }

    pub fn backend_name(&self) -> &'static str {
        self.url.backend_name()
    }

    /// Applies pending migrations of this backend; returns the versions applied.
    pub fn migrate_blocking(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get()?;
        run_migrations(&mut conn)
    }

    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.migrate_blocking()).await?
    }

    /// Runs `f` with a pooled connection on the blocking pool, inside the caller's span.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            Ok(f(&mut conn)?)
        })
        .await?
    }

    /// The same as [`Db::run`] for callers that are already blocking (the CLI).
    pub fn run_blocking<T>(&self, f: impl FnOnce(&mut DbConnection) -> QueryResult<T>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(f(&mut conn)?)
    }

    /// Readiness: a fresh answer from the database within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(timeout)?;
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await?
    }
}

fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConnection::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let result =
                pg.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.iter().map(|m| m.to_string()).collect());
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))?;
            result
        }
        DbConnection::Sqlite(sqlite) => {
            sqlite.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.iter().map(|m| m.to_string()).collect())
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Folds a multi-line driver message into one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether an insert failed because the row already exists (another node won a race).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(error, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}
