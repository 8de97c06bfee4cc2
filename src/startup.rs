//! Assembles the application from [`Settings`]: stores, keys, routes, middleware, listener and
//! background upkeep. Tests build it on port 0 with their own data and clock.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{guard, web, App, HttpServer};
use tokio::sync::watch;

use crate::admin;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::Problem;
use crate::http::{self, pages};
use crate::oauth::{authorize, discovery, introspect, jwks, par, registration, revoke, token, userinfo};
use crate::ops;
use crate::scim;
use crate::services::keys::KEYS_CHANNEL;
use crate::services::registry::REGISTRY_CHANNEL;
use crate::session;
use crate::state::{AppState, StartupError};
use crate::store::HotStore;
use crate::telemetry::{self, ResponsePolicy};

pub struct Application {
    port: u16,
    server: Server,
    /// The admin listener (`admin_listen`), when the admin API has one of its own.
    admin: Option<(u16, Server)>,
    /// The metrics listener (`metrics_listen`), when `/metrics` has one of its own.
    metrics: Option<(u16, Server)>,
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
        scim::auth::register_audience(&state).await.map_err(|e| StartupError::Database(e.to_string()))?;
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(listen).map_err(StartupError::Listen)?,
        };
        let port = listener.local_addr().map_err(StartupError::Listen)?.port();
        let admin = match (state.settings.admin_listen, state.settings.admin_url.clone()) {
            (Some(address), Some(url)) => {
                let listener = TcpListener::bind(address).map_err(StartupError::Listen)?;
                let port = listener.local_addr().map_err(StartupError::Listen)?.port();
                // Port 0 (tests): the URL names the port the system picked.
                let url = if address.port() == 0 { format!("http://{}:{port}", address.ip()) } else { url };
                Some((port, serve_admin(listener, state.clone(), url).map_err(StartupError::Listen)?))
            }
            _ => None,
        };
        let metrics = match state.settings.metrics_listen {
            Some(address) => {
                let listener = TcpListener::bind(address).map_err(StartupError::MetricsListen)?;
                let port = listener.local_addr().map_err(StartupError::MetricsListen)?.port();
                Some((port, serve_metrics(listener, state.clone()).map_err(StartupError::MetricsListen)?))
            }
            None => None,
        };
        let server = serve(listener, state.clone(), workers).map_err(StartupError::Listen)?;
        state.spawn(key_upkeep(state.clone(), state.shutdown.subscribe()));
        state.spawn(registry_upkeep(state.clone(), state.shutdown.subscribe()));
        Ok(Self { port, server, admin, metrics, state })
    }

    /// The admin listener's port, when `admin_listen` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// The metrics listener's port, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
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
        let side: Vec<_> = [self.admin, self.metrics]
            .into_iter()
            .flatten()
            .map(|(_, server)| {
                let handle = server.handle();
                (tokio::spawn(server), handle)
            })
            .collect();
        let result = self.server.await;
        for (running, handle) in side {
            handle.stop(true).await;
            let _ = running.await;
        }
        self.state.shut_down().await;
        result
    }
}

/// The admin API under `path`: every answer, actix's own included, an RFC 9457 problem.
fn admin_scope(path: &str) -> impl actix_web::dev::HttpServiceFactory + 'static {
    web::scope(path)
        .wrap(ErrorHandlers::new().default_handler(admin::problems_only))
        .configure(admin::routes)
        .default_service(web::to(|| async { Problem::not_found() }))
}

/// The admin API alone, on its own listener: the same routes under the issuer's path, nothing
/// else (not even health or metrics, which stay on the public listener or `metrics_listen`).
fn serve_admin(listener: TcpListener, state: AppState, base_url: String) -> std::io::Result<Server> {
    let scope = format!("{}{}", state.settings.issuer.path_prefix(), admin::BASE_PATH);
    let origin = web::Data::new(admin::auth::AdminOrigin(base_url));
    let policy = web::Data::new(ResponsePolicy { hsts: state.settings.issuer.is_https() });
    let metrics = web::Data::new(state.metrics.clone());
    let forwarding = web::Data::new(telemetry::ForwardingPolicy::new(&state.settings));
    let app_state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(origin.clone())
            .app_data(policy.clone())
            .app_data(metrics.clone())
            .app_data(forwarding.clone())
            .app_data(app_state.clone())
            .wrap(from_fn(telemetry::observe))
            .service(admin_scope(&scope))
            .default_service(web::to(|| async { Problem::not_found() }))
    })
    .workers(2)
    .listen(listener)?;
    Ok(server.run())
}

/// `/metrics` alone, on its own listener, at the root whatever the issuer's path (where
/// Prometheus looks by default); anything else is a 404.
fn serve_metrics(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let policy = web::Data::new(ResponsePolicy { hsts: false });
    let metrics = web::Data::new(state.metrics.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(policy.clone())
            .app_data(metrics.clone())
            .wrap(from_fn(telemetry::observe))
            .service(
                web::resource("/metrics")
                    .route(get_or_head().to(ops::metrics))
                    .default_service(web::to(|| async { Problem::method_not_allowed() })),
            )
            .default_service(web::to(|| async { Problem::not_found() }))
    })
    .workers(1)
    .listen(listener)?;
    Ok(server.run())
}

fn serve(listener: TcpListener, state: AppState, workers: Option<usize>) -> std::io::Result<Server> {
    let prefix = state.settings.issuer.path_prefix().to_owned();
    let here = Here { admin: state.settings.admin_listen.is_none(), metrics: state.settings.metrics_listen.is_none() };
    let metadata = web::Data::new(discovery::Metadata::new(&state.settings));
    let policy = web::Data::new(ResponsePolicy { hsts: state.settings.issuer.is_https() });
    let keyring = web::Data::from(state.keyring.clone());
    let metrics = web::Data::new(state.metrics.clone());
    let db = web::Data::new(state.db.clone());
    let hot = web::Data::new(state.hot.clone());
    let forwarding = web::Data::new(telemetry::ForwardingPolicy::new(&state.settings));
    let app_state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(metadata.clone())
            .app_data(policy.clone())
            .app_data(keyring.clone())
            .app_data(metrics.clone())
            .app_data(db.clone())
            .app_data(hot.clone())
            .app_data(forwarding.clone())
            .app_data(app_state.clone())
            .wrap(from_fn(telemetry::observe))
            .configure(|cfg| routes(cfg, &prefix, here))
            .default_service(web::to(|| async { Problem::not_found() }))
    })
    .listen(listener)?;
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// GET, and HEAD served by the same handler: RFC 9110 §9.3.2 has HEAD answer as GET would,
/// without content, and actix-http leaves the body out (keeping its length) for a HEAD request.
/// Only for documents whose GET changes nothing; the browser pages keep GET alone.
fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Which of the APIs that may have a listener of their own are served on the public one.
#[derive(Debug, Clone, Copy)]
struct Here {
    admin: bool,
    metrics: bool,
}

fn routes(cfg: &mut web::ServiceConfig, prefix: &str, here: Here) {
    let not_allowed = || web::to(|| async { Problem::method_not_allowed() });
    // RFC 8414 §3: for an issuer with a path, the well-known segment goes before that path.
    if !prefix.is_empty() {
        cfg.service(
            web::resource(format!("/.well-known/oauth-authorization-server{prefix}"))
                .route(get_or_head().to(discovery::metadata))
                .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight))
                .default_service(not_allowed()),
        );
    }
    cfg.service(
        web::scope(prefix)
            .service(
                web::resource(["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
                    .route(get_or_head().to(discovery::metadata))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/jwks")
                    .route(get_or_head().to(jwks::jwks))
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
            // RFC 7591 / RFC 7592: clients call these server to server; no CORS.
            .service(
                web::resource("/register").route(web::post().to(registration::register)).default_service(not_allowed()),
            )
            .service(
                web::resource("/register/{client_id}")
                    .route(web::get().to(registration::read))
                    .route(web::put().to(registration::update))
                    .route(web::delete().to(registration::delete))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/userinfo")
                    .route(get_or_head().to(userinfo::userinfo))
                    .route(web::post().to(userinfo::userinfo))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(userinfo::preflight))
                    .default_service(not_allowed()),
            )
            // The browser pages: no CORS here (docs/security.md §2, RFC 9700 §2.6).
            .service(
                web::resource("/authorize")
                    .wrap(from_fn(http::rate_limit::pages))
                    .route(web::get().to(authorize::authorize_get))
                    .route(web::post().to(authorize::authorize_post))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/login")
                    .wrap(from_fn(http::rate_limit::pages))
                    .route(web::get().to(session::login::show))
                    .route(web::post().to(session::login::submit))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/consent")
                    .wrap(from_fn(http::rate_limit::pages))
                    .route(web::get().to(session::consent::show))
                    .route(web::post().to(session::consent::submit))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/assets/idp.css")
                    .route(get_or_head().to(pages::stylesheet))
                    .default_service(not_allowed()),
            )
            .service(
                web::resource("/logout")
                    .wrap(from_fn(http::rate_limit::pages))
                    .route(web::get().to(session::logout::end_session))
                    .route(web::post().to(session::logout::submit))
                    .default_service(not_allowed()),
            )
            // The operator API, unless it has a listener of its own: its own error shapes and
            // no CORS (docs/security.md §2).
            .configure(|cfg| {
                if here.admin {
                    cfg.service(admin_scope(admin::BASE_PATH));
                }
            })
            // SCIM provisioning: its own error shape (RFC 7644 §3.12) for any path under it; no
            // CORS. Always on this listener: HR systems reach the provider where users do.
            .service(web::scope(scim::BASE_PATH).configure(scim::routes).default_service(web::to(scim::not_found)))
            .service(web::resource("/healthz").route(get_or_head().to(ops::healthz)).default_service(not_allowed()))
            .service(web::resource("/readyz").route(get_or_head().to(ops::readyz)).default_service(not_allowed()))
            // Prometheus, unless it has a listener of its own (`metrics_listen`).
            .configure(|cfg| {
                if here.metrics {
                    cfg.service(
                        web::resource("/metrics").route(get_or_head().to(ops::metrics)).default_service(not_allowed()),
                    );
                }
            }),
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
