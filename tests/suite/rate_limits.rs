//! Abuse limits (docs/security.md "Rate limits", "Client addresses"): per-client limits on the
//! client-authenticated endpoints, per-address limits on the pages and on failures, 429 with
//! `Retry-After` and the `RateLimit` fields, `trusted_proxies`, and the operator's unlock.

use crate::common;

use std::time::Instant;

use common::browser::{authorize_query, hidden, web_app_registration, Browser, PASSWORD};
use common::oauth::{error_of, TestClient};
use common::{spawn_app_with_env, Backend, TestApp, TestData};
use serde_json::Value;

async fn node(data: &TestData, env: &[(&str, &str)]) -> (TestApp, TestClient) {
    let app = spawn_app_with_env(data, env).await;
    app.register_apis().await;
    let client = app.service_client().await;
    (app, client)
}

async fn a_client_over_its_token_limit_gets_429_with_retry_after_and_the_ratelimit_fields(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = node(&data, &[("IDP_RATE_LIMITS__TOKEN", "3/1m")]).await;
    for _ in 0..3 {
        assert_eq!(app.token_for(&client, &[], &[]).await.status(), 200);
    }
    let refused = app.token_for(&client, &[], &[]).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((19..=20).contains(&retry_after), "one request comes back every 20 s, got {retry_after}");
    assert_eq!(refused.headers()["ratelimit-policy"], "\"token\";q=3;w=60");
    let remaining = refused.headers()["ratelimit"].to_str().unwrap().to_owned();
    assert!(remaining.starts_with("\"token\";r=0;t="), "{remaining}");
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "a code clients already retry on");

    let other = app.service_client().await;
    assert_eq!(app.token_for(&other, &[], &[]).await.status(), 200, "each client has its own limit");
    let events = app.audited("rate.limited").await;
    assert_eq!(events[0].client_id.as_deref(), Some(client.id.as_str()));
    assert!(events[0].detail.as_deref().unwrap().contains("\"limit\":\"token\""));
    app.stop().await;
}

async fn introspection_revocation_and_par_have_their_own_per_client_limits(backend: Backend) {
    let data = TestData::new(backend);
    let env = [
        ("IDP_RATE_LIMITS__INTROSPECTION", "1/1m"),
        ("IDP_RATE_LIMITS__REVOCATION", "1/1m"),
        ("IDP_RATE_LIMITS__PAR", "1/1m"),
    ];
    let (app, client) = node(&data, &env).await;
    let token = app.access_token(&client).await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    let form = [("token", token.as_str())];
    let refused = app.post_form("/introspect", &form, client.basic(), &[]).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["ratelimit-policy"], "\"introspection\";q=1;w=60");
    assert_eq!(app.revoke(&client, &token).await.status(), 200, "revocation counts apart");
    assert_eq!(app.revoke(&client, &token).await.status(), 429);
    let web = app.register_client(web_app_registration()).await;
    let par = |app: &TestApp| {
        let query = authorize_query(&web, &[]);
        let form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let web = web.clone();
        let app_url = app.url("/par");
        let http = app.http.clone();
        async move {
            let (id, secret) = web.basic().unwrap();
            http.post(app_url).basic_auth(id, Some(secret)).form(&form).send().await.unwrap().status()
        }
    };
    assert_eq!(par(&app).await, 201);
    assert_eq!(par(&app).await, 429);
    app.stop().await;
}

/// A fast limit is checked against leases of several units; two nodes sharing Redis together
/// still admit about the quota: at most a lease more per node, plus what refilled meanwhile.
async fn two_nodes_share_one_fast_limit_through_redis() {
    let data = TestData::new(Backend::PostgresRedis);
    let env = [("IDP_RATE_LIMITS__TOKEN", "500/10s")];
    let (first, client) = node(&data, &env).await;
    let second = spawn_app_with_env(&data, &env).await;
    let started = Instant::now();
    let mut admitted = 0u32;
    let mut refused = 0u32;
    for round in 0..35 {
        let requests = (0..20).map(|n| {
            let app = if (round + n) % 2 == 0 { &first } else { &second };
            app.token_for(&client, &[], &[])
        });
        for response in futures_util::future::join_all(requests).await {
            match response.status().as_u16() {
                200 => admitted += 1,
                429 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 50.0).ceil() as u32;
    let lease = 500 / 50;
    assert!(refused > 0, "700 requests against 500 were all admitted");
    assert!(admitted <= 500 + 2 * lease + refilled, "admitted {admitted}, refilled {refilled}");
    assert!(admitted + 2 * lease >= 500, "admitted only {admitted} of a quota of 500");
    first.stop().await;
    second.stop().await;
}

async fn failed_client_authentications_make_an_address_wait_until_an_operator_unlocks_it(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = node(&data, &[("IDP_RATE_LIMITS__CLIENT_AUTH_FAILURES_PER_ADDRESS", "3/1m")]).await;
    let form = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        assert_eq!(app.post_form("/token", &form, Some((&client.id, "idp_cs_wrong")), &[]).await.status(), 401);
    }
    let over = app.post_form("/token", &form, Some((&client.id, "idp_cs_wrong")), &[]).await;
    assert_eq!(over.status(), 429, "the failure over the allowance is told to wait");
    let right = app.token_for(&client, &[], &[]).await;
    assert_eq!(right.status(), 429, "the address waits before anything it sends is checked");
    assert!(right.headers().contains_key("retry-after"));

    app.state.sign_in_limits.unlock_address("127.0.0.1").await.unwrap();
    assert_eq!(app.token_for(&client, &[], &[]).await.status(), 200, "an operator's unlock");
    app.stop().await;
}

async fn guessing_one_clients_secret_is_answered_429_while_its_real_secret_works(backend: Backend) {
    let data = TestData::new(backend);
    let env = [
        ("IDP_RATE_LIMITS__CLIENT_AUTH_FAILURES_PER_CLIENT", "2/1m"),
        ("IDP_RATE_LIMITS__CLIENT_AUTH_FAILURES_PER_ADDRESS", "off"),
    ];
    let (app, client) = node(&data, &env).await;
    let form = [("grant_type", "client_credentials")];
    for expected in [401, 401, 429, 429] {
        let response = app.post_form("/token", &form, Some((&client.id, "idp_cs_wrong")), &[]).await;
        assert_eq!(response.status(), expected);
    }
    assert_eq!(app.token_for(&client, &[], &[]).await.status(), 200, "the client itself is not locked out");
    app.stop().await;
}

async fn anonymous_authorize_requests_from_one_address_are_limited_before_anything_is_stored(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_RATE_LIMITS__PAGES", "5/1m")]).await;
    app.register_apis().await;
    let client = app.register_client(web_app_registration()).await;
    let query = authorize_query(&client, &[]);
    for _ in 0..5 {
        // A script that never keeps the cookie: each request starts a session of its own.
        let response = Browser::new(&app).get(&format!("/authorize?{query}")).await;
        assert_eq!(response.status(), 303);
        assert!(response.headers().contains_key("set-cookie"), "a session was stored");
    }
    let response = Browser::new(&app).get(&format!("/authorize?{query}")).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("set-cookie").is_none(), "no session stored for a refused request");
    assert_eq!(response.headers()["ratelimit-policy"], "\"pages\";q=5;w=60");
    assert!(response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(response.text().await.unwrap().contains("Try again in"));
    app.stop().await;
}

/// Signs in at a fresh `/authorize` as `username` from behind a proxy that forwarded `address`.
async fn sign_in_from(
    app: &TestApp,
    client: &TestClient,
    address: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let mut browser = Browser::new(app);
    browser.extra_headers.push(("X-Forwarded-For", address.to_owned()));
    let (_, html) = browser.login_page(&authorize_query(client, &[])).await;
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")),
        ("interaction", hidden(&html, "interaction")),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(name, value)| (*name, value.as_str())).collect();
    browser.submit("/login", &pairs).await
}

/// Issue 10's first finding: 50 failed sign-ins from one address locked that address for 15
/// minutes, and behind a proxy that address is every user's.
async fn failed_sign_ins_slow_their_address_down_and_never_lock_out_the_users_behind_a_trusted_proxy(backend: Backend) {
    let data = TestData::new(backend);
    let env = [("IDP_TRUSTED_PROXIES", "127.0.0.0/8"), ("IDP_RATE_LIMITS__SIGN_IN_FAILURES_PER_ADDRESS", "3/15m")];
    let app = spawn_app_with_env(&data, &env).await;
    app.register_apis().await;
    let client = app.register_client(web_app_registration()).await;
    app.create_user("alice").await;
    let attacker = "203.0.113.66";
    for n in 0..3 {
        let response = sign_in_from(&app, &client, attacker, &format!("made-up-{n}"), "guess").await;
        assert_eq!(response.status(), 401);
    }
    let slowed = sign_in_from(&app, &client, attacker, "made-up-3", "guess").await;
    assert_eq!(slowed.status(), 429);
    let retry_after: u64 = slowed.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after <= 300, "slowed to one attempt per 5 minutes, not locked for 15: {retry_after}");
    assert!(slowed.text().await.unwrap().contains("from your network"));

    // Alice sits behind the same proxy at another address: she signs in.
    let alice = sign_in_from(&app, &client, "198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(alice.status(), 303, "a user behind the same proxy is not locked out");
    let failures = app.audited("login").await;
    assert!(
        failures.iter().any(|event| event.ip.as_deref() == Some(attacker)),
        "the audit trail names the forwarded address"
    );
    app.stop().await;
}

async fn without_trusted_proxies_a_forwarded_address_is_ignored(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_RATE_LIMITS__SIGN_IN_FAILURES_PER_ADDRESS", "2/15m")]).await;
    app.register_apis().await;
    let client = app.register_client(web_app_registration()).await;
    for (n, forged) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let response = sign_in_from(&app, &client, forged, &format!("user-{n}"), "guess").await;
        assert_eq!(response.status(), 401);
    }
    let response = sign_in_from(&app, &client, "203.0.113.3", "user-3", "guess").await;
    assert_eq!(response.status(), 429, "a client cannot pick its own address without a trusted proxy");
    app.stop().await;
}

async fn invented_client_ids_and_wrong_secrets_give_the_standard_error_until_the_limit(backend: Backend) {
    let data = TestData::new(backend);
    let (app, _client) = node(&data, &[("IDP_RATE_LIMITS__CLIENT_AUTH_FAILURES_PER_ADDRESS", "2/1m")]).await;
    let form = [("grant_type", "client_credentials")];
    let response = app.post_form("/token", &form, Some(("no-such-client", "x")), &[]).await;
    assert_eq!(error_of(response).await, (401, "invalid_client".to_owned()));
    let response = app.post_form("/token", &form, Some(("another-one", "x")), &[]).await;
    assert_eq!(error_of(response).await, (401, "invalid_client".to_owned()));
    let response = app.post_form("/token", &form, Some(("a-third", "x")), &[]).await;
    assert_eq!(error_of(response).await, (429, "temporarily_unavailable".to_owned()));
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        a_client_over_its_token_limit_gets_429_with_retry_after_and_the_ratelimit_fields,
        introspection_revocation_and_par_have_their_own_per_client_limits,
        failed_client_authentications_make_an_address_wait_until_an_operator_unlocks_it,
        guessing_one_clients_secret_is_answered_429_while_its_real_secret_works,
        anonymous_authorize_requests_from_one_address_are_limited_before_anything_is_stored,
        failed_sign_ins_slow_their_address_down_and_never_lock_out_the_users_behind_a_trusted_proxy,
        without_trusted_proxies_a_forwarded_address_is_ignored,
        invented_client_ids_and_wrong_secrets_give_the_standard_error_until_the_limit;
    on_postgres_redis:
        two_nodes_share_one_fast_limit_through_redis;
}
