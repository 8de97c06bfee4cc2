//! RFC 8414 / OpenID Connect Discovery metadata. It lists only what this provider implements,
//! and grows with it; the document is built once at start.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use idp_verify::dpop::SUPPORTED_ALGS;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::domain::{GrantType, TokenEndpointAuthMethod};
use crate::services::registry::client::ASSERTION_ALGS;

#[derive(Debug, Clone)]
pub struct Metadata {
    pub body: Bytes,
    pub cache_control: HeaderValue,
}

impl Metadata {
    pub fn new(settings: &Settings) -> Self {
        let document = document(settings);
        let cache_control = HeaderValue::from_str(&format!("public, max-age={}", settings.keys.jwks_max_age.as_secs()))
            .expect("digits make a header value");
        Self { body: Bytes::from(document.to_string()), cache_control }
    }
}

pub fn document(settings: &Settings) -> Value {
    let mut document = fixed_document(settings);
    if settings.registration.enabled {
        // RFC 8414 §2: present only when clients may register themselves.
        document["registration_endpoint"] = Value::String(settings.issuer.endpoint("/register"));
    }
    document
}

fn fixed_document(settings: &Settings) -> Value {
    let issuer = &settings.issuer;
    // From the enums the code dispatches on, so an added grant or method cannot be forgotten
    // here. `none` is how public clients register; it is not a way to authenticate.
    let auth_methods: Vec<&str> = TokenEndpointAuthMethod::ALL
        .iter()
        .filter(|m| **m != TokenEndpointAuthMethod::None)
        .map(|m| m.as_str())
        .collect();
    let grant_types: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    json!({
        "issuer": issuer.as_str(),
        "jwks_uri": issuer.endpoint("/jwks"),
        "token_endpoint": issuer.endpoint("/token"),
        "authorization_endpoint": issuer.endpoint("/authorize"),
        "userinfo_endpoint": issuer.endpoint("/userinfo"),
        "pushed_authorization_request_endpoint": issuer.endpoint("/par"),
        "end_session_endpoint": issuer.endpoint("/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "require_pushed_authorization_requests": false,
        // Always explicit: an absent list means authorization_code and implicit (RFC 8414 §2).
        "grant_types_supported": grant_types,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": crate::services::registry::client::OIDC_SCOPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "sid", "azp",
            "name", "given_name", "family_name", "preferred_username", "updated_at", "email", "email_verified", "groups"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint": issuer.endpoint("/introspect"),
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint": issuer.endpoint("/revoke"),
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "dpop_signing_alg_values_supported": SUPPORTED_ALGS,
    })
}

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn metadata(metadata: web::Data<Metadata>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((header::CACHE_CONTROL, metadata.cache_control.clone()))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")))
        .body(metadata.body.clone())
}

/// CORS preflight for the public GET documents (discovery, JWKS): any origin, no credentials,
/// a fixed answer that reflects nothing from the request.
pub async fn public_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("If-None-Match")))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600")))
        .finish()
}
