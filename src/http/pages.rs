//! The provider's HTML: compile-time templates (askama escapes every value by context), a
//! strict Content-Security-Policy with a fresh nonce per response, and the same-origin check
//! of every form POST (docs/security.md §4, §5).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;

use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub csrf_token: &'a str,
    pub interaction: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub csrf_token: &'a str,
    pub interaction: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub redirect_uri: &'a str,
    pub fields: Vec<(&'a str, &'a str)>,
    pub nonce: &'a str,
}

/// `GET /assets/idp.css`: the one stylesheet (`style-src 'self'`).
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .body(include_str!("../../templates/idp.css"))
}

/// A page's response headers: CSP with `nonce`, `form-action` limited to this provider and,
/// when a page leads to a client (a form POST answered with a redirect, or `form_post`), that
/// client's redirect URI's origin.
pub fn page_response(status: StatusCode, nonce: &str, form_target: Option<&str>) -> HttpResponseBuilder {
    let mut form_action = String::from("'self'");
    if let Some(source) = form_target.and_then(csp_source) {
        form_action.push(' ');
        form_action.push_str(&source);
    }
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; img-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = HttpResponseBuilder::new(status);
    response
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.insert_header((header::CONTENT_SECURITY_POLICY, value));
    }
    response
}

/// A CSP source for a redirect URI: its origin (`https://app.example:8443`), or `scheme:` for
/// a private-use scheme. Built from the parsed URL, so nothing of the path or query (where a
/// `;` could start a new directive) reaches the header.
fn csp_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "https" | "http" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

/// A fresh CSP nonce: 128 random bits.
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("system randomness");
    crate::crypto::b64url(&bytes)
}

/// Renders `page` with status and a fresh nonce.
pub fn render(status: StatusCode, page: &impl Template, form_target: Option<&str>) -> HttpResponse {
    match page.render() {
        Ok(html) => page_response(status, &nonce(), form_target).body(html),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The error page: shown instead of redirecting when the client or its redirect URI is not
/// known (RFC 6749 §4.1.2.1, RFC 9700 §4.11), and for broken sign-in steps. Fixed wording; no
/// request value is echoed.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    render(status, &ErrorPage { title, message }, None)
}

/// The auto-submitting page of `response_mode=form_post`.
pub fn form_post(redirect_uri: &str, fields: &[(&str, &str)]) -> HttpResponse {
    let nonce = nonce();
    let page = FormPostPage { redirect_uri, fields: fields.to_vec(), nonce: &nonce };
    match page.render() {
        Ok(html) => page_response(StatusCode::OK, &nonce, Some(redirect_uri)).body(html),
        Err(e) => {
            tracing::error!(error = %e, "the form_post page did not render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Whether a form POST comes from this provider's own pages (docs/security.md §4). Browsers send
/// `Origin` on every POST; our pages carry `Referrer-Policy: no-referrer`, under which the
/// Fetch standard has the browser send `Origin: null` for a same-origin form, so `null` is
/// accepted only together with `Sec-Fetch-Site: same-origin`, a header no page can forge.
pub fn is_same_origin_post(state: &AppState, req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    match header("origin") {
        Some("null") => header("sec-fetch-site") == Some("same-origin"),
        Some(origin) => origin == state.settings.issuer.origin(),
        None => false,
    }
}

/// The 403 every refused form POST gets: nothing about why, nothing changed; the refusal is
/// audited (docs/security.md §7) with the reason, which the page does not show.
pub fn refuse_form(state: &AppState, req: &HttpRequest, reason: &'static str) -> HttpResponse {
    let mut event = crate::http::request_meta(req).event(state.clock.now(), "form.refused", "refused");
    event.detail = Some(serde_json::json!({ "page": req.path(), "reason": reason }).to_string());
    state.audit.record_refusal(event);
    error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not sent from this sign-in page, or it has expired. Go back to the application and start again.",
    )
}

/// Title and text of the page for a sign-in request that cannot go on.
pub const UNAVAILABLE_TITLE: &str = "Temporarily unavailable";
pub const UNAVAILABLE_MESSAGE: &str =
    "The sign-in service cannot finish this request right now. Try again in a moment.";
pub const EXPIRED_TITLE: &str = "Sign-in request expired";
pub const EXPIRED_MESSAGE: &str = "This sign-in request has expired, was already used or was started in another browser. Go back to the application and start again.";

/// A 303 to `location` (RFC 9700 §4.12: never 307 after a POST that carried credentials).
pub fn see_other(location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther().finish();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub csrf_token: &'a str,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}
