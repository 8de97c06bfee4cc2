//! Assembles the application from [`Settings`]: stores, keys, routes, middleware, listener and
//! background upkeep. Tests build it on port 0 with their own data and clock.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use tokio::sync::watch;

use crate::admin;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::Problem;
use crate::http::pages;
use crate::oauth::{authorize, discovery, introspect, jwks, par, revoke, token, userinfo};
use crate::ops;
use crate::services::keys::KEYS_CHANNEL;
use crate::services::registry::REGISTRY_CHANNEL;
use crate::session;
use crate::state::{AppState, StartupError};
use crate::store::HotStore;
use crate::telemetry::{self, ResponsePolicy};

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings, clock: SharedClock) -> Result<Self, StartupError> {
        Self::build_on(settings, clock, None).await
    }

    /// As [`Application::build`], on a listener bound beforehand (tests bind port 0 first, so
    /// the issuer can name the port).
    pub async fn build_on(
        settings: Settings,
        clock: SharedClock,
        listener: Option<TcpListener>,
    ) -> Result<Self, StartupError> {
        let listen = settings.listen;
        let workers = settings.workers;
        let state = AppState::connect(settings, clock).await?;
        admin::auth::register_audience(&state).await.map_err(|e| StartupError::Database(e.to_string()))?;
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(listen).map_err(StartupError::Listen)?,
        };
        let port = listener.local_addr().map_err(StartupError::Listen)?.port();
        let server = serve(listener, state.clone(), workers).map_err(StartupError::Listen)?;
        state.spawn(key_upkeep(state.clone(), state.shutdown.subscribe()));
        state.spawn(registry_upkeep(state.clone(), state.shutdown.subscribe()));
        Ok(Self { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (signal or [`ServerHandle::stop`]), then ends upkeep.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.shut_down().await;
        result
    }
}

fn serve(listener: TcpListener, state: AppState, workers: Option<usize>) -> std::io::Result<Server> {
    let prefix = state.settings.issuer.path_prefix().to_owned();
    let metadata = web::Data::new(discovery::Metadata::new(&state.settings));
    let policy = web::Data::new(ResponsePolicy { hsts: state.settings.issuer.is_https() });
    let keyring = web::Data::from(state.keyring.clone());
    let metrics = web::Data::new(state.metrics.clone());
    let db = web::Data::new(state.db.clone());
    let hot = web::Data::new(state.hot.clone());
    let app_state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(metadata.clone())
            .app_data(policy.clone())
            .app_data(keyring.clone())
            .app_data(metrics.clone())
            .app_data(db.clone())
            .app_data(hot.clone())
            .app_data(app_state.clone())
            .wrap(from_fn(telemetry::observe))
            .configure(|cfg| routes(cfg, &prefix))
            .default_service(web::to(|| async { Problem::not_found() }))
    })
    .listen(listener)?;
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

fn routes(cfg: &mut web::ServiceConfig, prefix: &str) {
    let not_allowed = || web::to(|| async { Problem::method_not_allowed() });
    // RFC 8414 §3: for an issuer with a path, the well-known segment goes before that path.
    if !prefix.is_empty() {
        cfg.service(
            web::resource(format!("/.well-known/oauth-authorization-server{prefix}"))
                .route(web::get().to(discovery::metadata))
                .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight))
                .default_service(not_allowed()),
        );
    }
    cfg.service(
        web::scope(prefix)
            .service(
                web::resource(["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
                    .route(web::get().to(discovery::metadata))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/jwks")
                    .route(web::get().to(jwks::jwks))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/token")
                    .route(web::post().to(token::token))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(token::preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/introspect")
                    .route(web::post().to(introspect::introspect))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(token::preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/revoke")
                    .route(web::post().to(revoke::revoke))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(token::preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/par")
                    .route(web::post().to(par::push))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(token::preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/userinfo")
                    .route(web::get().to(userinfo::userinfo))
                    .route(web::post().to(userinfo::userinfo))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(userinfo::preflight))
                    .default_service(not_allowed()),
            )
            // The browser pages: no CORS here (docs/security.md §2, RFC 9700 §2.6).
            .service(
                web::resource("/authorize")
                    .route(web::get().to(authorize::authorize_get))
                    .route(web::post().to(authorize::authorize_post))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/login")
                    .route(web::get().to(session::login::show))
                    .route(web::post().to(session::login::submit))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/consent")
                    .route(web::get().to(session::consent::show))
                    .route(web::post().to(session::consent::submit))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/assets/idp.css").route(web::get().to(pages::stylesheet)).default_service(not_allowed()),
            )
            .service(
                web::resource("/logout")
                    .route(web::get().to(session::logout::end_session))
                    .route(web::post().to(session::logout::submit))
                    .default_service(not_allowed()),
            )
            // The operator API: its own error shapes and no CORS (docs/security.md §2).
            .service(
                web::scope(admin::BASE_PATH)
                    .wrap(ErrorHandlers::new().default_handler(admin::problems_only))
                    .configure(admin::routes)
                    .default_service(web::to(|| async { Problem::not_found() })),
            )
            .service(web::resource("/healthz").route(web::get().to(ops::healthz)).default_service(not_allowed()))
            .service(web::resource("/readyz").route(web::get().to(ops::readyz)).default_service(not_allowed()))
            .service(web::resource("/metrics").route(web::get().to(ops::metrics)).default_service(not_allowed())),
    );
}

/// Keeps this node's keys current: re-reads the key table on a short interval and whenever
/// another node announces a change, rotates on schedule and drops expired keys.
async fn key_upkeep(state: AppState, stopped: watch::Receiver<bool>) {
    let every = state.settings.keys.refresh_interval;
    on_tick_or_announcement(&state.hot, KEYS_CHANNEL, every, stopped, || async {
        if let Err(e) = state.keyring.upkeep().await {
            tracing::error!(error = %e, "key upkeep failed; retrying");
        }
    })
    .await
}

/// Keeps this node's view of clients and resource servers current: polls the registry
/// version twice a second and reloads at once when another node announces a change.
async fn registry_upkeep(state: AppState, stopped: watch::Receiver<bool>) {
    let every = Duration::from_millis(500);
    on_tick_or_announcement(&state.hot, REGISTRY_CHANNEL, every, stopped, || async {
        let registry = state.registry.clone();
        match tokio::task::spawn_blocking(move || registry.reload_if_changed()).await {
            Ok(Ok(true)) => tracing::debug!("registry reloaded"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "registry reload failed; retrying"),
            Err(e) => tracing::error!(error = %e, "registry reload task failed"),
        }
    })
    .await
}

/// Runs `step` every `every` and whenever a node announces a change on `channel` (the
/// announcement makes it immediate; the interval covers lost messages and nodes without
/// Redis), until `stopped` fires.
async fn on_tick_or_announcement<F, Fut>(
    hot: &Arc<dyn HotStore>,
    channel: &str,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut announcements = hot.subscribe(channel);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = announcements.recv() => {}
            _ = stopped.changed() => return,
        }
        step().await;
        // After an announcement storm, do not spin.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
