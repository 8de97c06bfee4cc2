//! The token endpoint with client_credentials: client authentication (RFC 6749 §2.3, RFC 7523),
//! resource indicators (RFC 8707), RFC 9068 access tokens, errors (RFC 6749 §5.2) and CORS.

use crate::common;

use std::time::Duration;

use common::oauth::{
    claims_of, error_of, header_of, service_registration, spawn_with_api_and_client, TestClient, API, BROWSER_ORIGIN,
    OTHER_API,
};
use common::{eventually, spawn_app, spawn_app_with, Backend, TestData};
use idp::clock::ManualClock;
use idp::services::registry::ClientRegistration;
use idp::store::models::ClientSecretRow;
use serde_json::{json, Value};

async fn tokens_issued(app: &common::TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("idp_tokens_issued_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn jwt_3_client_credentials_token_is_an_rfc9068_jwt_for_the_default_resource(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;

    let response = app.token_for(&client, &[], &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store", "CORE-11");
    assert_eq!(response.headers()["pragma"], "no-cache", "CORE-11");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read write");

    let token = body["access_token"].as_str().unwrap();
    let header = header_of(token);
    assert_eq!(header["typ"], "at+jwt", "JWT-1");
    assert_eq!(header["alg"], "ES256", "JWT-2");
    assert!(app.jwks_kids().await.contains(&header["kid"].as_str().unwrap().to_owned()), "META-14");
    let claims = claims_of(token);
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["sub"], client.id.as_str(), "JWT-6: the client is the subject");
    assert_eq!(claims["aud"], API, "RES-3: one audience, the default resource");
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "read write", "JWT-4");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
    assert!(claims["jti"].as_str().unwrap().len() >= 22, "CORE-17: 128-bit jti");
    assert!(claims.get("cnf").is_none() && claims.get("origin").is_none());
    app.stop().await;
}

async fn jwt_2_the_token_signature_verifies_with_the_published_key(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let token = app.access_token(&client).await;

    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier = josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(&token, &verifier).unwrap();
    assert_eq!(payload.claim("client_id"), Some(&Value::String(client.id.clone())));
    app.stop().await;
}

async fn res_5_a_requested_resource_becomes_the_audience_and_cuts_the_scopes(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;

    let response = app.token_for(&client, &[("resource", OTHER_API)], &[]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], OTHER_API);
    assert_eq!(claims["scope"], "read", "only what both client and resource allow");
    app.stop().await;
}

async fn res_1_a_resource_that_is_not_an_absolute_uri_without_fragment_is_invalid_target(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    for bad in ["api.test", "/relative", "https://api.test#frag", "https://api.test?x=1", "https://api.test/"] {
        let (status, error) = error_of(app.token_for(&client, &[("resource", bad)], &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_target"), "{bad}");
    }
    assert_eq!(tokens_issued(&app).await, 0, "nothing was issued");
    app.stop().await;
}

async fn res_2_a_resource_the_client_may_not_use_is_invalid_target(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    app.register_resource("https://third.test", &["read"], false).await;
    let client = app.service_client().await;
    for resource in ["https://third.test", "https://never-registered.test"] {
        let (status, error) = error_of(app.token_for(&client, &[("resource", resource)], &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_target"), "{resource}");
    }
    app.stop().await;
}

async fn res_4_one_token_names_one_audience_so_two_resources_are_invalid_target(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let response = app.token_for(&client, &[("resource", API), ("resource", OTHER_API)], &[]).await;
    assert_eq!(error_of(response).await, (400, "invalid_target".into()));
    app.stop().await;
}

async fn a_scope_outside_what_client_and_resource_allow_is_invalid_scope(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;

    let narrowed = app.token_for(&client, &[("scope", "read")], &[]).await;
    let body: Value = narrowed.json().await.unwrap();
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["scope"], "read");

    for (form, why) in [
        (vec![("scope", "admin")], "unknown scope"),
        (vec![("scope", "write"), ("resource", OTHER_API)], "the resource does not accept write"),
        (vec![("scope", "read  write")], "malformed: double space"),
    ] {
        let (status, error) = error_of(app.token_for(&client, &form, &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_scope"), "{why}");
    }
    app.stop().await;
}

async fn core_1_a_repeated_parameter_is_invalid_request_and_an_empty_one_is_omitted(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let repeated = app.token_for(&client, &[("scope", "read"), ("scope", "write")], &[]).await;
    assert_eq!(error_of(repeated).await, (400, "invalid_request".into()));
    let empty = app.token_for(&client, &[("scope", "")], &[]).await;
    assert_eq!(empty.status(), 200, "an empty scope is treated as omitted");
    app.stop().await;
}

async fn core_10_the_token_endpoint_takes_only_a_form_post_with_nothing_in_the_uri(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    assert_eq!(app.get("/token").await.status(), 405);

    let secret = client.secret.clone().unwrap();
    let in_query = app
        .http
        .post(app.url(&format!("/token?client_id={}&client_secret={secret}", client.id)))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(in_query).await, (400, "invalid_request".into()));

    let json_body = app
        .http
        .post(app.token_endpoint())
        .basic_auth(&client.id, Some(&secret))
        .json(&json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(json_body).await, (400, "invalid_request".into()));
    app.stop().await;
}

async fn core_12_a_wrong_secret_is_401_invalid_client_with_a_basic_challenge(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let wrong = TestClient { id: client.id.clone(), secret: Some("idp_cs_wrong".into()) };
    let response = app.token_for(&wrong, &[], &[]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"idp\"");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "CORE-13");

    let unknown = TestClient { id: "idp_c_unknownclient00000000".into(), secret: client.secret.clone() };
    assert_eq!(error_of(app.token_for(&unknown, &[], &[]).await).await, (401, "invalid_client".into()));
    let audited = eventually(Duration::from_secs(5), || async {
        let events = app.audit_events("client.authentication.failed", 10).await;
        events.len() >= 2 && events.iter().all(|e| e.request_id.is_some() && e.outcome == "refused")
    })
    .await;
    assert!(audited, "refused authentications are audited");
    assert_eq!(tokens_issued(&app).await, 0);
    app.stop().await;
}

async fn client_secret_post_is_accepted_only_for_a_client_registered_for_it(backend: Backend) {
    let data = TestData::new(backend);
    let (app, post_client) = common::oauth::app_with_client(
        &data,
        ClientRegistration { token_endpoint_auth_method: Some("client_secret_post".into()), ..service_registration() },
    )
    .await;
    let secret = post_client.secret.clone().unwrap();
    let form = [("grant_type", "client_credentials"), ("client_id", &post_client.id), ("client_secret", &secret)];
    assert_eq!(app.post_form("/token", &form, None, &[]).await.status(), 200);

    let basic = app.token_for(&post_client, &[], &[]).await;
    assert_eq!(error_of(basic).await, (401, "invalid_client".into()), "not its registered method");

    let basic_client = app.service_client().await;
    let basic_secret = basic_client.secret.clone().unwrap();
    let form =
        [("grant_type", "client_credentials"), ("client_id", &basic_client.id), ("client_secret", &basic_secret)];
    assert_eq!(error_of(app.post_form("/token", &form, None, &[]).await).await, (401, "invalid_client".into()));
    app.stop().await;
}

async fn two_authentication_methods_in_one_request_are_invalid_request(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let secret = client.secret.clone().unwrap();
    let response = app.token_for(&client, &[("client_id", &client.id), ("client_secret", &secret)], &[]).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".into()));
    assert_eq!(tokens_issued(&app).await, 0);
    app.stop().await;
}

async fn bcp_12_password_and_unknown_grants_are_unsupported_grant_type(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let secret = client.secret.clone().unwrap();
    for grant in ["password", "urn:example:custom", "implicit"] {
        let form = [("grant_type", grant), ("username", "u"), ("password", "p")];
        let response = app.post_form("/token", &form, Some((&client.id, &secret)), &[]).await;
        assert_eq!(error_of(response).await, (400, "unsupported_grant_type".into()), "{grant}");
    }
    let missing = app.post_form("/token", &[("scope", "read")], Some((&client.id, &secret)), &[]).await;
    assert_eq!(error_of(missing).await, (400, "invalid_request".into()));
    app.stop().await;
}

async fn a_grant_the_client_is_not_registered_for_is_unauthorized_client(backend: Backend) {
    let data = TestData::new(backend);
    let (app, web_app) = common::oauth::app_with_client(
        &data,
        ClientRegistration {
            grant_types: vec!["authorization_code".into()],
            redirect_uris: vec!["https://app.test/callback".into()],
            ..service_registration()
        },
    )
    .await;
    assert_eq!(error_of(app.token_for(&web_app, &[], &[]).await).await, (400, "unauthorized_client".into()));
    app.stop().await;
}

async fn a_disabled_or_deleted_client_is_refused_at_once(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    assert_eq!(app.token_for(&client, &[], &[]).await.status(), 200, "cached now");

    let registry = app.state.registry.clone();
    let id = client.id.clone();
    registry.set_enabled(&id, false, &idp::services::audit::Actor::cli()).await.unwrap();
    assert_eq!(error_of(app.token_for(&client, &[], &[]).await).await, (401, "invalid_client".into()));

    let registry = app.state.registry.clone();
    let id = client.id.clone();
    registry.delete_client(&id, &idp::services::audit::Actor::cli()).await.unwrap();
    assert_eq!(error_of(app.token_for(&client, &[], &[]).await).await, (401, "invalid_client".into()));
    app.stop().await;
}

async fn a_client_disabled_on_one_node_is_refused_by_another_within_a_second(backend: Backend) {
    let data = TestData::new(backend);
    let first = spawn_app(&data).await;
    let second = spawn_app(&data).await;
    first.register_apis().await;
    let client = first.service_client().await;
    assert!(
        eventually(Duration::from_secs(2), || async { second.token_for(&client, &[], &[]).await.status() == 200 })
            .await
    );

    let registry = first.state.registry.clone();
    let id = client.id.clone();
    registry.set_enabled(&id, false, &idp::services::audit::Actor::cli()).await.unwrap();
    let started = std::time::Instant::now();
    let refused =
        eventually(Duration::from_millis(1500), || async { second.token_for(&client, &[], &[]).await.status() == 401 })
            .await;
    assert!(refused, "the other node refuses the disabled client");
    eprintln!("disabled client refused by the other node after {:?}", started.elapsed());
    first.stop().await;
    second.stop().await;
}

async fn a_rotated_secret_keeps_the_old_one_valid_for_the_overlap_only(backend: Backend) {
    let data = TestData::new(backend);
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(&data, clock.clone(), &[]).await.unwrap();
    app.register_apis().await;
    let old = app.service_client().await;

    let registry = app.state.registry.clone();
    let id = old.id.clone();
    let new_secret = registry.rotate_secret(&id, 60, &idp::services::audit::Actor::cli()).await.unwrap();
    let new = TestClient { id: old.id.clone(), secret: Some(new_secret.expose().to_owned()) };
    assert_eq!(app.token_for(&old, &[], &[]).await.status(), 200, "old secret inside the overlap");
    assert_eq!(app.token_for(&new, &[], &[]).await.status(), 200);
    clock.advance(Duration::from_secs(61));
    assert_eq!(error_of(app.token_for(&old, &[], &[]).await).await, (401, "invalid_client".into()));
    assert_eq!(app.token_for(&new, &[], &[]).await.status(), 200);
    app.stop().await;
}

async fn secrets_are_generated_with_256_bits_and_stored_only_as_keyed_hashes(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let secret = client.secret.clone().unwrap();
    assert!(secret.starts_with("idp_cs_"));
    assert_eq!(secret.len(), "idp_cs_".len() + 43, "32 random bytes, base64url");

    let id = client.id.clone();
    let rows = app.state.db.run(move |c| ClientSecretRow::of_client(c, &id)).await.unwrap();
    assert_eq!(rows.len(), 1);
    let stored = &rows[0].secret_hash;
    assert!(!stored.contains(&secret[7..]));
    let plain_sha256 = idp::crypto::b64url(&idp::crypto::sha256(secret.as_bytes()));
    assert_ne!(stored, &plain_sha256, "keyed, not a bare SHA-256");
    app.stop().await;
}

async fn private_key_jwt_accepts_a_fresh_assertion_once(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let key = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut public = key.to_jwk_public_key();
    public.set_key_id("client-key-1");
    let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] });
    let client = app
        .register_client(ClientRegistration {
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks: Some(jwks),
            ..service_registration()
        })
        .await;
    assert!(client.secret.is_none(), "no secret for private_key_jwt");
    let signer = josekit::jws::ES256.signer_from_der(key.to_der_private_key()).unwrap();
    let now = idp::clock::Clock::now(&idp::clock::SystemClock);
    let assertion = |claims: Value, kid: &str| {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id(kid);
        let payload = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    };
    let good = |jti: &str, aud: Value| json!({ "iss": client.id, "sub": client.id, "aud": aud, "exp": now + 60, "iat": now, "jti": jti });
    let post = |assertion: String| {
        let app = &app;
        async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ];
            app.post_form("/token", &form, None, &[]).await
        }
    };

    let first = assertion(good("a-1", json!(app.address)), "client-key-1");
    assert_eq!(post(first.clone()).await.status(), 200, "aud = issuer");
    assert_eq!(error_of(post(first).await).await, (401, "invalid_client".into()), "jti replay");
    assert_eq!(
        post(assertion(good("a-2", json!(app.token_endpoint())), "client-key-1")).await.status(),
        200,
        "aud = token endpoint"
    );

    let mut too_long = good("a-3", json!(app.address));
    too_long["exp"] = json!(now + 2 * 3600);
    let mut expired = good("a-4", json!(app.address));
    expired["exp"] = json!(now - 300);
    let mut no_jti = good("a-5", json!(app.address));
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut other_sub = good("a-6", json!(app.address));
    other_sub["sub"] = json!("idp_c_someoneelse0000000000");
    for (claims, why) in [
        (good("a-7", json!("https://elsewhere.test")), "wrong aud"),
        (too_long, "exp too far"),
        (expired, "expired"),
        (no_jti, "no jti"),
        (other_sub, "sub is not the client"),
    ] {
        let response = post(assertion(claims, "client-key-1")).await;
        assert_eq!(error_of(response).await, (401, "invalid_client".into()), "{why}");
    }
    let stranger = josekit::jws::ES256.generate_key_pair().unwrap();
    let stranger_signer = josekit::jws::ES256.signer_from_der(stranger.to_der_private_key()).unwrap();
    let payload =
        josekit::jwt::JwtPayload::from_map(good("a-8", json!(app.address)).as_object().unwrap().clone()).unwrap();
    let forged = josekit::jwt::encode_with_signer(&payload, &josekit::jws::JwsHeader::new(), &stranger_signer).unwrap();
    assert_eq!(error_of(post(forged).await).await, (401, "invalid_client".into()), "signed by another key");
    let unsigned = josekit::jwt::encode_unsecured(&payload, &josekit::jws::JwsHeader::new()).unwrap();
    assert_eq!(error_of(post(unsigned).await).await, (401, "invalid_client".into()), "alg none");
    app.stop().await;
}

/// Issue 10: a NUL byte in `client_id` reached PostgreSQL (503, unaudited). A client id that
/// cannot be one is an unknown client at every endpoint, and audited as one.
async fn a_client_id_that_cannot_be_one_is_an_unknown_client_at_every_endpoint(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let malformed = ["idp_c_\0nul", "ctl\u{1}id", &"a".repeat(129), "67e55044-10b1-426f-9247-bb680e5fe0c8"];
    let unsigned_assertion = |sub: &str| {
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.AAAA", b64(json!({ "alg": "ES256" })), b64(json!({ "sub": sub, "iss": sub })))
    };
    let mut refusals = 0;
    for id in malformed {
        for path in ["/token", "/par", "/introspect", "/revoke"] {
            let common = [("grant_type", "client_credentials"), ("token", "idp_rt_x")];
            let secret = client.secret.as_deref().unwrap();
            let post = [("client_id", id), ("client_secret", secret)];
            let assertion = unsigned_assertion(id);
            let jwt = [
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ];
            let public = [("client_id", id)];
            for (how, extra, basic) in [
                ("basic", &[][..], Some((id, secret))),
                ("post", &post[..], None),
                ("assertion", &jwt[..], None),
                ("public", &public[..], None),
            ] {
                let form: Vec<(&str, &str)> = common.iter().chain(extra).copied().collect();
                let response = app.post_form(path, &form, basic, &[]).await;
                assert_eq!(error_of(response).await, (401, "invalid_client".into()), "{how} {path} {id:?}");
                refusals += 1;
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("client_id", id), ("response_type", "code"), ("redirect_uri", "https://app.test/callback")])
            .finish();
        let page = app.get(&format!("/authorize?{query}")).await;
        assert_eq!(page.status(), 400, "the unknown-client page for {id:?}");
        assert!(page.headers().get("location").is_none());
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    let audited = eventually(Duration::from_secs(5), || async {
        app.audit_events("client.authentication.failed", 200).await.len() >= refusals
    })
    .await;
    assert!(audited, "every refusal is audited as a failed client authentication");
    app.stop().await;
}

/// A `private_key_jwt` client of `app` (ES256 key `client-key-1`) and its signing key.
async fn private_key_jwt_client(app: &common::TestApp) -> (TestClient, josekit::jws::alg::ecdsa::EcdsaJwsSigner) {
    let key = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut public = key.to_jwk_public_key();
    public.set_key_id("client-key-1");
    let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] });
    let registration = ClientRegistration {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks),
        ..service_registration()
    };
    let client = app.register_client(registration).await;
    (client, josekit::jws::ES256.signer_from_der(key.to_der_private_key()).unwrap())
}

/// A client assertion for `client`, `jti`, valid from the server's now for `lifetime` seconds,
/// signed with `header`.
fn client_assertion(
    app: &common::TestApp,
    client: &TestClient,
    signer: &josekit::jws::alg::ecdsa::EcdsaJwsSigner,
    header: &josekit::jws::JwsHeader,
    (jti, lifetime): (&str, i64),
) -> String {
    let now = idp::clock::Clock::now(&app.clock);
    let claims = json!({
        "iss": client.id, "sub": client.id, "aud": app.token_endpoint(), "iat": now, "exp": now + lifetime, "jti": jti,
    });
    let payload = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    josekit::jwt::encode_with_signer(&payload, header, signer).unwrap()
}

async fn post_client_assertion(app: &common::TestApp, assertion: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
    ];
    app.post_form("/token", &form, None, &[]).await
}

/// Issue 10: RFC 7515 §4.1.11 — a JWS whose `crit` names an extension the recipient does not
/// understand must be refused; this provider understands none in client assertions.
async fn a_client_assertion_with_a_critical_header_extension_is_refused(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let (client, signer) = private_key_jwt_client(&app).await;
    let mut plain = josekit::jws::JwsHeader::new();
    plain.set_key_id("client-key-1");
    let accepted = post_client_assertion(&app, &client_assertion(&app, &client, &signer, &plain, ("c-1", 60))).await;
    assert_eq!(accepted.status(), 200, "the same assertion without crit");

    for (n, critical) in [vec!["exp"], vec!["urn:example:unknown"], vec![]].into_iter().enumerate() {
        let mut header = plain.clone();
        header.set_critical(&critical);
        if critical == ["urn:example:unknown"] {
            header.set_claim("urn:example:unknown", Some(json!(true))).unwrap();
        }
        let jti = format!("c-crit-{n}");
        let response =
            post_client_assertion(&app, &client_assertion(&app, &client, &signer, &header, (&jti, 60))).await;
        assert_eq!(error_of(response).await, (401, "invalid_client".into()), "crit {critical:?}");
    }
    let audited = eventually(Duration::from_secs(5), || async {
        app.audit_events("client.authentication.failed", 10).await.len() >= 3
    })
    .await;
    assert!(audited, "each refusal is audited");
    app.stop().await;
}

/// Issue 10 (interop): Authlib signs assertions valid for an hour; the cap is a setting
/// (`client_auth.assertion_max_lifetime`), a longer assertion is told why it was refused, and
/// only a client that tried HTTP Basic gets a Basic challenge (RFC 6749 §5.2).
async fn an_hour_long_client_assertion_is_accepted_and_a_longer_one_is_told_why_not(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let (client, signer) = private_key_jwt_client(&app).await;
    let mut header = josekit::jws::JwsHeader::new();
    header.set_key_id("client-key-1");

    let an_hour = client_assertion(&app, &client, &signer, &header, ("h-1", 3600));
    assert_eq!(post_client_assertion(&app, &an_hour).await.status(), 200, "Authlib's default lifetime");
    let two_hours = client_assertion(&app, &client, &signer, &header, ("h-2", 2 * 3600));
    let refused = post_client_assertion(&app, &two_hours).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("www-authenticate").is_none(), "no Basic challenge for an assertion");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_description"], "the client assertion is valid for longer than this server accepts");

    // Any other failed assertion stays generic, and still carries no Basic challenge.
    let replayed = post_client_assertion(&app, &an_hour).await;
    assert!(replayed.headers().get("www-authenticate").is_none());
    let body: Value = replayed.json().await.unwrap();
    assert_eq!(body["error_description"], "client authentication failed");
    app.stop().await;

    let strict =
        spawn_app_with(&data, ManualClock::starting_now(), &[("IDP_CLIENT_AUTH__ASSERTION_MAX_LIFETIME", "10m")])
            .await
            .unwrap();
    let within = client_assertion(&strict, &client, &signer, &header, ("s-1", 600));
    assert_eq!(post_client_assertion(&strict, &within).await.status(), 200);
    let an_hour = client_assertion(&strict, &client, &signer, &header, ("s-2", 3600));
    let body: Value = post_client_assertion(&strict, &an_hour).await.json().await.unwrap();
    assert_eq!(body["error_description"], "the client assertion is valid for longer than this server accepts");
    strict.stop().await;
}

async fn a_registered_browser_origin_gets_cors_headers_and_an_origin_bound_token(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let response = app.token_for(&client, &[], &[("Origin", BROWSER_ORIGIN)]).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["access-control-allow-origin"], BROWSER_ORIGIN);
    assert_eq!(headers["vary"], "Origin");
    assert!(headers["access-control-expose-headers"].to_str().unwrap().contains("DPoP-Nonce"));
    assert!(headers.get("access-control-allow-credentials").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["origin"], BROWSER_ORIGIN);

    let failed = app.token_for(&client, &[("scope", "admin")], &[("Origin", BROWSER_ORIGIN)]).await;
    assert_eq!(failed.headers()["access-control-allow-origin"], BROWSER_ORIGIN, "the browser may read the error");
    app.stop().await;
}

async fn an_origin_the_client_did_not_register_is_403_without_cors_headers(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    for origin in ["https://evil.test", "null", "https://app.test.evil.test", "http://app.test", "https://APP.test"] {
        let response = app.token_for(&client, &[], &[("Origin", origin)]).await;
        assert_eq!(response.status(), 403, "{origin}");
        assert!(response.headers().get("access-control-allow-origin").is_none(), "{origin}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
    assert_eq!(tokens_issued(&app).await, 0);
    assert!(!app.audited("origin.refused").await.is_empty());
    app.stop().await;
}

async fn preflight_answers_registered_origins_with_a_fixed_policy(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    app.service_client().await;
    for path in ["/token", "/introspect", "/revoke"] {
        let response = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", BROWSER_ORIGIN)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "dpop, x-injected")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], BROWSER_ORIGIN);
        assert_eq!(headers["access-control-allow-methods"], "POST");
        assert_eq!(headers["access-control-allow-headers"], "Authorization, DPoP, Content-Type");
        assert_eq!(headers["access-control-max-age"], "600");
        assert_eq!(headers["vary"], "Origin");

        let stranger = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://evil.test")
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(stranger.status(), 403);
        assert!(stranger.headers().get("access-control-allow-origin").is_none());
    }
    app.stop().await;
}

async fn lacking_origin_a_referer_from_an_unregistered_origin_is_refused(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    for referer in ["https://evil.test/page", "not a url", "http://app.test/"] {
        let response = app.token_for(&client, &[], &[("Referer", referer)]).await;
        assert_eq!(response.status(), 403, "{referer}");
        assert!(response.headers().get("access-control-allow-origin").is_none());
    }
    let registered = app.token_for(&client, &[], &[("Referer", "https://app.test/callback?x=1")]).await;
    assert_eq!(registered.status(), 200);
    assert!(registered.headers().get("access-control-allow-origin").is_none(), "not a CORS request");
    let body: Value = registered.json().await.unwrap();
    assert!(claims_of(body["access_token"].as_str().unwrap()).get("origin").is_none(), "only Origin binds");
    assert_eq!(tokens_issued(&app).await, 1);
    app.stop().await;
}

async fn an_oversized_body_is_refused_with_an_oauth_error(backend: Backend) {
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let padding = "x".repeat(20 * 1024);
    let response = app.token_for(&client, &[("padding", &padding)], &[]).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(error_of(response).await, (413, "invalid_request".into()));
    assert_eq!(tokens_issued(&app).await, 0);
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        lacking_origin_a_referer_from_an_unregistered_origin_is_refused,
        an_oversized_body_is_refused_with_an_oauth_error,
        jwt_3_client_credentials_token_is_an_rfc9068_jwt_for_the_default_resource,
        jwt_2_the_token_signature_verifies_with_the_published_key,
        res_5_a_requested_resource_becomes_the_audience_and_cuts_the_scopes,
        res_1_a_resource_that_is_not_an_absolute_uri_without_fragment_is_invalid_target,
        res_2_a_resource_the_client_may_not_use_is_invalid_target,
        res_4_one_token_names_one_audience_so_two_resources_are_invalid_target,
        a_scope_outside_what_client_and_resource_allow_is_invalid_scope,
        core_1_a_repeated_parameter_is_invalid_request_and_an_empty_one_is_omitted,
        core_10_the_token_endpoint_takes_only_a_form_post_with_nothing_in_the_uri,
        core_12_a_wrong_secret_is_401_invalid_client_with_a_basic_challenge,
        client_secret_post_is_accepted_only_for_a_client_registered_for_it,
        two_authentication_methods_in_one_request_are_invalid_request,
        bcp_12_password_and_unknown_grants_are_unsupported_grant_type,
        a_grant_the_client_is_not_registered_for_is_unauthorized_client,
        a_disabled_or_deleted_client_is_refused_at_once,
        a_client_disabled_on_one_node_is_refused_by_another_within_a_second,
        a_rotated_secret_keeps_the_old_one_valid_for_the_overlap_only,
        secrets_are_generated_with_256_bits_and_stored_only_as_keyed_hashes,
        private_key_jwt_accepts_a_fresh_assertion_once,
        a_client_assertion_with_a_critical_header_extension_is_refused,
        an_hour_long_client_assertion_is_accepted_and_a_longer_one_is_told_why_not,
        a_client_id_that_cannot_be_one_is_an_unknown_client_at_every_endpoint,
        a_registered_browser_origin_gets_cors_headers_and_an_origin_bound_token,
        an_origin_the_client_did_not_register_is_403_without_cors_headers,
        preflight_answers_registered_origins_with_a_fixed_policy;
}
