//! A small resource server that accepts idp's access tokens through `idp-verify` alone:
//! `GET /hello` answers with the token's subject and scopes.
//!
//! Try it against a provider on the embedded development setup (commands from the repository
//! root):
//!
//!     # 1. The provider, on http://127.0.0.1:8080 (another terminal).
//!     cargo run -- serve
//!
//!     # 2. This API as a resource server, and a client that may call it. `clients create`
//!     #    prints the client's id and, this once, its secret.
//!     cargo run -- resources create --identifier https://hello-api.localhost --scope read --scope write
//!     cargo run -- clients create --name hello-caller --grant client_credentials \
//!         --resource https://hello-api.localhost --scope read
//!
//!     # 3. This resource server, on http://127.0.0.1:8081.
//!     IDP_ISSUER=http://127.0.0.1:8080 RS_AUDIENCE=https://hello-api.localhost \
//!     RS_LISTEN=127.0.0.1:8081 RS_PUBLIC_URL=http://127.0.0.1:8081 RS_ACCEPT_BEARER=true \
//!         cargo run -p idp-verify --example resource_server --features actix,redis
//!
//!     # 4. A token, and a call with it.
//!     TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
//!         http://127.0.0.1:8080/token | jq -r .access_token)
//!     curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/hello
//!
//! Without a token, or with a bad one, the answer is 401 with `WWW-Authenticate: DPoP ...`.
//! A DPoP-bound token (the client sent a `DPoP` proof to `/token`) must come as
//! `Authorization: DPoP <token>` with a fresh proof for `GET http://127.0.0.1:8081/hello`.
//!
//! Environment:
//! - `IDP_ISSUER` (default `http://127.0.0.1:8080`): the provider; its JWKS is `{issuer}/jwks`
//!   unless `IDP_JWKS_URI` says otherwise.
//! - `RS_AUDIENCE` (required): this API's identifier as registered with `idp resources create`.
//! - `RS_LISTEN` (default `127.0.0.1:8081`) and `RS_PUBLIC_URL` (default `http://{RS_LISTEN}`):
//!   where to listen, and the URL clients use (DPoP proofs are checked against it).
//! - `RS_ACCEPT_BEARER` (default `false`): also take unbound tokens as `Bearer`.
//! - `IDP_REDIS_URL`, `IDP_REDIS_PREFIX` (default `idp:`): the provider's Redis, when it has one:
//!   revoked tokens are then refused at once and DPoP proof ids are shared between nodes.
//!   Without it revocation is not seen here (the embedded provider keeps it in its memory).

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use idp_verify::redis::RedisStore;
use idp_verify::{require_access_token, VerifiedAccess, Verifier, VerifierConfig};

async fn hello(access: VerifiedAccess) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "hello": access.subject(),
        "client_id": access.claims.client_id,
        "scopes": access.scopes().collect::<Vec<_>>(),
        "token_type": access.scheme.as_str(),
    }))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    // What `#[actix_web::main]` expands to, without the macros feature the crate does not need.
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> Result<(), String> {
    let issuer = env("IDP_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let audience = env("RS_AUDIENCE").ok_or("RS_AUDIENCE is required: this API's identifier")?;
    let listen = env("RS_LISTEN").unwrap_or_else(|| "127.0.0.1:8081".into());
    let public_url = env("RS_PUBLIC_URL").unwrap_or_else(|| format!("http://{listen}"));

    let mut config = VerifierConfig::new(issuer, audience, public_url.clone());
    if let Some(jwks_uri) = env("IDP_JWKS_URI") {
        config.jwks_uri = jwks_uri;
    }
    config.accept_bearer = matches!(env("RS_ACCEPT_BEARER").as_deref(), Some("true" | "1"));
    let mut verifier = Verifier::new(config).map_err(|e| e.to_string())?;
    match env("IDP_REDIS_URL") {
        Some(url) => {
            let prefix = env("IDP_REDIS_PREFIX").unwrap_or_else(|| "idp:".into());
            let redis = RedisStore::connect(&url, &prefix).await.map_err(|e| e.to_string())?;
            verifier = verifier.with_revocation(redis.clone()).with_replay_cache(redis);
        }
        None => tracing::warn!("IDP_REDIS_URL is not set: revoked tokens stay valid here until they expire"),
    }
    verifier.load_keys().await.map_err(|e| format!("the provider's JWKS: {e}"))?;
    let verifier = web::Data::new(verifier);

    tracing::info!(listen = %listen, public_url = %public_url, "resource server ready: GET /hello");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .service(web::resource("/hello").wrap(from_fn(require_access_token)).route(web::get().to(hello)))
    })
    .bind(&listen)
    .map_err(|e| format!("cannot listen on {listen}: {e}"))?
    .run()
    .await
    .map_err(|e| e.to_string())
}
