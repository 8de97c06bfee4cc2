//! Operational endpoints: liveness, readiness, metrics.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::store::{Db, HotStore};
use crate::telemetry::Metrics;

const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database and the hot store both answer now. Probes fresh connections, so
/// it turns 200 again by itself once a stopped backend is back.
pub async fn readyz(db: web::Data<Db>, hot: web::Data<Arc<dyn HotStore>>) -> HttpResponse {
    let (database, hot_store) = tokio::join!(db.ping(CHECK_TIMEOUT), tokio::time::timeout(CHECK_TIMEOUT, hot.ping()));
    let database_ok = database.as_ref().map_err(|e| tracing::warn!(error = %e, "readiness: database down")).is_ok();
    let hot_ok = match hot_store {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: hot store down");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: hot store timed out");
            false
        }
    };
    let state = |ok: bool| if ok { "up" } else { "down" };
    let body = json!({
        "status": if database_ok && hot_ok { "ready" } else { "unavailable" },
        "checks": { "database": state(database_ok), "hot_store": state(hot_ok) },
    });
    if database_ok && hot_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8")))
        .body(metrics.render())
}
