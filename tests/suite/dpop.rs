//! DPoP at the token endpoint (RFC 9449 §4.3, §5, §8): every check of a proof, the server
//! nonce, replay, binding and the exact error for each bad proof.

use crate::common;

use common::dpop::DpopKey;
use common::oauth::{claims_of, error_of, service_registration, spawn_with_api_and_client, TestClient};
use common::{spawn_app, Backend, TestApp, TestData};
use idp::services::registry::ClientRegistration;
use serde_json::{json, Value};

/// Sends `proof` and expects `invalid_dpop_proof` (DPOP-18).
async fn assert_refused(app: &TestApp, client: &TestClient, proof: &str, why: &str) {
    let response = app.token_for(client, &[], &[("DPoP", proof)]).await;
    assert_eq!(error_of(response).await, (400, "invalid_dpop_proof".into()), "{why}");
}

async fn dpop_19_a_valid_proof_binds_the_token_to_the_key(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let proof = key.proof("POST", &app.token_endpoint(), Some(&nonce), None);
    let response = app.token_for(&client, &[], &[("DPoP", &proof)]).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("dpop-nonce"), "the next nonce comes with the answer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint().as_str(), "DPOP-23");
    app.stop().await;
}

async fn dpop_13_a_missing_or_foreign_nonce_gets_use_dpop_nonce_with_a_fresh_one(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let first = app.dpop_nonce(&client, &key).await;
    assert!(first.len() >= 22, "DPOP-30: unpredictable");
    let proof = key.proof("POST", &app.token_endpoint(), Some("made-up-nonce"), None);
    let response = app.token_for(&client, &[], &[("DPoP", &proof)]).await;
    assert_eq!(response.headers().get_all("dpop-nonce").iter().count(), 1, "DPOP-30: one DPoP-Nonce header");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(error_of(response).await, (400, "use_dpop_nonce".into()));
    app.stop().await;
}

async fn dpop_1_two_dpop_headers_are_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let a = key.proof("POST", &app.token_endpoint(), Some(&nonce), None);
    let b = key.proof("POST", &app.token_endpoint(), Some(&nonce), None);
    let response = app.token_for(&client, &[], &[("DPoP", &a), ("dpop", &b)]).await;
    assert_eq!(error_of(response).await, (400, "invalid_dpop_proof".into()));
    // The header name is case-insensitive: one `DPOP` header alone is fine.
    let c = key.proof("POST", &app.token_endpoint(), Some(&nonce), None);
    assert_eq!(app.token_for(&client, &[], &[("DPOP", &c)]).await.status(), 200);
    app.stop().await;
}

async fn dpop_2_a_value_that_is_not_one_compact_jws_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    for bad in ["not-a-jwt", "a.b", "a.b.c.d", "eyJ.eyJ.sig, eyJ.eyJ.sig"] {
        assert_refused(&app, &client, bad, bad).await;
    }
    app.stop().await;
}

async fn dpop_4_a_typ_other_than_dpop_jwt_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    for typ in [json!("jwt"), json!("at+jwt"), Value::Null] {
        let mut header = key.header();
        header["typ"] = typ.clone();
        let claims = key.claims("POST", &app.token_endpoint(), Some(&nonce), None, now());
        assert_refused(&app, &client, &key.proof_with(header, claims), &format!("typ {typ}")).await;
    }
    app.stop().await;
}

async fn dpop_5_none_and_symmetric_algorithms_are_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    for alg in ["none", "HS256", "RS256"] {
        let mut header = key.header();
        header["alg"] = json!(alg);
        let claims = key.claims("POST", &app.token_endpoint(), Some(&nonce), None, now());
        assert_refused(&app, &client, &key.proof_with(header, claims), alg).await;
    }
    app.stop().await;
}

async fn dpop_7_a_signature_by_another_key_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let other = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let claims = key.claims("POST", &app.token_endpoint(), Some(&nonce), None, now());
    // Signed by `other`, but names `key`'s public JWK.
    assert_refused(&app, &client, &other.proof_with(key.header(), claims), "wrong signer").await;
    app.stop().await;
}

async fn dpop_8_a_private_or_symmetric_jwk_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let mut private = key.header();
    private["jwk"] = Value::Object(key.private_jwk());
    let claims = key.claims("POST", &app.token_endpoint(), Some(&nonce), None, now());
    assert_refused(&app, &client, &key.proof_with(private, claims.clone()), "jwk with d").await;
    let mut symmetric = key.header();
    symmetric["jwk"] = json!({ "kty": "oct", "k": "c2VjcmV0" });
    assert_refused(&app, &client, &key.proof_with(symmetric, claims), "oct jwk").await;
    app.stop().await;
}

async fn dpop_9_htm_must_be_the_request_method(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    assert_refused(&app, &client, &key.proof("GET", &app.token_endpoint(), Some(&nonce), None), "GET").await;
    app.stop().await;
}

async fn dpop_10_htu_must_be_this_endpoint_ignoring_query_and_fragment(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    for htu in [app.url("/introspect"), app.url("/token/x"), "https://elsewhere.test/token".to_owned()] {
        assert_refused(&app, &client, &key.proof("POST", &htu, Some(&nonce), None), &htu).await;
    }
    let with_query = format!("{}?a=b#frag", app.token_endpoint());
    let proof = key.proof("POST", &with_query, Some(&nonce), None);
    assert_eq!(app.token_for(&client, &[], &[("DPoP", &proof)]).await.status(), 200);
    app.stop().await;
}

async fn dpop_11_htu_is_compared_after_scheme_and_host_normalisation(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let upper = app.token_endpoint().replace("http://", "HTTP://");
    let proof = key.proof("POST", &upper, Some(&nonce), None);
    assert_eq!(app.token_for(&client, &[], &[("DPoP", &proof)]).await.status(), 200);
    app.stop().await;
}

async fn dpop_12_an_htu_that_is_not_a_string_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let mut claims = key.claims("POST", &app.token_endpoint(), Some(&nonce), None, now());
    claims["htu"] = json!([app.token_endpoint()]);
    assert_refused(&app, &client, &key.proof_with(key.header(), claims), "array htu").await;
    app.stop().await;
}

async fn dpop_14_a_proof_too_old_or_too_far_in_the_future_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    // Relative to the server's (manual) clock, which stood still since the app started.
    let server_now = idp::clock::Clock::now(&app.clock);
    for (iat, why) in [(server_now - 301, "older than 5 min"), (server_now + 61, "61 s ahead")] {
        let proof = key.proof_at("POST", &app.token_endpoint(), Some(&nonce), None, iat);
        assert_refused(&app, &client, &proof, why).await;
    }
    let slightly_ahead = key.proof_at("POST", &app.token_endpoint(), Some(&nonce), None, server_now + 5);
    assert_eq!(app.token_for(&client, &[], &[("DPoP", &slightly_ahead)]).await.status(), 200, "FAPI-13: 5 s skew");
    app.stop().await;
}

async fn dpop_15_a_replayed_proof_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let proof = key.proof("POST", &app.token_endpoint(), Some(&nonce), None);
    assert_eq!(app.token_for(&client, &[], &[("DPoP", &proof)]).await.status(), 200);
    assert_refused(&app, &client, &proof, "same jti again").await;
    app.stop().await;
}

async fn dpop_17_extra_header_parameters_and_claims_are_accepted(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let mut header = key.header();
    header["x-extra"] = json!("ok");
    let mut claims = key.claims("POST", &app.token_endpoint(), Some(&nonce), None, now());
    claims["extra"] = json!({ "nested": true });
    let response = app.token_for(&client, &[], &[("DPoP", &key.proof_with(header, claims))]).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

async fn dpop_22_a_client_registered_for_bound_tokens_gets_none_without_a_proof(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(
        &data,
        ClientRegistration { dpop_bound_access_tokens: true, ..service_registration() },
    )
    .await;
    let response = app.token_for(&client, &[], &[]).await;
    assert_eq!(error_of(response).await, (400, "invalid_dpop_proof".into()));
    let key = DpopKey::es256();
    let nonce = app.dpop_nonce(&client, &key).await;
    let proof = key.proof("POST", &app.token_endpoint(), Some(&nonce), None);
    assert_eq!(app.token_for(&client, &[], &[("DPoP", &proof)]).await.status(), 200);
    app.stop().await;
}

async fn a_resource_that_requires_dpop_gets_no_bearer_tokens(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_resource("https://bank.test", &["pay"], true).await;
    let client = app
        .register_client(ClientRegistration {
            resources: vec!["https://bank.test".into()],
            scope: "pay".into(),
            ..service_registration()
        })
        .await;
    assert_eq!(error_of(app.token_for(&client, &[], &[]).await).await, (400, "invalid_dpop_proof".into()));
    app.stop().await;
}

async fn nonces_from_one_node_are_accepted_by_another(backend: Backend) {
    let data = TestData::new(backend);
    let first = spawn_app(&data).await;
    let second = spawn_app(&data).await;
    first.register_apis().await;
    let client = first.service_client().await;
    let key = DpopKey::es256();
    let nonce = first.dpop_nonce(&client, &key).await;
    let proof = key.proof("POST", &second.token_endpoint(), Some(&nonce), None);
    let response = common::eventually(std::time::Duration::from_secs(2), || async {
        second
            .token_for(&client, &[], &[("DPoP", &key.proof("POST", &second.token_endpoint(), Some(&nonce), None))])
            .await
            .status()
            == 200
    })
    .await;
    assert!(response, "a nonce issued by one node is valid on the other");
    let _ = proof;
    first.stop().await;
    second.stop().await;
}

fn now() -> i64 {
    idp::clock::Clock::now(&idp::clock::SystemClock)
}

crate::suite_tests! {
    on_each_backend:
        dpop_19_a_valid_proof_binds_the_token_to_the_key,
        dpop_13_a_missing_or_foreign_nonce_gets_use_dpop_nonce_with_a_fresh_one,
        dpop_1_two_dpop_headers_are_refused,
        dpop_2_a_value_that_is_not_one_compact_jws_is_refused,
        dpop_4_a_typ_other_than_dpop_jwt_is_refused,
        dpop_5_none_and_symmetric_algorithms_are_refused,
        dpop_7_a_signature_by_another_key_is_refused,
        dpop_8_a_private_or_symmetric_jwk_is_refused,
        dpop_9_htm_must_be_the_request_method,
        dpop_10_htu_must_be_this_endpoint_ignoring_query_and_fragment,
        dpop_11_htu_is_compared_after_scheme_and_host_normalisation,
        dpop_12_an_htu_that_is_not_a_string_is_refused,
        dpop_14_a_proof_too_old_or_too_far_in_the_future_is_refused,
        dpop_15_a_replayed_proof_is_refused,
        dpop_17_extra_header_parameters_and_claims_are_accepted,
        dpop_22_a_client_registered_for_bound_tokens_gets_none_without_a_proof,
        a_resource_that_requires_dpop_gets_no_bearer_tokens,
        nonces_from_one_node_are_accepted_by_another;
}
