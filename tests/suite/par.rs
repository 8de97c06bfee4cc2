//! Pushed authorization requests (RFC 9126, FAPI 2.0 §5.3.2.2).

use crate::common;

use common::browser::{
    authorize_query, location, query_param, token_body, web_app_registration, Browser, WEB_APP_REDIRECT,
};
use common::oauth::{error_of, TestClient};
use common::{spawn_app_with_env, Backend, TestData};
use idp::services::registry::ClientRegistration;
use serde_json::Value;

fn pushed_form(client: &TestClient, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(authorize_query(client, extra).as_bytes()).into_owned().collect()
}

async fn push(app: &common::TestApp, client: &TestClient, form: &[(String, String)]) -> reqwest::Response {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    app.post_form("/par", &pairs, client.basic(), &[]).await
}

async fn a_pushed_request_is_used_through_its_request_uri_once(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, web_app_registration()).await;

    let response = push(&app, &client, &pushed_form(&client, &[])).await;
    assert_eq!(response.status(), 201, "RFC 9126 §2.2");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60, "FAPI-23: under 600 s");
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", client.id.as_str()), ("request_uri", request_uri.as_str())])
        .finish();
    let mut browser = Browser::new(&app);
    let callback = browser.authorize(&query, "alice").await;
    assert!(callback.starts_with(WEB_APP_REDIRECT));
    assert_eq!(query_param(&callback, "state").as_deref(), Some("af0ifjsldkj"), "the pushed parameters are used");
    let code = query_param(&callback, "code").unwrap();
    token_body(app.exchange(&client, &code, &[]).await).await;

    let again = browser.get(&format!("/authorize?{query}")).await;
    assert_eq!(again.status(), 400, "single use");
    assert!(again.headers().get("location").is_none());

    // A request_uri of another client, or expired, gets the page too.
    let response = push(&app, &client, &pushed_form(&client, &[])).await;
    let request_uri = response.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    let other = app.register_client(web_app_registration()).await;
    let foreign = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", other.id.as_str()), ("request_uri", request_uri.as_str())])
        .finish();
    assert_eq!(browser.get(&format!("/authorize?{foreign}")).await.status(), 400);
    app.clock.advance(std::time::Duration::from_secs(61));
    let late = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", client.id.as_str()), ("request_uri", request_uri.as_str())])
        .finish();
    assert_eq!(browser.get(&format!("/authorize?{late}")).await.status(), 400, "expired");
    app.stop().await;
}

async fn pushed_requests_are_authenticated_and_checked_like_authorization_requests(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, web_app_registration()).await;
    let form = pushed_form(&client, &[]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (status, error) = error_of(app.post_form("/par", &pairs, None, &[]).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"), "FAPI-16: unauthenticated PAR");
    let (status, error) = error_of(
        app.post_form("/par", &pairs, Some((&client.id, "idp_cs_wrong-secret-wrong-secret-wrong-secret00")), &[]).await,
    )
    .await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));

    let cases = [
        ("redirect_uri not registered", vec![("redirect_uri", "https://evil.example/cb")], "invalid_request"),
        ("request_uri inside", vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")], "invalid_request"),
        ("PKCE missing", vec![("code_challenge", "")], "invalid_request"),
        ("implicit", vec![("response_type", "token")], "invalid_request"),
        ("scope", vec![("scope", "openid write")], "invalid_scope"),
    ];
    for (name, extra, expected) in cases {
        let (status, error) = error_of(push(&app, &client, &pushed_form(&client, &extra)).await).await;
        assert_eq!((status, error.as_str()), (400, expected), "{name}");
    }
    let other = app.register_client(web_app_registration()).await;
    let (status, error) = error_of(push(&app, &client, &pushed_form(&other, &[])).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"), "another client's client_id");
    // Basic authentication alone names the client.
    let without_id: Vec<(String, String)> =
        pushed_form(&client, &[]).into_iter().filter(|(k, _)| k != "client_id").collect();
    assert_eq!(push(&app, &client, &without_id).await.status(), 201);
    app.stop().await;
}

async fn a_client_that_requires_par_cannot_use_a_plain_authorization_request(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(
        &data,
        ClientRegistration { require_pushed_authorization_requests: true, ..web_app_registration() },
    )
    .await;
    let mut browser = Browser::new(&app);
    let response = browser.get(&format!("/authorize?{}", authorize_query(&client, &[]))).await;
    let to = location(&response);
    assert!(to.starts_with(WEB_APP_REDIRECT), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "FAPI-16");
    assert_eq!(push(&app, &client, &pushed_form(&client, &[])).await.status(), 201);
    let metadata: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(metadata["pushed_authorization_request_endpoint"], app.url("/par").as_str());
    app.stop().await;
}

async fn a_proof_sent_with_the_pushed_request_binds_the_code(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_DPOP__REQUIRE_NONCE", "false")]).await;
    app.register_apis().await;
    let client = app.register_client(ClientRegistration { first_party: true, ..web_app_registration() }).await;
    app.create_user("alice").await;
    let key = common::dpop::DpopKey::es256();
    let form = pushed_form(&client, &[]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));
    let other = common::dpop::DpopKey::es256();
    let mismatched: Vec<(String, String)> = pushed_form(&client, &[("dpop_jkt", &other.thumbprint())]);
    let mismatched: Vec<(&str, &str)> = mismatched.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let proof = key.proof("POST", &app.url("/par"), None, None);
    let (status, error) = error_of(app.post_form("/par", &mismatched, basic, &[("DPoP", &proof)]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "dpop_jkt must be the proof's key");
    let proof = key.proof("POST", &app.url("/par"), None, None);
    let response = app.post_form("/par", &pairs, basic, &[("DPoP", &proof)]).await;
    let request_uri = response.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", client.id.as_str()), ("request_uri", request_uri.as_str())])
        .finish();
    let code = query_param(&Browser::new(&app).authorize(&query, "alice").await, "code").unwrap();
    let (status, error) = error_of(app.exchange(&client, &code, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "RFC 9449 §10.1: the code is bound");
    let token_form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_APP_REDIRECT),
        ("code_verifier", common::browser::VERIFIER),
    ];
    let proof = key.proof("POST", &app.token_endpoint(), None, None);
    let body = token_body(app.post_form("/token", &token_form, basic, &[("DPoP", &proof)]).await).await;
    assert_eq!(body["token_type"], "DPoP");
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        a_proof_sent_with_the_pushed_request_binds_the_code,
        a_pushed_request_is_used_through_its_request_uri_once,
        pushed_requests_are_authenticated_and_checked_like_authorization_requests,
        a_client_that_requires_par_cannot_use_a_plain_authorization_request;
}
