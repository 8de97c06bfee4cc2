//! Logs, request ids, client addresses, metrics and the headers every response carries.

mod client_address;

pub use client_address::{ClientAddress, ForwardingPolicy};

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// JSON logs on stdout, filtered by the `log` setting.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .try_init();
}

/// The id of the request being served, for logs and audit events.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a caller's id if it is short and plain, so it can be logged and echoed safely.
fn caller_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    (!text.is_empty() && text.len() <= 64 && text.chars().all(plain)).then(|| text.to_owned())
}

/// Prometheus metrics of this node.
#[derive(Debug, Clone)]
pub struct Metrics {
    id: usize,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    tokens: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Resolved metric handles per worker thread, keyed by (metrics instance, path, method, status),
/// so the request path neither re-matches the route nor takes the registry's lock.
type HandleKey = (usize, u64, u16, u16);

thread_local! {
    static HANDLES: RefCell<HashMap<HandleKey, (IntCounter, Histogram)>> = RefCell::new(HashMap::new());
}

thread_local! {
    /// Keyed by the grant name's address: callers pass `&'static str` literals.
    static TOKEN_COUNTERS: RefCell<HashMap<(usize, usize, bool), IntCounter>> = RefCell::new(HashMap::new());
}

/// Distinct paths cached per thread; unmatched paths (scans) beyond this take the slow path.
const HANDLE_CACHE_LIMIT: usize = 512;

impl Metrics {
    pub fn new() -> Self {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("idp_http_requests_total", "HTTP requests served, by route and status"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("idp_http_request_duration_seconds", "HTTP request latency, by route and status")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("metric registered once");
        registry.register(Box::new(latency.clone())).expect("metric registered once");
        let tokens = IntCounterVec::new(
            Opts::new("idp_tokens_issued_total", "Access tokens issued, by grant and token type"),
            &["grant", "token_type"],
        )
        .expect("valid metric");
        registry.register(Box::new(tokens.clone())).expect("metric registered once");
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), registry, requests, latency, tokens }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one request. `route` names the matched route pattern; it is asked for only the
    /// first time a worker sees this path.
    fn observe(&self, path: &str, method: &Method, status: u16, seconds: f64, route: impl FnOnce() -> String) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut hasher);
        let key = (self.id, hasher.finish(), method_index(method), status);
        let cached = HANDLES.with(|handles| handles.borrow().get(&key).cloned());
        let (counter, histogram) = match cached {
            Some(handles) => handles,
            None => {
                let route = route();
                let buffer = itoa_status(status);
                let status = std::str::from_utf8(&buffer).unwrap_or("0");
                let labels = [route.as_str(), method_label(method), status];
                let handles = (self.requests.with_label_values(&labels), self.latency.with_label_values(&labels));
                HANDLES.with(|cache| {
                    let mut cache = cache.borrow_mut();
                    if cache.len() < HANDLE_CACHE_LIMIT {
                        cache.insert(key, handles.clone());
                    }
                });
                handles
            }
        };
        counter.inc();
        histogram.observe(seconds);
    }

    pub fn token_issued(&self, grant: &'static str, dpop_bound: bool) {
        let token_type = if dpop_bound { "DPoP" } else { "Bearer" };
        let key = (self.id, grant.as_ptr() as usize, dpop_bound);
        let cached = TOKEN_COUNTERS.with(|counters| counters.borrow().get(&key).cloned());
        let counter = cached.unwrap_or_else(|| {
            let counter = self.tokens.with_label_values(&[grant, token_type]);
            TOKEN_COUNTERS.with(|counters| counters.borrow_mut().insert(key, counter.clone()));
            counter
        });
        counter.inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// The methods counted by name; anything else is `other`.
const METHOD_LABELS: [&str; 8] = ["GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "other"];

/// The `method` label's index in [`METHOD_LABELS`]. A client may send any token as a method
/// (RFC 9110 §9.1), so extension methods share one label: the label set stays bounded however
/// many methods are invented, and two of them never share a cached handle under one's name.
fn method_index(method: &Method) -> u16 {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::OPTIONS => 2,
        Method::HEAD => 3,
        Method::PUT => 4,
        Method::DELETE => 5,
        Method::PATCH => 6,
        _ => 7,
    }
}

fn method_label(method: &Method) -> &'static str {
    METHOD_LABELS[usize::from(method_index(method))]
}

fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [b'0' + (s / 100) as u8, b'0' + (s / 10 % 10) as u8, b'0' + (s % 10) as u8]
}

/// What the response headers depend on, fixed at start.
#[derive(Debug, Clone)]
pub struct ResponsePolicy {
    pub hsts: bool,
}

static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
static NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
static DENY: HeaderValue = HeaderValue::from_static("DENY");
static HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");
static API_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");

/// The outermost middleware: request id, span, access log, metrics and security headers.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(caller_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let policy = req.app_data::<web::Data<ResponsePolicy>>().cloned();
    let method = req.method().clone();
    let client = match (req.peer_addr(), req.app_data::<web::Data<ForwardingPolicy>>()) {
        (Some(peer), Some(forwarding)) => Some(forwarding.client_address(peer.ip(), req.headers())),
        (Some(peer), None) => Some(crate::config::canonical_ip(peer.ip())),
        (None, _) => None,
    };
    let span = tracing::info_span!(
        "request",
        request.id = %request_id,
        http.method = %method,
        client.address = client.map(tracing::field::display),
    );
    req.extensions_mut().insert(RequestId(request_id.clone()));
    if let Some(client) = client {
        req.extensions_mut().insert(ClientAddress(client));
    }

    let mut res = next.call(req).instrument(span.clone()).await?;

    let status = res.status();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        let request = res.request();
        metrics.observe(request.path(), &method, status.as_u16(), elapsed.as_secs_f64(), || {
            request.match_pattern().unwrap_or_else(|| "unmatched".into())
        });
    }
    let _entered = span.enter();
    let latency_us = elapsed.as_micros() as u64;
    let path = res.request().path();
    if status.is_server_error() {
        let error = res.response().error().map(|e| e.to_string());
        tracing::error!(http.path = path, http.status = status.as_u16(), latency_us, error, "request failed");
    } else {
        tracing::info!(http.path = path, http.status = status.as_u16(), latency_us, "request");
    }

    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
    headers.insert(header::REFERRER_POLICY, NO_REFERRER.clone());
    headers.insert(header::X_FRAME_OPTIONS, DENY.clone());
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, NO_STORE.clone());
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, API_CSP.clone());
    }
    if policy.is_some_and(|p| p.hsts) {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS.clone());
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_request_ids_are_echoed_only_when_plain() {
        assert_eq!(caller_request_id(&HeaderValue::from_static("abc-123")).as_deref(), Some("abc-123"));
        assert_eq!(caller_request_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(caller_request_id(&HeaderValue::from_static("<script>")), None);
        let long = "a".repeat(65);
        assert_eq!(caller_request_id(&HeaderValue::from_str(&long).unwrap()), None);
    }

    #[test]
    fn metrics_render_counts_and_histograms_by_route_and_status() {
        let metrics = Metrics::new();
        metrics.observe("/jwks", &Method::GET, 200, 0.001, || "/jwks".into());
        metrics.observe("/jwks", &Method::GET, 200, 0.001, || unreachable!("cached after the first"));
        metrics.observe("/jwks", &Method::GET, 304, 0.001, || "/jwks".into());
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(text.contains(r#"idp_http_requests_total{method="GET",route="/jwks",status="200"} 2"#), "{text}");
        assert!(text.contains("idp_http_request_duration_seconds_bucket"));
    }

    #[test]
    fn extension_methods_are_counted_as_other() {
        let metrics = Metrics::new();
        for name in ["FOO", "BAR"] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            metrics.observe("/jwks", &method, 405, 0.001, || "/jwks".into());
        }
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(text.contains(r#"idp_http_requests_total{method="other",route="/jwks",status="405"} 2"#), "{text}");
        assert!(!text.contains("FOO") && !text.contains("BAR"), "{text}");
    }
}
