//! The resource-server verifier (`idp_verify`) against a real provider: a small actix-web
//! resource server runs in-process behind `require_access_token`, and clients present tokens
//! the provider issued (Bearer, DPoP-bound, origin-bound), revoked, forged or misused.

use crate::common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::dpop::DpopKey;
use common::oauth::{
    claims_of, error_of, header_of, spawn_with_api_and_client, TestClient, API, BROWSER_ORIGIN, OTHER_API,
};
use common::{Backend, TestApp, TestData};
use idp::clock::Clock;
use idp::crypto::SigningAlg;
use idp::store::hot::{HotStoreReplayCache, HotStoreRevocationList};
use idp_verify::redis::RedisStore;
use idp_verify::{
    require_access_token, RevocationList, StoreError, VerifiedAccess, Verifier, VerifierConfig, VerifyError,
};
use serde_json::{json, Value};

/// A resource server for `https://api.test`: `/api/*` behind the middleware, `/extract` with
/// the extractor alone.
struct Rs {
    url: String,
    verifier: web::Data<Verifier>,
    http: reqwest::Client,
    handle: ServerHandle,
}

impl Rs {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    async fn get_authorized(&self, path: &str, authorization: &str) -> reqwest::Response {
        self.get(path, &[("Authorization", authorization)]).await
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

async fn hello(access: VerifiedAccess) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sub": access.subject(),
        "scopes": access.scopes().collect::<Vec<_>>(),
        "scheme": access.scheme.as_str(),
        "jkt": access.dpop_jkt,
    }))
}

async fn admin(access: VerifiedAccess) -> Result<HttpResponse, VerifyError> {
    access.require_scope("admin")?;
    Ok(HttpResponse::Ok().finish())
}

/// The usual resource server: Bearer accepted, the provider's clock, revocation list and a
/// replay cache in its hot store.
async fn spawn_rs(app: &TestApp) -> Rs {
    spawn_rs_with(app, |_| {}, |verifier| verifier).await
}

async fn spawn_rs_with(
    app: &TestApp,
    configure: impl FnOnce(&mut VerifierConfig),
    finish: impl FnOnce(Verifier) -> Verifier,
) -> Rs {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut config = VerifierConfig::new(app.address.clone(), API, url.clone());
    config.accept_bearer = true;
    configure(&mut config);
    let verifier = Verifier::new(config)
        .expect("valid verifier config")
        .with_clock(Arc::new(app.clock.clone()))
        .with_revocation(HotStoreRevocationList::new(app.state.hot.clone()))
        .with_replay_cache(HotStoreReplayCache::new(app.state.hot.clone()));
    let verifier = web::Data::new(finish(verifier));
    let data = verifier.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(
                web::scope("/api")
                    .wrap(from_fn(require_access_token))
                    .route("/hello", web::get().to(hello))
                    .route("/hello", web::post().to(hello))
                    .route("/admin", web::get().to(admin)),
            )
            .route("/extract", web::get().to(hello))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Rs { url, verifier, http: reqwest::Client::new(), handle }
}

/// A proof for a request to the resource server, `iat` on the verifier's clock.
fn proof(app: &TestApp, key: &DpopKey, method: &str, url: &str, token: Option<&str>) -> String {
    key.proof_at(method, url, None, token, app.clock.now())
}

/// A provider with the test APIs and a service client, and the usual resource server for it.
async fn spawn_with_resource_server(backend: Backend) -> (TestData, TestApp, TestClient, Rs) {
    let (data, app, client) = spawn_with_api_and_client(backend).await;
    let rs = spawn_rs(&app).await;
    (data, app, client, rs)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn dpop(token: &str) -> String {
    format!("DPoP {token}")
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// Signs `header` and `claims` with the provider's active ES256 key, as the provider would.
fn sign_as_provider(app: &TestApp, header: Value, claims: &Value) -> String {
    let key = app.state.keyring.signing_key(SigningAlg::Es256).unwrap();
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let signature = key.signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&signature))
}

/// Signs with a key the provider never published.
fn sign_with_own_key(header: Value, claims: &Value) -> (String, josekit::jwk::Jwk) {
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let signer = josekit::jws::ES256.signer_from_der(pair.to_der_private_key()).unwrap();
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let signature = josekit::jws::JwsSigner::sign(&signer, input.as_bytes()).unwrap();
    (format!("{input}.{}", b64url(&signature)), pair.to_jwk_public_key())
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn jwt_5_a_valid_bearer_token_reaches_the_handler_with_its_claims(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;

    let response = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "sub": client.id, "scopes": ["read", "write"], "scheme": "Bearer", "jkt": null }));
    rs.stop().await;
    app.stop().await;
}

async fn jwt_5_a_token_for_another_audience_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token_with(&client, &[("resource", OTHER_API)], &[]).await;
    assert_eq!(claims_of(&token)["aud"], OTHER_API);

    let response = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;

    assert_eq!(
        challenges(&response)[0],
        "DPoP error=\"invalid_token\", error_description=\"the access token is not valid here\", \
         algs=\"ES256 ES384 PS256 RS256 EdDSA\"",
        "DPOP-26"
    );
    assert_eq!(
        challenges(&response)[1],
        "Bearer error=\"invalid_token\", error_description=\"the access token is not valid here\""
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(error_of(response).await, (401, "invalid_token".into()));
    rs.stop().await;
    app.stop().await;
}

async fn jwt_5_an_expired_token_is_refused_once_the_leeway_has_passed(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;
    let lifetime = claims_of(&token)["exp"].as_i64().unwrap() - claims_of(&token)["iat"].as_i64().unwrap();
    let authorization = bearer(&token);

    app.clock.advance(Duration::from_secs(lifetime as u64 + 4));
    assert_eq!(rs.get("/api/hello", &[("Authorization", &authorization)]).await.status(), 200, "within 5 s leeway");

    app.clock.advance(Duration::from_secs(1));
    let response = rs.get("/api/hello", &[("Authorization", &authorization)]).await;
    assert_eq!(error_of(response).await, (401, "invalid_token".into()));
    rs.stop().await;
    app.stop().await;
}

async fn revocation_is_in_force_at_once(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;
    let authorization = bearer(&token);
    assert_eq!(rs.get("/api/hello", &[("Authorization", &authorization)]).await.status(), 200);

    assert_eq!(app.revoke(&client, &token).await.status(), 200);

    let response = rs.get("/api/hello", &[("Authorization", &authorization)]).await;
    assert_eq!(error_of(response).await, (401, "invalid_token".into()), "no wait, no retry");
    rs.stop().await;
    app.stop().await;
}

#[derive(Debug)]
struct Unreachable;

#[async_trait]
impl RevocationList for Unreachable {
    async fn is_revoked(&self, _jti: &str) -> Result<bool, StoreError> {
        Err(StoreError("connection refused".into()))
    }
}

async fn a_revocation_list_that_cannot_answer_fails_closed(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let rs = spawn_rs_with(&app, |_| {}, |verifier| verifier.with_revocation(Unreachable)).await;
    let token = app.access_token(&client).await;

    let response = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;

    assert_eq!(response.headers()["retry-after"], "1");
    assert!(challenges(&response).is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(!body["error_description"].as_str().unwrap().contains("connection"), "the cause stays in the log");
    rs.stop().await;
    app.stop().await;
}

async fn dpop_25_a_dpop_bound_token_with_a_proof_for_this_request_reaches_the_handler(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;
    assert_eq!(claims_of(&token)["cnf"]["jkt"], key.thumbprint().as_str());

    let get = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&token));
    let response = rs.get("/api/hello", &[("Authorization", &dpop(&token)), ("DPoP", &get)]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scheme"], "DPoP");
    assert_eq!(body["jkt"], key.thumbprint().as_str());

    // Another method needs its own proof; the query is not part of htu (DPOP-10).
    let post = proof(&app, &key, "POST", &rs.url("/api/hello?x=1"), Some(&token));
    let response = rs
        .http
        .post(rs.url("/api/hello?x=1"))
        .header("Authorization", dpop(&token))
        .header("DPoP", post)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let missing = rs.get("/api/hello", &[("Authorization", &dpop(&token))]).await;
    assert_eq!(error_of(missing).await, (401, "invalid_dpop_proof".into()), "DPOP-25: the proof is required");
    rs.stop().await;
    app.stop().await;
}

async fn dpop_28_a_dpop_bound_token_presented_as_bearer_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;

    let without_proof = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;
    assert_eq!(error_of(without_proof).await, (401, "invalid_token".into()));

    let with_proof = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&token));
    let response = rs.get("/api/hello", &[("Authorization", &bearer(&token)), ("DPoP", &with_proof)]).await;
    assert_eq!(error_of(response).await, (401, "invalid_token".into()), "not even with a good proof");
    rs.stop().await;
    app.stop().await;
}

async fn dpop_16_a_proof_by_another_key_than_cnf_jkt_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let thief = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;

    let stolen = proof(&app, &thief, "GET", &rs.url("/api/hello"), Some(&token));
    let response = rs.get("/api/hello", &[("Authorization", &dpop(&token)), ("DPoP", &stolen)]).await;

    assert_eq!(error_of(response).await, (401, "invalid_token".into()));
    rs.stop().await;
    app.stop().await;
}

async fn dpop_16_a_proof_without_the_ath_of_this_token_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;
    let other = app.dpop_token_for(&client, &key).await;
    let url = rs.url("/api/hello");

    for (proof, why) in [
        (proof(&app, &key, "GET", &url, Some(&other)), "ath of another token of the same key"),
        (proof(&app, &key, "GET", &url, None), "no ath"),
    ] {
        let response = rs.get("/api/hello", &[("Authorization", &dpop(&token)), ("DPoP", &proof)]).await;
        assert_eq!(
            challenges(&response)[0],
            "DPoP error=\"invalid_dpop_proof\", error_description=\"the DPoP proof is not valid\", \
             algs=\"ES256 ES384 PS256 RS256 EdDSA\""
        );
        assert_eq!(error_of(response).await, (401, "invalid_dpop_proof".into()), "{why}");
    }
    rs.stop().await;
    app.stop().await;
}

async fn dpop_15_a_replayed_proof_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;
    let once = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&token));
    let headers = [("Authorization", dpop(&token)), ("DPoP", once)];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();

    assert_eq!(rs.get("/api/hello", &headers).await.status(), 200);
    let replayed = rs.get("/api/hello", &headers).await;

    assert_eq!(error_of(replayed).await, (401, "invalid_dpop_proof".into()));
    rs.stop().await;
    app.stop().await;
}

async fn dpop_12_the_expected_htu_comes_from_the_configured_url_never_the_host_header(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;

    for (htu, method, why) in [
        ("http://evil.test/api/hello".to_owned(), "GET", "htu of the Host the request claims"),
        (rs.url("/api/other"), "GET", "another path"),
        (rs.url("/api/hello"), "POST", "another method"),
    ] {
        let proof = proof(&app, &key, method, &htu, Some(&token));
        let response =
            rs.get("/api/hello", &[("Authorization", &dpop(&token)), ("DPoP", &proof), ("Host", "evil.test")]).await;
        assert_eq!(error_of(response).await, (401, "invalid_dpop_proof".into()), "{why}");
    }
    rs.stop().await;
    app.stop().await;
}

async fn an_unbound_token_presented_with_the_dpop_scheme_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.access_token(&client).await;

    let proof = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&token));
    let response = rs.get("/api/hello", &[("Authorization", &dpop(&token)), ("DPoP", &proof)]).await;

    assert_eq!(error_of(response).await, (401, "invalid_token".into()));
    rs.stop().await;
    app.stop().await;
}

async fn a_token_bound_to_an_origin_is_refused_from_another_origin(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token_with(&client, &[], &[("Origin", BROWSER_ORIGIN)]).await;
    assert_eq!(claims_of(&token)["origin"], BROWSER_ORIGIN);
    let authorization = bearer(&token);

    let from_its_origin = rs.get("/api/hello", &[("Authorization", &authorization), ("Origin", BROWSER_ORIGIN)]).await;
    assert_eq!(from_its_origin.status(), 200);
    let not_a_browser = rs.get("/api/hello", &[("Authorization", &authorization)]).await;
    assert_eq!(not_a_browser.status(), 200, "no Origin: not a cross-origin browser request");

    for origin in ["https://evil.test", "null", "http://app.test", "https://app.test:443"] {
        let response = rs.get("/api/hello", &[("Authorization", &authorization), ("Origin", origin)]).await;
        assert_eq!(error_of(response).await, (401, "invalid_token".into()), "{origin}");
    }
    rs.stop().await;
    app.stop().await;
}

async fn jwt_5_an_id_token_like_jwt_with_typ_jwt_is_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let claims = claims_of(&app.access_token(&client).await);
    let kid = app.state.keyring.signing_key(SigningAlg::Es256).unwrap().kid.clone();

    // The control: the same claims, signed the same way, as an access token pass.
    let access_token = sign_as_provider(&app, json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid }), &claims);
    assert_eq!(rs.get("/api/hello", &[("Authorization", &bearer(&access_token))]).await.status(), 200);

    for typ in [json!("JWT"), json!("jwt"), json!("dpop+jwt"), json!(null)] {
        let mut header = json!({ "alg": "ES256", "kid": kid });
        if !typ.is_null() {
            header["typ"] = typ.clone();
        }
        let token = sign_as_provider(&app, header, &claims);
        let response = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;
        assert_eq!(error_of(response).await, (401, "invalid_token".into()), "typ {typ}");
    }
    rs.stop().await;
    app.stop().await;
}

async fn jwt_5_alg_none_and_a_key_in_the_token_header_are_refused(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;
    let claims = claims_of(&token);
    let kid = header_of(&token)["kid"].clone();

    let unsigned_header = json!({ "alg": "none", "typ": "at+jwt", "kid": kid });
    let unsigned =
        format!("{}.{}.", b64url(unsigned_header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let (_, attacker_jwk) = sign_with_own_key(json!({}), &claims);
    let embedded_header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid, "jwk": attacker_jwk.as_ref() });
    let (embedded, _) = sign_with_own_key(embedded_header, &claims);
    let hs256 = {
        let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid });
        format!("{}.{}.AAAA", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
    };

    for (token, why) in [(unsigned, "alg none"), (embedded, "a key of its own"), (hs256, "HS256")] {
        let response = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;
        assert_eq!(error_of(response).await, (401, "invalid_token".into()), "{why}");
    }
    rs.stop().await;
    app.stop().await;
}

/// Serves the provider's JWKS and counts the fetches.
async fn counting_jwks(app: &TestApp) -> (String, Arc<AtomicUsize>, ServerHandle) {
    let body = app.get("/jwks").await.bytes().await.unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
    let server = HttpServer::new(move || {
        let body = body.clone();
        let counter = counter.clone();
        App::new().route(
            "/jwks",
            web::get().to(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { HttpResponse::Ok().content_type("application/json").body(body) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, count, handle)
}

async fn fapi_28_an_unknown_kid_refetches_the_jwks_once_then_fails(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let (jwks_uri, fetches, jwks) = counting_jwks(&app).await;
    let interval = Duration::from_secs(2);
    let rs = spawn_rs_with(
        &app,
        |config| {
            config.jwks_uri = jwks_uri;
            config.jwks_refetch_interval = interval;
        },
        |verifier| verifier,
    )
    .await;
    let token = app.access_token(&client).await;
    let claims = claims_of(&token);

    // Concurrent first requests share one fetch.
    let good = bearer(&token);
    let first = futures_util::future::join_all((0..8).map(|_| rs.get_authorized("/api/hello", &good))).await;
    assert!(first.iter().all(|r| r.status() == 200));
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "single flight");

    // A kid the cache does not know: one refetch (once the interval since the last fetch has
    // passed), then refused.
    let forged = |kid: &str| sign_with_own_key(json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid }), &claims).0;
    let forged_burst: Vec<String> = (0..8).map(|i| bearer(&forged(&format!("unknown-{i}")))).collect();
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let refetched_at = std::time::Instant::now();
    let response = rs.get("/api/hello", &[("Authorization", &bearer(&forged("unknown-1")))]).await;
    assert_eq!(error_of(response).await, (401, "invalid_token".into()));
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "exactly one refetch");

    // A burst of made-up kids within the refetch interval costs the provider nothing more.
    let burst = futures_util::future::join_all(forged_burst.iter().map(|a| rs.get_authorized("/api/hello", a))).await;
    // A good token still passes from the cache.
    assert_eq!(rs.get("/api/hello", &[("Authorization", &good)]).await.status(), 200);
    assert!(burst.iter().all(|r| r.status() == 401));
    // On a machine so loaded that the burst outlasted the interval, one more fetch is allowed.
    let allowed = if refetched_at.elapsed() < interval { 2 } else { 3 };
    assert!(fetches.load(Ordering::SeqCst) <= allowed, "no thundering herd: {fetches:?}");
    assert_eq!(rs.verifier.jwks_fetches(), fetches.load(Ordering::SeqCst) as u64);
    rs.stop().await;
    jwks.stop(true).await;
    app.stop().await;
}

async fn core_20_a_token_in_the_query_string_is_never_looked_at(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;

    let only_query = rs.get(&format!("/api/hello?access_token={token}"), &[]).await;
    assert_eq!(only_query.status(), 401);
    assert_eq!(challenges(&only_query), ["DPoP algs=\"ES256 ES384 PS256 RS256 EdDSA\"", "Bearer"], "as if no token");

    let bad_header =
        rs.get(&format!("/api/hello?access_token={token}"), &[("Authorization", "Bearer abc.def.ghi")]).await;
    assert_eq!(error_of(bad_header).await, (401, "invalid_token".into()), "the header's token is the one checked");
    rs.stop().await;
    app.stop().await;
}

async fn dpop_27_a_token_in_proxy_authorization_is_never_looked_at(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;
    let proof = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&token));

    let response = rs.get("/api/hello", &[("Proxy-Authorization", &dpop(&token)), ("DPoP", &proof)]).await;

    assert_eq!(response.status(), 401);
    assert_eq!(challenges(&response)[0], "DPoP algs=\"ES256 ES384 PS256 RS256 EdDSA\"");
    rs.stop().await;
    app.stop().await;
}

async fn core_22_scheme_names_are_case_insensitive(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let bearer_token = app.access_token(&client).await;
    let key = DpopKey::es256();
    let dpop_token = app.dpop_token_for(&client, &key).await;

    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let response = rs.get("/api/hello", &[("Authorization", &format!("{scheme} {bearer_token}"))]).await;
        assert_eq!(response.status(), 200, "{scheme}");
    }
    for scheme in ["dpop", "DPOP", "Dpop"] {
        let proof = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&dpop_token));
        let response =
            rs.get("/api/hello", &[("Authorization", &format!("{scheme} {dpop_token}")), ("DPoP", &proof)]).await;
        assert_eq!(response.status(), 200, "{scheme}");
    }
    rs.stop().await;
    app.stop().await;
}

async fn core_21_two_authorization_headers_are_invalid_request(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;

    let response =
        rs.get("/api/hello", &[("Authorization", &bearer(&token)), ("Authorization", &bearer(&token))]).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".into()));

    let malformed = rs.get("/api/hello", &[("Authorization", "Bearer")]).await;
    assert_eq!(error_of(malformed).await, (400, "invalid_request".into()), "a scheme without credentials");
    rs.stop().await;
    app.stop().await;
}

async fn core_21_a_missing_scope_is_403_insufficient_scope_with_a_challenge(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;

    let response = rs.get("/api/admin", &[("Authorization", &bearer(&token))]).await;

    assert_eq!(
        challenges(&response),
        ["Bearer error=\"insufficient_scope\", error_description=\"the access token does not grant the required \
          scope\", scope=\"admin\""]
    );
    assert_eq!(error_of(response).await, (403, "insufficient_scope".into()));
    rs.stop().await;
    app.stop().await;
}

async fn dpop_26_a_request_without_a_token_gets_a_dpop_challenge_with_algs(backend: Backend) {
    let (_data, app, _client, rs) = spawn_with_resource_server(backend).await;

    let response = rs.get("/api/hello", &[]).await;

    assert_eq!(response.status(), 401);
    assert_eq!(challenges(&response), ["DPoP algs=\"ES256 ES384 PS256 RS256 EdDSA\"", "Bearer"]);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("error").is_none(), "RFC 6750 §3.1: no error code without credentials");
    rs.stop().await;
    app.stop().await;
}

async fn dpop_28_bearer_is_refused_where_only_dpop_is_accepted(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let rs = spawn_rs_with(&app, |config| config.accept_bearer = false, |verifier| verifier).await;
    let token = app.access_token(&client).await;

    let response = rs.get("/api/hello", &[("Authorization", &bearer(&token))]).await;

    assert_eq!(challenges(&response).len(), 1, "only the DPoP challenge");
    assert!(challenges(&response)[0].starts_with("DPoP error=\"invalid_token\""));
    assert_eq!(error_of(response).await, (401, "invalid_token".into()));

    let key = DpopKey::es256();
    let bound = app.dpop_token_for(&client, &key).await;
    let proof = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&bound));
    let response = rs.get("/api/hello", &[("Authorization", &dpop(&bound)), ("DPoP", &proof)]).await;
    assert_eq!(response.status(), 200);
    rs.stop().await;
    app.stop().await;
}

async fn the_extractor_verifies_on_its_own_without_the_middleware(backend: Backend) {
    let (_data, app, client, rs) = spawn_with_resource_server(backend).await;
    let token = app.access_token(&client).await;

    let response = rs.get("/extract", &[("Authorization", &bearer(&token))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["sub"], client.id.as_str());

    let refused = rs.get("/extract", &[("Authorization", "Bearer abc.def.ghi")]).await;
    assert_eq!(error_of(refused).await, (401, "invalid_token".into()));
    rs.stop().await;
    app.stop().await;
}

/// A resource server on the provider's Redis with `idp_verify::redis` alone (the example's
/// set-up): it sees `/revoke` at once, and its nodes share DPoP proof ids.
async fn a_resource_server_on_the_providers_redis_sees_revocations_and_shares_proof_ids() {
    let (data, app, client) = spawn_with_api_and_client(Backend::PostgresRedis).await;
    let redis_url = data.redis_url.as_deref().expect("a Redis URL");
    let redis = RedisStore::connect(redis_url, &data.redis_prefix).await.expect("the provider's Redis");
    let on_redis = |verifier: Verifier| verifier.with_revocation(redis.clone()).with_replay_cache(redis.clone());
    let rs = spawn_rs_with(&app, |_| {}, on_redis).await;
    let public_url = rs.url.clone();
    let second_node = spawn_rs_with(&app, |config| config.public_url = public_url, on_redis).await;

    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;
    let once = proof(&app, &key, "GET", &rs.url("/api/hello"), Some(&token));
    let headers = [("Authorization", dpop(&token)), ("DPoP", once)];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(rs.get("/api/hello", &headers).await.status(), 200);
    let replayed = second_node.get("/api/hello", &headers).await;
    assert_eq!(error_of(replayed).await, (401, "invalid_dpop_proof".into()), "a proof once, across nodes");

    let bearer_token = app.access_token(&client).await;
    let authorization = bearer(&bearer_token);
    assert_eq!(rs.get("/api/hello", &[("Authorization", &authorization)]).await.status(), 200);
    assert_eq!(app.revoke(&client, &bearer_token).await.status(), 200);
    let response = rs.get("/api/hello", &[("Authorization", &authorization)]).await;
    assert_eq!(error_of(response).await, (401, "invalid_token".into()), "the provider's revocation, read from Redis");
    second_node.stop().await;
    rs.stop().await;
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        jwt_5_a_valid_bearer_token_reaches_the_handler_with_its_claims,
        jwt_5_a_token_for_another_audience_is_refused,
        jwt_5_an_expired_token_is_refused_once_the_leeway_has_passed,
        revocation_is_in_force_at_once,
        a_revocation_list_that_cannot_answer_fails_closed,
        dpop_25_a_dpop_bound_token_with_a_proof_for_this_request_reaches_the_handler,
        dpop_28_a_dpop_bound_token_presented_as_bearer_is_refused,
        dpop_16_a_proof_by_another_key_than_cnf_jkt_is_refused,
        dpop_16_a_proof_without_the_ath_of_this_token_is_refused,
        dpop_15_a_replayed_proof_is_refused,
        dpop_12_the_expected_htu_comes_from_the_configured_url_never_the_host_header,
        an_unbound_token_presented_with_the_dpop_scheme_is_refused,
        a_token_bound_to_an_origin_is_refused_from_another_origin,
        jwt_5_an_id_token_like_jwt_with_typ_jwt_is_refused,
        jwt_5_alg_none_and_a_key_in_the_token_header_are_refused,
        fapi_28_an_unknown_kid_refetches_the_jwks_once_then_fails,
        core_20_a_token_in_the_query_string_is_never_looked_at,
        dpop_27_a_token_in_proxy_authorization_is_never_looked_at,
        core_22_scheme_names_are_case_insensitive,
        core_21_two_authorization_headers_are_invalid_request,
        core_21_a_missing_scope_is_403_insufficient_scope_with_a_challenge,
        dpop_26_a_request_without_a_token_gets_a_dpop_challenge_with_algs,
        dpop_28_bearer_is_refused_where_only_dpop_is_accepted,
        the_extractor_verifies_on_its_own_without_the_middleware;
    on_postgres_redis:
        a_resource_server_on_the_providers_redis_sees_revocations_and_shares_proof_ids;
}
