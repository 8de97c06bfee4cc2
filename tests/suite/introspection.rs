//! Introspection (RFC 7662) and revocation (RFC 7009).

use crate::common;

use std::time::Duration;

use common::dpop::DpopKey;
use common::oauth::{error_of, service_registration, spawn_with_api_and_client, TestClient, API, OTHER_API};
use common::proxy::TcpProxy;
use common::{redis_url, spawn_app, spawn_app_with_env, Backend, TestApp, TestData};
use idp::services::audit::Actor;
use idp::services::registry::ClientRegistration;
use serde_json::Value;

/// A resource server's own credentials: a client that acts for the API (its
/// `introspection_clients`, RFC 7662 §2.1).
async fn api_server_client(app: &TestApp) -> TestClient {
    let client = app
        .register_client(ClientRegistration {
            client_name: "api.test resource server".into(),
            resources: vec![API.into()],
            scope: String::new(),
            allowed_origins: vec![],
            ..service_registration()
        })
        .await;
    let api = app.state.registry.resource(API).expect("the API is registered");
    let mut registration = api.registration();
    registration.introspection_clients.push(client.id.clone());
    app.state.registry.update_resource(API, registration, None, &Actor::cli()).await.unwrap();
    client
}

async fn int_3_an_active_token_is_described_with_its_claims(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    let resource_server = api_server_client(&app).await;

    let response = app.post_form("/introspect", &[("token", &token)], resource_server.basic(), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store", "INT-6");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(body["aud"], API);
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], app.address.as_str());
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());
    assert!(body.get("cnf").is_none());
    app.stop().await;
}

async fn int_7_a_dpop_bound_token_is_introspected_with_cnf_and_token_type_dpop(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let token = app.dpop_token_for(&client, &key).await;

    let introspection = app.introspect(&client, &token).await;

    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["token_type"], "DPoP", "DPOP-24");
    assert_eq!(introspection["cnf"]["jkt"], key.thumbprint().as_str());
    app.stop().await;
}

async fn int_3_expired_malformed_and_foreign_tokens_are_only_inactive(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    let (_other_data, other, other_client) = spawn_with_api_and_client(backend).await;
    let foreign = other.access_token(&other_client).await;

    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    for (candidate, why) in [
        (foreign.as_str(), "another provider's token"),
        ("not-a-token", "malformed"),
        (tampered.as_str(), "bad signature"),
    ] {
        let body = app.introspect(&client, candidate).await;
        assert_eq!(body, serde_json::json!({ "active": false }), "{why}: INT-3 says nothing else");
    }

    // Introspected once (its signature is now remembered), it still expires on time.
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    app.clock.advance(Duration::from_secs(601));
    assert_eq!(app.introspect(&client, &token).await, serde_json::json!({ "active": false }), "expired");
    app.stop().await;
    other.stop().await;
}

async fn int_5_a_caller_sees_only_tokens_meant_for_it(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token_for_other_api = app.access_token_with(&client, &[("resource", OTHER_API)], &[]).await;
    let api_server = api_server_client(&app).await;

    assert_eq!(app.introspect(&api_server, &token_for_other_api).await, serde_json::json!({ "active": false }));
    let own = app.introspect(&client, &token_for_other_api).await;
    assert_eq!(own["active"], true, "the client a token was issued to may introspect it");
    app.stop().await;
}

/// Issue 10: a web app allowed to *call* the API introspected a service's token for the API and
/// saw its `sub`, `scope`, `client_id` and `jti`. Only the token's client and the clients acting
/// for the API may.
async fn a_client_allowed_the_same_resource_does_not_see_another_clients_token(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    let neighbour = app.service_client().await;
    assert_eq!(
        app.introspect(&neighbour, &token).await,
        serde_json::json!({ "active": false }),
        "allowed to call the API, but not acting for it"
    );
    let api_server = api_server_client(&app).await;
    assert_eq!(app.introspect(&api_server, &token).await["sub"], client.id.as_str(), "the API's own credentials");
    // Taken off the list, the API's client sees nothing more at once.
    let mut registration = app.state.registry.resource(API).unwrap().registration();
    registration.introspection_clients.clear();
    app.state.registry.update_resource(API, registration, None, &Actor::cli()).await.unwrap();
    assert_eq!(app.introspect(&api_server, &token).await, serde_json::json!({ "active": false }));
    app.stop().await;
}

async fn int_2_introspection_requires_client_authentication(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    let anonymous = app.post_form("/introspect", &[("token", &token)], None, &[]).await;
    assert_eq!(error_of(anonymous).await, (401, "invalid_client".into()), "INT-4");
    let wrong = app.post_form("/introspect", &[("token", &token)], Some((&client.id, "idp_cs_wrong")), &[]).await;
    let headers = wrong.headers().clone();
    assert_eq!(error_of(wrong).await, (401, "invalid_client".into()));
    assert!(headers.contains_key("www-authenticate"));
    let missing = app.post_form("/introspect", &[], client.basic(), &[]).await;
    assert_eq!(error_of(missing).await, (400, "invalid_request".into()), "INT-1: token is required");
    assert_eq!(app.get("/introspect").await.status(), 405, "INT-6");
    let public = app
        .register_client(ClientRegistration {
            client_type: Some("public".into()),
            grant_types: vec!["authorization_code".into()],
            redirect_uris: vec!["https://app.test/callback".into()],
            ..service_registration()
        })
        .await;
    let as_public = app.post_form("/introspect", &[("token", &token), ("client_id", &public.id)], None, &[]).await;
    assert_eq!(error_of(as_public).await, (401, "invalid_client".into()), "a public client cannot introspect");
    app.stop().await;
}

async fn rev_4_a_revoked_token_is_inactive_at_once(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    let response = app.revoke(&client, &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(app.introspect(&client, &token).await, serde_json::json!({ "active": false }));
    assert!(!app.audited("token.revoke").await.is_empty(), "revocations are audited");
    app.stop().await;
}

async fn rev_5_unknown_and_malformed_tokens_get_200(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    for token in ["unknown", "a.b.c", "idp_rt_notarefreshtoken"] {
        assert_eq!(app.revoke(&client, token).await.status(), 200, "{token}");
    }
    let hinted = app
        .post_form("/revoke", &[("token", "unknown"), ("token_type_hint", "refresh_token")], client.basic(), &[])
        .await;
    assert_eq!(hinted.status(), 200, "REV-2: the hint may be ignored");
    app.stop().await;
}

async fn rev_3_a_client_cannot_revoke_another_clients_token(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    let stranger = app.service_client().await;
    let response = app.revoke(&stranger, &token).await;
    assert_eq!(error_of(response).await, (400, "unauthorized_client".into()));
    assert_eq!(app.introspect(&client, &token).await["active"], true, "nothing changed");
    app.stop().await;
}

async fn rev_1_revocation_requires_client_authentication_and_a_token(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;
    let anonymous = app.post_form("/revoke", &[("token", &token)], None, &[]).await;
    assert_eq!(error_of(anonymous).await, (401, "invalid_client".into()));
    let missing = app.post_form("/revoke", &[], client.basic(), &[]).await;
    assert_eq!(error_of(missing).await, (400, "invalid_request".into()));
    assert_eq!(app.introspect(&client, &token).await["active"], true, "nothing changed");
    assert_eq!(app.get("/revoke").await.status(), 405);
    app.stop().await;
}

/// Two nodes sharing PostgreSQL and Redis: a revocation through one is in force on the other.
async fn rev_4_a_revocation_on_one_node_is_in_force_on_every_node_at_once() {
    let data = TestData::new(Backend::PostgresRedis);
    let first = spawn_app(&data).await;
    // Nodes of one deployment share the issuer.
    let second = spawn_app_with_env(&data, &[("IDP_ISSUER", &first.address)]).await;
    first.register_apis().await;
    let client = first.service_client().await;
    let token = first.access_token(&client).await;
    assert_eq!(second.introspect(&client, &token).await["active"], true);
    assert_eq!(first.revoke(&client, &token).await.status(), 200);
    assert_eq!(second.introspect(&client, &token).await["active"], false, "no delay: the revoked set is shared");
    first.stop().await;
    second.stop().await;
}

/// REV-6: when the revoked set cannot be written, the answer is 503, never a false 200.
async fn rev_6_a_storage_failure_is_503_with_retry_after_never_a_false_200() {
    let redis = url::Url::parse(&redis_url().unwrap()).unwrap();
    let target = std::net::ToSocketAddrs::to_socket_addrs(&(redis.host_str().unwrap(), redis.port().unwrap_or(6379)))
        .unwrap()
        .next()
        .unwrap();
    let proxy = TcpProxy::start(target).await;
    let mut data = TestData::new(Backend::PostgresRedis);
    data.redis_url = Some(format!("redis://127.0.0.1:{}", proxy.port));
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let client = app.service_client().await;
    let token = app.access_token(&client).await;

    proxy.cut();
    let response = app.revoke(&client, &token).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    proxy.restore().await;
    let recovered =
        common::eventually(Duration::from_secs(15), || async { app.revoke(&client, &token).await.status() == 200 })
            .await;
    assert!(recovered);
    assert_eq!(app.introspect(&client, &token).await["active"], false);
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        int_3_an_active_token_is_described_with_its_claims,
        int_7_a_dpop_bound_token_is_introspected_with_cnf_and_token_type_dpop,
        int_3_expired_malformed_and_foreign_tokens_are_only_inactive,
        int_5_a_caller_sees_only_tokens_meant_for_it,
        a_client_allowed_the_same_resource_does_not_see_another_clients_token,
        int_2_introspection_requires_client_authentication,
        rev_4_a_revoked_token_is_inactive_at_once,
        rev_5_unknown_and_malformed_tokens_get_200,
        rev_3_a_client_cannot_revoke_another_clients_token,
        rev_1_revocation_requires_client_authentication_and_a_token;
    on_postgres_redis:
        rev_4_a_revocation_on_one_node_is_in_force_on_every_node_at_once,
        rev_6_a_storage_failure_is_503_with_retry_after_never_a_false_200;
}
