//! The foundation: discovery, JWKS, keys that survive restarts and rotate across nodes,
//! readiness, metrics and the headers on every response.

use crate::common;

use std::time::Duration;

use common::{eventually, spawn_app, spawn_app_with, spawn_app_with_env, Backend, TestData};
use idp::clock::ManualClock;
use idp::crypto::SigningAlg;
use idp::services::keys::KeyState;
use idp::store::models::SigningKeyRow;
use serde_json::Value;

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

async fn discovery_names_the_issuer_and_jwks_uri(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;

    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert!(response.headers().get("access-control-allow-credentials").is_none());
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], app.address.as_str(), "META-7: issuer identical to the URL it came from");
        assert_eq!(metadata["jwks_uri"], app.url("/jwks"));
    }
    app.stop().await;
}

async fn every_advertised_endpoint_exists(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let metadata: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    for (name, value) in metadata.as_object().unwrap() {
        if name.ends_with("_endpoint") || name.ends_with("_uri") {
            let url = value.as_str().unwrap();
            assert!(url.starts_with(&app.address), "{name} is under the issuer");
            let status = app.http.get(url).send().await.unwrap().status();
            assert_ne!(status, 404, "{name} = {url} is advertised but not served");
        }
        if let Some(list) = value.as_array() {
            assert!(!list.is_empty(), "META-6: empty array {name} must be omitted");
        }
    }
    app.stop().await;
}

async fn jwks_publishes_es256_and_rs256_public_keys_only(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let response = app.get("/jwks").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers().contains_key("etag"));
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    for alg in ["ES256", "RS256", "EdDSA"] {
        assert!(keys.iter().any(|k| k["alg"] == alg), "a {alg} key is published");
    }
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    for key in keys {
        for member in PRIVATE_MEMBERS {
            assert!(key.get(member).is_none(), "META-11: {member} must not be published: {key}");
        }
        assert_eq!(key["use"], "sig");
    }
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), keys.len(), "META-13: distinct kids");
    app.stop().await;
}

async fn jwks_answers_304_to_a_matching_if_none_match(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let first = app.get("/jwks").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let again = app.http.get(app.url("/jwks")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(again.headers()["cache-control"], "public, max-age=300");
    assert!(again.bytes().await.unwrap().is_empty());

    let weak =
        app.http.get(app.url("/jwks")).header("If-None-Match", format!("\"other\", W/{etag}")).send().await.unwrap();
    assert_eq!(weak.status(), 304);
    let stale = app.http.get(app.url("/jwks")).header("If-None-Match", "\"stale\"").send().await.unwrap();
    assert_eq!(stale.status(), 200);
    app.stop().await;
}

async fn cors_preflight_for_public_documents_reflects_nothing(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    for path in ["/jwks", "/.well-known/openid-configuration"] {
        let response = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "X-Evil")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert_eq!(headers["access-control-allow-methods"], "GET");
        assert_eq!(headers["access-control-max-age"], "600");
        assert!(!headers["access-control-allow-headers"].to_str().unwrap().contains("X-Evil"));
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
    app.stop().await;
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    for path in ["/jwks", "/.well-known/openid-configuration", "/healthz", "/readyz", "/metrics", "/no-such-page"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("cache-control"), "{path}");
        assert!(headers.get("strict-transport-security").is_none(), "no HSTS for an http issuer ({path})");
    }
    for path in ["/healthz", "/readyz", "/metrics", "/no-such-page"] {
        assert_eq!(app.get(path).await.headers()["cache-control"], "no-store", "{path}");
    }
    let missing = app.get("/no-such-page").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    let wrong_method = app.http.post(app.url("/jwks")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    app.stop().await;
}

async fn an_https_issuer_adds_strict_transport_security(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_ISSUER", "https://idp.test")]).await;
    let response = app.get("/jwks").await;
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
    app.stop().await;
}

async fn request_ids_are_echoed_when_plain_and_made_otherwise(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let given = app.http.get(app.url("/healthz")).header("X-Request-Id", "trace-42").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-42");
    let hostile =
        app.http.get(app.url("/healthz")).header("X-Request-Id", "<script>alert(1)</script>").send().await.unwrap();
    let made = hostile.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(made.len(), 32);
    assert!(made.chars().all(|c| c.is_ascii_hexdigit()));
    let none = app.get("/healthz").await;
    assert_ne!(none.headers()["x-request-id"].to_str().unwrap(), made);
    app.stop().await;
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.get("/jwks").await;
    app.get("/jwks").await;
    app.get("/no-such-page").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"idp_http_requests_total{method="GET",route="/jwks",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"idp_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(text
        .contains(r#"idp_http_request_duration_seconds_bucket{method="GET",route="/jwks",status="200",le="0.005"}"#));
    app.stop().await;
}

async fn with_metrics_listen_metrics_are_served_there_only(backend: Backend) {
    let data = TestData::new(backend);
    let app = crate::common::spawn_app_with_env(&data, &[("IDP_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let metrics = format!("http://127.0.0.1:{}", app.metrics_port.expect("a metrics listener"));
    assert_eq!(app.get("/jwks").await.status(), 200);
    assert_eq!(app.get("/metrics").await.status(), 404, "not on the public listener");
    assert_eq!(app.get("/healthz").await.status(), 200, "the rest stays");

    let response = app.http.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"idp_http_requests_total{method="GET",route="/jwks",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404"} 1"#), "the refused public /metrics: {text}");
    for other in ["/jwks", "/healthz", "/admin/v1/openapi.json"] {
        let status = app.http.get(format!("{metrics}{other}")).send().await.unwrap().status();
        assert_eq!(status, 404, "{other}: metrics only");
    }
    let post = app.http.post(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    app.stop().await;
}

/// Issue 10: the `method` label took the raw method, so invented methods added series without
/// bound, and a second extension method on a path was counted under the first one's label.
async fn metrics_label_unknown_methods_as_other_and_unknown_paths_as_unmatched(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let invented = |name: &str| reqwest::Method::from_bytes(name.as_bytes()).unwrap();
    for method in ["FOO", "BAR", "PROPFIND"] {
        app.http.request(invented(method), app.url("/jwks")).send().await.unwrap();
    }
    for n in 0..3 {
        let (method, path) = (invented(&format!("SCAN{n}")), app.url(&format!("/scan-{n}")));
        assert_eq!(app.http.request(method, path).send().await.unwrap().status(), 404);
    }
    app.http.request(reqwest::Method::PATCH, app.url("/jwks")).send().await.unwrap();

    let text = app.get("/metrics").await.text().await.unwrap();
    for series in [
        r#"idp_http_requests_total{method="other",route="/jwks",status="405"} 3"#,
        r#"idp_http_requests_total{method="other",route="unmatched",status="404"} 3"#,
        r#"idp_http_requests_total{method="PATCH",route="/jwks",status="405"} 1"#,
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }
    for invented in ["FOO", "BAR", "PROPFIND", "SCAN", "scan-"] {
        assert!(!text.contains(invented), "{invented} is no label value: {text}");
    }
    app.stop().await;
}

/// Issue 10: HEAD on a GET resource was 405. RFC 9110 §9.3.2: HEAD is GET without the content.
async fn head_answers_like_get_without_a_body(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let documents = [
        "/jwks",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/healthz",
        "/readyz",
        "/metrics",
        "/assets/idp.css",
        "/userinfo",
    ];
    for path in documents {
        let get = app.get(path).await;
        let head = app.http.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        for name in ["content-type", "cache-control", "www-authenticate", "etag", "access-control-allow-origin"] {
            assert_eq!(head.headers().get(name), get.headers().get(name), "{name} of {path}");
        }
        assert!(head.bytes().await.unwrap().is_empty(), "no body for HEAD {path}");
    }
    let jwks = app.get("/jwks").await;
    let etag = jwks.headers()["etag"].clone();
    let length = jwks.bytes().await.unwrap().len().to_string();
    let head = app.http.head(app.url("/jwks")).send().await.unwrap();
    assert_eq!(head.headers()["content-length"], length.as_str(), "the length GET would send");
    let cached = app.http.head(app.url("/jwks")).header("If-None-Match", etag).send().await.unwrap();
    assert_eq!(cached.status(), 304);
    app.stop().await;
}

async fn healthz_and_readyz_answer_when_everything_is_up(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "up");
    assert_eq!(body["checks"]["hot_store"], "up");
    app.stop().await;
}

async fn a_restart_keeps_the_same_keys(backend: Backend) {
    let data = TestData::new(backend);
    let first = spawn_app(&data).await;
    let mut before = first.jwks_kids().await;
    first.stop().await;

    let second = spawn_app(&data).await;
    let mut after = second.jwks_kids().await;
    before.sort();
    after.sort();
    assert_eq!(before, after);
    second.stop().await;
}

async fn a_deleted_kek_stops_start_and_creates_nothing(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let kids_before = app.jwks_kids().await;
    let db = app.state.db.clone();
    app.stop().await;
    std::fs::remove_file(data.keys_dir().join("kek")).unwrap();

    let error = spawn_app_with(&data, ManualClock::starting_now(), &[]).await.err().expect("start must fail");
    let message = error.to_string();
    assert!(message.contains("keys_dir") && message.contains("IDP_KEYS_DIR"), "{message}");
    assert!(message.contains("missing"), "{message}");
    assert!(!message.contains('\n'));
    assert!(!data.keys_dir().join("kek").exists(), "no new KEK was written");
    let rows = db.run(SigningKeyRow::all).await.unwrap();
    let mut kids_after: Vec<String> = rows.into_iter().map(|r| r.kid).collect();
    let mut kids_before = kids_before;
    kids_before.sort();
    kids_after.sort();
    assert_eq!(kids_before, kids_after, "no new signing keys");
}

async fn a_different_kek_stops_start(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.stop().await;
    std::fs::remove_file(data.keys_dir().join("kek")).unwrap();
    idp::crypto::Kek::generate_into(&data.keys_dir()).unwrap();
    let error = spawn_app_with(&data, ManualClock::starting_now(), &[]).await.err().expect("start must fail");
    assert!(error.to_string().contains("is not the one that sealed"), "{error}");
}

async fn keys_rotate_from_the_cli_reaches_the_running_server_and_signs_only_after_the_window(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let before = app.jwks_kids().await;
    assert_eq!(before.len(), 3);
    let active_before = app.state.keyring.signing_key(SigningAlg::Es256).unwrap().kid.clone();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["keys", "rotate", "--json"])
        .envs(data.env())
        .env("IDP_LOG", "warn")
        .current_dir(data.dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let outcomes: Value = serde_json::from_slice(&output.stdout).unwrap();
    let created: Vec<&str> = outcomes
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["outcome"] == "created")
        .map(|o| o["kid"].as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 3, "{outcomes}");

    let started = std::time::Instant::now();
    let seen = eventually(Duration::from_secs(5), || async {
        let kids = app.jwks_kids().await;
        created.iter().all(|kid| kids.iter().any(|k| k == kid))
    })
    .await;
    assert!(seen, "the next keys appear in /jwks within 5 s");
    eprintln!("next keys visible after {:?}", started.elapsed());

    // Published, but not signing until the publish window (1 h by default) has passed.
    let es256_next =
        app.state.keyring.list().into_iter().find(|k| k.alg == "ES256" && k.state == KeyState::Next).unwrap();
    assert_eq!(es256_next.signs_from - es256_next.created_at, 3600, "published one window before it signs");
    assert_eq!(app.state.keyring.signing_key(SigningAlg::Es256).unwrap().kid, active_before);
    // The CLI stamped the key with the system clock; move the server's clock up to that moment.
    let until_signing = es256_next.signs_from - idp::clock::Clock::now(&app.clock);
    app.clock.advance(Duration::from_secs((until_signing - 1) as u64));
    assert_eq!(app.state.keyring.signing_key(SigningAlg::Es256).unwrap().kid, active_before);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.state.keyring.signing_key(SigningAlg::Es256).unwrap().kid, es256_next.kid);

    // The old key stays published while tokens it signed may live, then leaves.
    let kids = app.jwks_kids().await;
    assert!(kids.contains(&active_before), "retired key still published");
    app.clock.advance(Duration::from_secs(3600 + 300 + 60));
    let gone = eventually(Duration::from_secs(5), || async { !app.jwks_kids().await.contains(&active_before) }).await;
    assert!(gone, "an expired key leaves the JWKS");

    let audit = app.audit_events("keys.create", 20).await;
    assert!(audit.iter().any(|e| e.detail.as_deref().unwrap_or("").contains("\"trigger\":\"operator\"")));
    app.stop().await;
}

async fn a_second_rotation_while_a_key_is_pending_changes_nothing(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let keyring = app.state.keyring.clone();
    let first = tokio::task::spawn_blocking({
        let keyring = keyring.clone();
        move || keyring.rotate_blocking(&[SigningAlg::Es256])
    })
    .await
    .unwrap()
    .unwrap();
    let second =
        tokio::task::spawn_blocking(move || keyring.rotate_blocking(&[SigningAlg::Es256])).await.unwrap().unwrap();
    assert!(matches!(first[0], idp::services::keys::RotationOutcome::Created { .. }));
    assert!(matches!(second[0], idp::services::keys::RotationOutcome::AlreadyPending { .. }));
    assert_eq!(app.state.db.run(SigningKeyRow::all).await.unwrap().len(), 4);
    app.stop().await;
}

async fn keys_rotate_on_schedule_ahead_of_their_publish_window(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with(
        &data,
        ManualClock::starting_now(),
        &[("IDP_KEYS__ROTATE_EVERY", "1d"), ("IDP_KEYS__PUBLISH_WINDOW", "1h")],
    )
    .await
    .unwrap();
    let active = app.state.keyring.signing_key(SigningAlg::Rs256).unwrap().kid.clone();
    app.clock.advance(Duration::from_secs(86_400 - 3_600 - 10));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.jwks_kids().await.len(), 3, "not yet due");

    app.clock.advance(Duration::from_secs(10));
    let rotated = eventually(Duration::from_secs(5), || async { app.jwks_kids().await.len() == 6 }).await;
    assert!(rotated, "a successor is published one window before the rotation");
    assert_eq!(app.state.keyring.signing_key(SigningAlg::Rs256).unwrap().kid, active);
    app.clock.advance(Duration::from_secs(3_600));
    assert_ne!(app.state.keyring.signing_key(SigningAlg::Rs256).unwrap().kid, active);
    app.stop().await;
}

async fn two_nodes_share_keys_and_see_each_others_rotation(backend: Backend) {
    let data = TestData::new(backend);
    let first = spawn_app(&data).await;
    let second = spawn_app(&data).await;
    let mut a = first.jwks_kids().await;
    let mut b = second.jwks_kids().await;
    a.sort();
    b.sort();
    assert_eq!(a, b);

    let keyring = first.state.keyring.clone();
    let outcomes =
        tokio::task::spawn_blocking(move || keyring.rotate_blocking(&[SigningAlg::EdDsa])).await.unwrap().unwrap();
    let idp::services::keys::RotationOutcome::Created { kid, .. } = &outcomes[0] else { panic!("{outcomes:?}") };
    let seen = eventually(Duration::from_secs(5), || async { second.jwks_kids().await.contains(kid) }).await;
    assert!(seen);
    first.stop().await;
    second.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        discovery_names_the_issuer_and_jwks_uri,
        every_advertised_endpoint_exists,
        jwks_publishes_es256_and_rs256_public_keys_only,
        jwks_answers_304_to_a_matching_if_none_match,
        cors_preflight_for_public_documents_reflects_nothing,
        every_response_carries_the_security_headers,
        an_https_issuer_adds_strict_transport_security,
        request_ids_are_echoed_when_plain_and_made_otherwise,
        metrics_count_requests_by_route_and_status,
        with_metrics_listen_metrics_are_served_there_only,
        metrics_label_unknown_methods_as_other_and_unknown_paths_as_unmatched,
        head_answers_like_get_without_a_body,
        healthz_and_readyz_answer_when_everything_is_up,
        a_restart_keeps_the_same_keys,
        a_deleted_kek_stops_start_and_creates_nothing,
        a_different_kek_stops_start,
        keys_rotate_from_the_cli_reaches_the_running_server_and_signs_only_after_the_window,
        a_second_rotation_while_a_key_is_pending_changes_nothing,
        keys_rotate_on_schedule_ahead_of_their_publish_window,
        two_nodes_share_keys_and_see_each_others_rotation;
}
