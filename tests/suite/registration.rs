//! Dynamic client registration (RFC 7591) and its management (RFC 7592): off by default; with
//! an initial access token an operator minted, a client registers itself within the policy,
//! and manages its registration with the registration access token it was given.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{spawn_app, spawn_app_with_env, Backend, TestApp, TestData};

crate::suite_tests! {
    on_each_backend:
        registration_is_off_by_default,
        a_client_registers_with_an_initial_token_and_manages_its_registration,
        registration_outside_the_policy_or_without_a_live_token_is_refused;
}

const ON: &[(&str, &str)] = &[("IDP_REGISTRATION__ENABLED", "true")];

fn native_app() -> Value {
    json!({
        "client_name": "Field app",
        "redirect_uris": ["http://127.0.0.1:8765/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile offline_access",
        "logo_uri": "https://ignored.example/logo.png"
    })
}

async fn initial_token(app: &TestApp, uses: i64) -> String {
    let admin = app.admin_caller("admin:clients").await;
    let minted = app
        .admin(&admin, Method::POST, "/initial-access-tokens", Some(json!({ "uses": uses, "expires_in": "1h" })), &[])
        .await;
    assert_eq!(minted.status(), 201);
    minted.json::<Value>().await.unwrap()["initial_access_token"].as_str().unwrap().to_owned()
}

async fn register(app: &TestApp, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.http.post(app.url("/register")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn registration_is_off_by_default(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    assert_eq!(register(&app, Some("idp_iat_x"), native_app()).await.status(), 404);
    let metadata: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert!(metadata.get("registration_endpoint").is_none());
    let admin = app.admin_caller("admin:clients").await;
    let refused = app.admin(&admin, Method::POST, "/initial-access-tokens", Some(json!({})), &[]).await;
    assert_eq!(refused.status(), 409);
    app.stop().await;
}

async fn a_client_registers_with_an_initial_token_and_manages_its_registration(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, ON).await;
    let metadata: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(metadata["registration_endpoint"], app.url("/register"));
    let token = initial_token(&app, 1).await;

    let created = register(&app, Some(&token), native_app()).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let client: Value = created.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert_eq!(client["client_type"], "public");
    assert_eq!(client["dpop_bound_access_tokens"], true, "a public client is DPoP-bound");
    assert!(client.get("client_secret").is_none());
    assert!(client.get("logo_uri").is_none(), "unknown metadata is ignored (RFC 7591 §2)");
    let access = client["registration_access_token"].as_str().unwrap().to_owned();
    assert_eq!(client["registration_client_uri"], app.url(&format!("/register/{id}")));
    assert!(app.state.registry.load_client(&id).await.unwrap().enabled);

    let again = register(&app, Some(&token), native_app()).await;
    assert_eq!(again.status(), 401, "a one-use initial token is used up");
    assert!(again.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    let uri = app.url(&format!("/register/{id}"));
    let read = app.http.get(&uri).bearer_auth(&access).send().await.unwrap();
    assert_eq!(read.status(), 200);
    assert!(read.json::<Value>().await.unwrap().get("registration_access_token").is_none());
    assert_eq!(app.http.get(&uri).bearer_auth(&token).send().await.unwrap().status(), 401, "not the initial token");

    let mut changed = native_app();
    changed["client_id"] = json!(id);
    changed["redirect_uris"] = json!(["http://127.0.0.1:9999/callback"]);
    let updated = app.http.put(&uri).bearer_auth(&access).json(&changed).send().await.unwrap();
    assert_eq!(updated.status(), 200);
    assert_eq!(updated.json::<Value>().await.unwrap()["redirect_uris"], json!(["http://127.0.0.1:9999/callback"]));

    assert_eq!(app.http.delete(&uri).bearer_auth(&access).send().await.unwrap().status(), 204);
    assert!(app.state.registry.load_client(&id).await.is_err(), "deregistered");
    assert_eq!(app.http.get(&uri).bearer_auth(&access).send().await.unwrap().status(), 401);
    app.stop().await;
}

async fn registration_outside_the_policy_or_without_a_live_token_is_refused(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, ON).await;
    let token = initial_token(&app, 10).await;
    let error = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body["error"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(error(register(&app, None, native_app()).await).await, (401, "invalid_token".into()));
    assert_eq!(error(register(&app, Some("idp_iat_made_up"), native_app()).await).await, (401, "invalid_token".into()));

    let mut machine = native_app();
    machine["grant_types"] = json!(["client_credentials"]);
    machine["token_endpoint_auth_method"] = json!("client_secret_basic");
    assert_eq!(error(register(&app, Some(&token), machine).await).await, (400, "invalid_client_metadata".into()));

    let mut wide = native_app();
    wide["scope"] = json!("openid admin:write");
    assert_eq!(error(register(&app, Some(&token), wide).await).await, (400, "invalid_client_metadata".into()));

    let mut plain_http = native_app();
    plain_http["redirect_uris"] = json!(["http://app.example/callback"]);
    assert_eq!(error(register(&app, Some(&token), plain_http).await).await, (400, "invalid_redirect_uri".into()));

    let mut custom = native_app();
    custom["redirect_uris"] = json!(["com.example.app:/callback"]);
    assert_eq!(
        error(register(&app, Some(&token), custom).await).await,
        (400, "invalid_redirect_uri".into()),
        "scheme not in the policy"
    );

    let mut statement = native_app();
    statement["software_statement"] = json!("eyJ.x.y");
    assert_eq!(error(register(&app, Some(&token), statement).await).await, (400, "invalid_software_statement".into()));

    app.clock.advance(std::time::Duration::from_secs(3601));
    assert_eq!(error(register(&app, Some(&token), native_app()).await).await, (401, "invalid_token".into()), "expired");
    app.stop().await;
}
