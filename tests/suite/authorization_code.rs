//! The authorization code flow in a browser (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1, RFC 9207,
//! RFC 9700): sign-in and consent pages, codes, their exchange, ID tokens and userinfo, and the
//! attacks each step must refuse without changing anything.

use crate::common;

use common::browser::{
    authorize_query, hidden, location, query_param, token_body, web_app_registration, Browser, VERIFIER,
    WEB_APP_REDIRECT,
};
use common::oauth::{claims_of, error_of, header_of, API};
use common::{spawn_app, spawn_app_with_env, Backend, TestData};
use idp::services::registry::ClientRegistration;
use serde_json::Value;

/// Verifies a JWT's signature with the provider's published key named by its `kid`.
async fn verify_with_jwks(app: &common::TestApp, token: &str) -> Value {
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let kid = header_of(token)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid published");
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn josekit::jws::JwsVerifier> = match jwk.algorithm().unwrap() {
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        _ => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&jwk).unwrap()),
    };
    let (payload, _) = josekit::jwt::decode_with_verifier(token, verifier.as_ref()).expect("signature verifies");
    Value::Object(payload.claims_set().clone())
}

async fn oidc_code_flow_signs_in_consents_and_exchanges_the_code_for_tokens(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, web_app_registration()).await;
    let alice = app.create_user("alice").await;
    let mut browser = Browser::new(&app);

    let response = browser.get(&format!("/authorize?{}", authorize_query(&client, &[]))).await;
    assert_eq!(response.status(), 303, "BCP-3: 303, never 307");
    assert!(response.headers().get("access-control-allow-origin").is_none(), "BCP-17: no CORS at authorize");
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie} lacks {attribute}");
    }
    let absolute = response.headers()["location"].to_str().unwrap();
    assert!(absolute.starts_with(&app.url("/login?interaction=")), "WEB-10: from the issuer: {absolute}");
    let to_login = location(&response);
    assert!(to_login.starts_with("login?interaction="), "{to_login}");

    let page = browser.get(&format!("/{to_login}")).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "WEB-2: {csp}");
    assert!(csp.contains("script-src 'nonce-") && !csp.contains("unsafe-inline"), "WEB-7: {csp}");
    assert!(csp.contains("form-action 'self' https://app.test"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY", "BCP-22");
    assert_eq!(headers["referrer-policy"], "no-referrer", "WEB-3");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="username""#) && html.contains(r#"autocomplete="username""#));
    assert!(html.contains(r#"name="password""#) && html.contains(r#"autocomplete="current-password""#));
    assert!(html.contains("Web app"), "the client is named");

    let before_login = browser.cookie.clone();
    let response = browser.submit_login(&html, "alice", common::browser::PASSWORD).await;
    assert_eq!(response.status(), 303, "WEB-4");
    assert_ne!(browser.cookie, before_login, "the session id is replaced at sign-in");
    let to_consent = location(&response);
    assert!(to_consent.starts_with("consent?interaction="), "{to_consent}");
    let html = browser.get(&format!("/{to_consent}")).await.text().await.unwrap();
    assert!(html.contains("Web app") && html.contains(API) && html.contains("see your email address"), "FAPI-24");
    let response = browser.submit_consent(&html, "allow").await;
    assert_eq!(response.status(), 303);
    let callback = location(&response);
    assert!(callback.starts_with(&format!("{WEB_APP_REDIRECT}?")), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("af0ifjsldkj"), "CORE-7: state carried");
    assert_eq!(query_param(&callback, "iss").as_deref(), Some(app.address.as_str()), "BCP-20: RFC 9207 iss");
    let code = query_param(&callback, "code").unwrap();
    assert!(code.len() >= 43, "CORE-17: 256-bit code");

    let response = app.exchange(&client, &code, &[]).await;
    assert_eq!(response.headers()["cache-control"], "no-store", "OIDC-14");
    let body = token_body(response).await;
    assert_eq!(body["token_type"], "Bearer");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], API, "RES: the client's default resource");
    assert_eq!(access["sub"], alice.user_id.as_str());
    assert_eq!(access["scope"], "read", "only the resource's scopes");

    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(header_of(id_token)["alg"], "RS256", "OIDC-19: RS256 by default");
    let claims = verify_with_jwks(&app, id_token).await;
    assert_eq!(claims["iss"], app.address.as_str(), "OIDC-1");
    assert_eq!(claims["sub"], alice.user_id.as_str());
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "OIDC-3");
    assert_eq!(claims["auth_time"], idp::clock::Clock::now(&app.clock));
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["preferred_username"], "alice");
    let expected_at_hash = {
        let digest = ring::digest::digest(&ring::digest::SHA256, body["access_token"].as_str().unwrap().as_bytes());
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &digest.as_ref()[..16])
    };
    assert_eq!(claims["at_hash"], expected_at_hash.as_str(), "OIDC-16");
    assert!(!app.audited("login").await.is_empty(), "sign-in audited");
    assert!(!app.audited("consent").await.is_empty(), "consent audited");
    app.stop().await;
}

async fn consent_is_remembered_and_first_party_clients_skip_it(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    browser.authorize(&authorize_query(&client, &[]), "alice").await;

    // Signed in and consented: straight back with a code.
    let response = browser.get(&format!("/authorize?{}", authorize_query(&client, &[]))).await;
    assert!(location(&response).starts_with(WEB_APP_REDIRECT), "remembered consent");
    // A scope not consented to asks again; prompt=consent always asks.
    let response =
        browser.get(&format!("/authorize?{}", authorize_query(&client, &[("scope", "openid offline_access")]))).await;
    assert!(location(&response).starts_with("consent?"));
    let response = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("prompt", "consent")]))).await;
    assert!(location(&response).starts_with("consent?"));
    let silent = authorize_query(&client, &[("scope", "openid offline_access"), ("prompt", "none")]);
    let response = browser.get(&format!("/authorize?{silent}")).await;
    assert_eq!(query_param(&location(&response), "error").as_deref(), Some("consent_required"), "OIDC-6");

    let first_party = app
        .register_client(ClientRegistration {
            client_name: "Portal".into(),
            first_party: true,
            ..web_app_registration()
        })
        .await;
    let response = browser.get(&format!("/authorize?{}", authorize_query(&first_party, &[]))).await;
    assert!(location(&response).starts_with(WEB_APP_REDIRECT), "first-party: no consent page");
    app.stop().await;
}

async fn pkce_is_required_as_s256_and_a_wrong_verifier_leaves_the_code_usable(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    for (name, extra) in [
        ("PKCE-5: no challenge", vec![("code_challenge", ""), ("code_challenge_method", "")]),
        ("PKCE-3: no method means plain", vec![("code_challenge_method", "")]),
        ("PKCE-11: plain", vec![("code_challenge_method", "plain")]),
        ("PKCE-1: short challenge", vec![("code_challenge", "abc")]),
    ] {
        let response = browser.get(&format!("/authorize?{}", authorize_query(&client, &extra))).await;
        assert_eq!(response.status(), 303, "{name}");
        let to = location(&response);
        assert!(to.starts_with(WEB_APP_REDIRECT), "{name}: {to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{name}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("af0ifjsldkj"), "{name}");
        assert!(query_param(&to, "code").is_none());
    }

    let code = app.code_for(&client, "alice", &[]).await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
    for (name, extra) in [
        ("PKCE-6: wrong verifier", vec![("code_verifier", wrong)]),
        ("PKCE-7: no verifier", vec![("code_verifier", "")]),
        ("PKCE-1: short verifier", vec![("code_verifier", "short")]),
        ("CORE-9: other redirect_uri", vec![("redirect_uri", "https://app.test/other")]),
        ("CORE-9: no redirect_uri", vec![("redirect_uri", "")]),
    ] {
        let (status, error) = error_of(app.exchange(&client, &code, &extra).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{name}");
    }
    let other = app.register_client(web_app_registration()).await;
    let (status, error) = error_of(app.exchange(&other, &code, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "CORE-9: another client's code");
    token_body(app.exchange(&client, &code, &[]).await).await;
    app.stop().await;
}

async fn a_replayed_code_is_refused_and_revokes_the_tokens_of_its_first_use(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, web_app_registration()).await;
    let service = app.introspector().await;
    app.create_user("alice").await;
    let code = app.code_for(&client, "alice", &[]).await;
    let first = token_body(app.exchange(&client, &code, &[]).await).await;
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(&service, access_token).await["active"], true);

    let (status, error) = error_of(app.exchange(&client, &code, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "CORE-8");
    assert_eq!(app.introspect(&service, access_token).await["active"], false, "CORE-16: revoked");
    assert!(!app.audited("authorization.code.replayed").await.is_empty());

    // FAPI-11: a code lives 60 s.
    let code = app.code_for(&client, "alice", &[]).await;
    app.clock.advance(std::time::Duration::from_secs(61));
    let (status, error) = error_of(app.exchange(&client, &code, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    app.stop().await;
}

/// Issue 10: a used code presented by another client revoked the first client's tokens (the
/// replay revocation ran before the presenter was checked). Only the code's own client replaying
/// it is a replay (RFC 6749 §4.1.2); anyone else gets invalid_grant and changes nothing.
async fn a_used_code_presented_by_another_client_revokes_nothing(backend: Backend) {
    let data = TestData::new(backend);
    let registration = ClientRegistration {
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        ..web_app_registration()
    };
    let (app, client) = common::browser::app_with_alice(&data, registration.clone()).await;
    let other = app.register_client(registration).await;
    let service = app.introspector().await;
    let code = app.code_for(&client, "alice", &[("scope", "openid offline_access read")]).await;
    let first = token_body(app.exchange(&client, &code, &[]).await).await;
    let access_token = first["access_token"].as_str().unwrap();

    let (status, error) = error_of(app.exchange(&other, &code, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "another client's presentation");
    assert_eq!(app.introspect(&service, access_token).await["active"], true, "the first use's token lives on");
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let refreshed = token_body(app.post_form("/token", &refresh, client.basic(), &[]).await).await;
    assert!(refreshed["refresh_token"].is_string(), "the refresh family lives on");

    // The code's own client presenting it again is a replay, and revokes.
    let (status, error) = error_of(app.exchange(&client, &code, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(app.introspect(&service, access_token).await["active"], false, "CORE-16: revoked");
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", refreshed["refresh_token"].as_str().unwrap())];
    let (status, error) = error_of(app.post_form("/token", &refresh, client.basic(), &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the family is revoked by the real replay");
    app.stop().await;
}

/// Issue 10: `/login` and `/consent` without a usable `interaction` answered actix's own
/// text/plain deserializer message; they get the provider's page, its CSP and headers.
async fn login_and_consent_without_an_interaction_get_the_error_page(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let mut browser = Browser::new(&app);
    let assert_page = |response: &reqwest::Response, status: u16, what: &str| {
        assert_eq!(response.status(), status, "{what}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8", "{what}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("'nonce-"), "{what}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{what}");
        assert_eq!(headers["cache-control"], "no-store", "{what}");
    };
    for page in ["/login", "/consent"] {
        for query in ["", "?other=1", "?interaction=a&interaction=b", "?interaction"] {
            let path = format!("{page}{query}");
            let response = browser.get(&path).await;
            assert_page(&response, 400, &path);
            assert!(response.text().await.unwrap().contains("<html"), "{path}");
        }
        let response = browser.submit(page, &[("csrf_token", "x")]).await;
        assert_page(&response, 403, &format!("POST {page}"));
    }
    app.stop().await;
}

async fn an_unknown_client_or_redirect_uri_gets_an_error_page_and_no_redirect(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    let variants = [
        "https://app.test/callback/",
        "https://APP.test/callback",
        "https://app.test/Callback",
        "https://app.test/callback/extra",
        "https://app.test/callback?x=1",
        "https://app.test/callback#f",
        "https://user@app.test/callback",
        "https://app.test:8443/callback",
        "https://app.test/%63allback",
        "https://app.test.evil.example/callback",
        "http://app.test/callback",
    ];
    for variant in variants {
        let query = authorize_query(&client, &[("redirect_uri", variant)]);
        let response = browser.get(&format!("/authorize?{query}")).await;
        assert_eq!(response.status(), 400, "BCP-1 {variant}");
        assert!(response.headers().get("location").is_none(), "BCP-2: no redirect for {variant}");
        let html = response.text().await.unwrap();
        assert!(!html.contains("app.test"), "CORE-6: the URI is not echoed");
    }
    let query = authorize_query(&common::oauth::TestClient { id: "unknown-client-id".into(), secret: None }, &[]);
    let response = browser.get(&format!("/authorize?{query}")).await;
    assert_eq!(response.status(), 400, "CORE-6: unknown client");
    assert!(response.headers().get("location").is_none());
    let repeated = format!("{}&redirect_uri=https%3A%2F%2Fapp.test%2Fcallback", authorize_query(&client, &[]));
    let response = browser.get(&format!("/authorize?{repeated}")).await;
    assert_eq!(response.status(), 400, "CORE-1: a repeated redirect_uri is not trusted");
    app.stop().await;
}

async fn other_errors_go_back_to_the_client_with_state_and_iss(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    let repeated_scope = format!("{}&scope=openid", authorize_query(&client, &[]));
    let cases = [
        ("BCP-5: implicit", authorize_query(&client, &[("response_type", "token")]), "unsupported_response_type"),
        (
            "FAPI-15: hybrid",
            authorize_query(&client, &[("response_type", "code id_token")]),
            "unsupported_response_type",
        ),
        ("no response_type", authorize_query(&client, &[("response_type", "")]), "invalid_request"),
        ("scope not allowed", authorize_query(&client, &[("scope", "openid write")]), "invalid_scope"),
        ("CORE-1: repeated", repeated_scope, "invalid_request"),
        ("RES: unknown resource", authorize_query(&client, &[("resource", "https://other.test")]), "invalid_target"),
        ("OIDC-6: none with login", authorize_query(&client, &[("prompt", "none login")]), "invalid_request"),
        ("request objects", authorize_query(&client, &[("request", "eyJ.e30.")]), "request_not_supported"),
        ("bad max_age", authorize_query(&client, &[("max_age", "-1")]), "invalid_request"),
        ("OIDC-6: prompt=none, no session", authorize_query(&client, &[("prompt", "none")]), "login_required"),
    ];
    for (name, query, expected) in cases {
        let response = browser.get(&format!("/authorize?{query}")).await;
        assert_eq!(response.status(), 303, "{name}");
        let to = location(&response);
        assert!(to.starts_with(&format!("{WEB_APP_REDIRECT}?")), "{name}: {to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some(expected), "{name}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("af0ifjsldkj"), "CORE-7 {name}");
        assert_eq!(query_param(&to, "iss").as_deref(), Some(app.address.as_str()), "BCP-20 {name}");
    }
    let service = app.service_client().await;
    let query = authorize_query(&common::oauth::TestClient { id: service.id.clone(), secret: None }, &[]);
    let response = browser.get(&format!("/authorize?{query}")).await;
    assert_eq!(response.status(), 400, "a client without redirect URIs gets the page");
    app.stop().await;
}

async fn login_and_consent_forms_refuse_csrf_and_change_nothing(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    let (login_path, html) = browser.login_page(&authorize_query(&client, &[])).await;
    let (csrf, interaction) = (hidden(&html, "csrf_token"), hidden(&html, "interaction"));
    let form = |csrf: &str| {
        vec![
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("interaction".to_owned(), interaction.clone()),
            ("username".to_owned(), "alice".to_owned()),
            ("password".to_owned(), common::browser::PASSWORD.to_owned()),
        ]
    };
    let as_refs = |f: &Vec<(String, String)>| f.iter().map(|(a, b)| (a.clone(), b.clone())).collect::<Vec<_>>();
    let own_origin = browser.origin.clone();
    type Form = Vec<(String, String)>;
    let cases: [(&str, Form, Option<&str>); 5] = [
        ("no token", form("").into_iter().filter(|(k, _)| k != "csrf_token").collect(), Some(&own_origin)),
        ("wrong token", form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), Some(&own_origin)),
        ("cross-origin POST", form(&csrf), Some("https://evil.example")),
        ("Origin: null without Sec-Fetch-Site", form(&csrf), Some("null")),
        ("no Origin", form(&csrf), None),
    ];
    for (name, fields, origin) in cases {
        let fields = as_refs(&fields);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let cookie_before = browser.cookie.clone();
        let response = browser.post("/login", &pairs, origin).await;
        assert_eq!(response.status(), 403, "WEB-1 {name}");
        assert_eq!(browser.cookie, cookie_before, "{name}: no new session");
    }
    // Still signed out: the same login page is served and works with the right token.
    assert!(browser.get(&login_path).await.text().await.unwrap().contains(r#"name="password""#));
    let pairs = form(&csrf);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let response = browser.submit("/login", &pairs).await;
    let consent_path = format!("/{}", location(&response));
    assert!(consent_path.starts_with("/consent?"));

    // The consent form: a token from before sign-in no longer counts.
    let html = browser.get(&consent_path).await.text().await.unwrap();
    let new_csrf = hidden(&html, "csrf_token");
    assert_ne!(new_csrf, csrf, "the CSRF token is replaced at sign-in");
    for (name, token, origin) in
        [("old token", csrf.as_str(), own_origin.as_str()), ("cross-origin", new_csrf.as_str(), "https://evil.example")]
    {
        let response = browser
            .post(
                "/consent",
                &[("csrf_token", token), ("interaction", &interaction), ("decision", "allow")],
                Some(origin),
            )
            .await;
        assert_eq!(response.status(), 403, "{name}");
    }
    let db = app.state.db.clone();
    let consents = db.run(|conn| idp::store::models::ConsentRow::for_user(conn, "x")).await.unwrap();
    assert!(consents.is_empty());
    // Another browser cannot use this interaction (WEB-1: bound to the initiating browser).
    let mut other = Browser::new(&app);
    other.get(&format!("/authorize?{}", authorize_query(&client, &[]))).await;
    let response = other.get(&consent_path).await;
    assert_eq!(response.status(), 400);
    app.stop().await;
}

async fn script_payloads_reach_pages_only_escaped(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let payload = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let client =
        app.register_client(ClientRegistration { client_name: payload.into(), ..web_app_registration() }).await;
    app.create_user("alice").await;
    let mut browser = Browser::new(&app);
    let query =
        authorize_query(&client, &[("login_hint", payload), ("state", payload), ("response_mode", "form_post")]);
    let response = browser.get(&format!("/authorize?{query}")).await;
    let login = browser.get(&format!("/{}", location(&response))).await.text().await.unwrap();
    assert!(!login.contains("<script>alert") && !login.contains("<img src=x"), "WEB-5: {login}");
    assert!(login.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "shown, escaped: {login}");
    let response = browser.submit_login(&login, payload, "wrong password!").await;
    assert_eq!(response.status(), 401);
    let retry = response.text().await.unwrap();
    assert!(!retry.contains("<script>alert") && retry.contains("not right"), "{retry}");
    let response = browser.submit_login(&login, "alice", common::browser::PASSWORD).await;
    let consent = browser.get(&format!("/{}", location(&response))).await.text().await.unwrap();
    assert!(!consent.contains("<script>alert") && consent.contains("&#60;script&#62;"), "{consent}");
    let response = browser.submit_consent(&consent, "allow").await;
    assert_eq!(response.status(), 200, "form_post page");
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' https://app.test"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!(r#"<form method="post" action="{WEB_APP_REDIRECT}">"#)), "{html}");
    assert!(html.contains(&format!(r#"<script nonce="{nonce}">"#)), "the one script carries the nonce");
    assert_eq!(html.matches("<script").count(), 1, "WEB-5: the state payload is not a script: {html}");
    assert!(html.contains(r#"name="code""#) && html.contains(r#"name="iss""#));
    app.stop().await;
}

async fn prompt_login_and_max_age_ask_for_the_password_again(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) =
        common::browser::app_with_alice(&data, ClientRegistration { first_party: true, ..web_app_registration() })
            .await;
    let mut browser = Browser::new(&app);
    let response = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("prompt", "none")]))).await;
    assert_eq!(query_param(&location(&response), "error").as_deref(), Some("login_required"));
    assert!(response.headers().get("set-cookie").is_none(), "a failed silent request stores no session");
    browser.authorize(&authorize_query(&client, &[]), "alice").await;
    let silent = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("prompt", "none")]))).await;
    assert!(query_param(&location(&silent), "code").is_some(), "OIDC-6: prompt=none with a session");
    let again = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("prompt", "login")]))).await;
    assert!(location(&again).starts_with("login?"), "OIDC-6: prompt=login re-authenticates");
    app.clock.advance(std::time::Duration::from_secs(120));
    let fresh = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("max_age", "600")]))).await;
    assert!(query_param(&location(&fresh), "code").is_some());
    let stale = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("max_age", "60")]))).await;
    assert!(location(&stale).starts_with("login?"), "OIDC-7: max_age elapsed");
    let zero = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("max_age", "0")]))).await;
    assert!(location(&zero).starts_with("login?"), "max_age=0 asks for a fresh sign-in");
    let code = {
        let to = browser.authorize(&authorize_query(&client, &[("max_age", "60")]), "alice").await;
        query_param(&to, "code").unwrap()
    };
    let body = token_body(app.exchange(&client, &code, &[]).await).await;
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"], idp::clock::Clock::now(&app.clock), "OIDC-2: auth_time of the new sign-in");
    let silent = browser.get(&format!("/authorize?{}", authorize_query(&client, &[("prompt", "none")]))).await;
    let code = query_param(&location(&silent), "code").unwrap();
    let later = token_body(app.exchange(&client, &code, &[]).await).await;
    assert_eq!(claims_of(later["id_token"].as_str().unwrap())["sid"], claims["sid"], "signing in again keeps the sid");
    app.stop().await;
}

async fn userinfo_answers_for_tokens_issued_to_the_provider_itself(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(
        &data,
        ClientRegistration {
            resources: vec![],
            scope: "openid profile email".into(),
            first_party: true,
            id_token_signed_response_alg: Some("ES256".into()),
            allowed_origins: vec!["https://app.test".into()],
            ..web_app_registration()
        },
    )
    .await;
    let alice = app.create_user("alice").await;
    let code = app.code_for(&client, "alice", &[("scope", "openid email")]).await;
    let body = token_body(app.exchange(&client, &code, &[]).await).await;
    assert_eq!(header_of(body["id_token"].as_str().unwrap())["alg"], "ES256", "id_token_signed_response_alg");
    verify_with_jwks(&app, body["id_token"].as_str().unwrap()).await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["aud"], app.address.as_str(), "no resource: the provider is the audience");

    for method in ["GET", "POST"] {
        let request = match method {
            "GET" => app.http.get(app.url("/userinfo")),
            _ => app.http.post(app.url("/userinfo")),
        };
        let response = request
            .header("Authorization", format!("bearer {token}"))
            .header("Origin", "https://app.test")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "OIDC-17 {method}");
        assert_eq!(response.headers()["access-control-allow-origin"], "https://app.test");
        let claims: Value = response.json().await.unwrap();
        assert_eq!(claims["sub"], alice.user_id.as_str(), "OIDC-17: sub always");
        assert_eq!(claims["email"], "alice@example.test");
        assert!(claims.get("name").is_none(), "profile was not granted");
    }
    let service = app.service_client().await; // registers https://app.test only for itself
    let other_origin = app
        .register_client(ClientRegistration {
            allowed_origins: vec!["https://other.test".into()],
            ..common::oauth::service_registration()
        })
        .await;
    let _ = (service.id.len(), other_origin.id.len());
    let response = app
        .http
        .get(app.url("/userinfo"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Origin", "https://other.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("access-control-allow-origin").is_none(),
        "CORS only for the token's client's origins"
    );
    let response = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenges: Vec<_> =
        response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")) && challenges.iter().any(|c| c.starts_with("DPoP")),
        "CORE-21 {challenges:?}"
    );

    let api_token = app.access_token(&service).await;
    let response =
        app.http.get(app.url("/userinfo")).header("Authorization", format!("Bearer {api_token}")).send().await.unwrap();
    assert_eq!(response.status(), 401, "a token for another audience");
    let challenge: String =
        response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let response = app.http.get(app.url(&format!("/userinfo?access_token={token}"))).send().await.unwrap();
    assert_eq!(response.status(), 401, "CORE-20: never from the query");
    app.stop().await;
}

async fn a_code_bound_with_dpop_jkt_needs_a_proof_by_that_key(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_DPOP__REQUIRE_NONCE", "false")]).await;
    app.register_apis().await;
    let client = app.register_client(web_app_registration()).await;
    app.create_user("alice").await;
    let key = common::dpop::DpopKey::es256();
    let other = common::dpop::DpopKey::es256();
    let code = app.code_for(&client, "alice", &[("dpop_jkt", &key.thumbprint())]).await;
    let endpoint = app.token_endpoint();
    let with_proof = |k: &common::dpop::DpopKey| k.proof("POST", &endpoint, None, None);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_APP_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));
    let (status, error) = error_of(app.post_form("/token", &form, basic, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "FAPI-12: no proof");
    let proof = with_proof(&other);
    let (status, error) = error_of(app.post_form("/token", &form, basic, &[("DPoP", &proof)]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "FAPI-12: another key");
    let proof = with_proof(&key);
    let body = token_body(app.post_form("/token", &form, basic, &[("DPoP", &proof)]).await).await;
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint().as_str());
    app.stop().await;
}

async fn discovery_lists_the_code_flow(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let metadata: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(metadata["authorization_endpoint"], app.url("/authorize").as_str());
    assert_eq!(metadata["userinfo_endpoint"], app.url("/userinfo").as_str());
    assert_eq!(metadata["code_challenge_methods_supported"], serde_json::json!(["S256"]), "PKCE-9");
    assert_eq!(metadata["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    assert!(metadata["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"RS256".into()));
    let response = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/authorize"))
        .header("Origin", "https://app.test")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none(), "BCP-17");
    app.stop().await;
}

async fn repeated_failed_sign_ins_lock_the_username_until_unlocked(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    let (_, html) = browser.login_page(&authorize_query(&client, &[])).await;
    let (csrf, interaction) = (hidden(&html, "csrf_token"), hidden(&html, "interaction"));
    let attempt = |password: &'static str| {
        [
            ("csrf_token".to_owned(), csrf.clone()),
            ("interaction".to_owned(), interaction.clone()),
            ("username".to_owned(), "Alice".to_owned()),
            ("password".to_owned(), password.to_owned()),
        ]
    };
    for _ in 0..5 {
        let fields = attempt("wrong password");
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(browser.submit("/login", &pairs).await.status(), 401);
    }
    let fields = attempt(common::browser::PASSWORD);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let cookie = browser.cookie.clone();
    let response = browser.submit("/login", &pairs).await;
    assert_eq!(response.status(), 429, "docs/security.md §7: locked, even with the right password");
    assert_eq!(response.headers()["retry-after"], "900");
    assert_eq!(browser.cookie, cookie, "not signed in");
    assert!(!app.audited("login").await.is_empty());

    app.unlock_user("alice").await;
    let response = browser.submit("/login", &pairs).await;
    assert_eq!(response.status(), 303, "an operator unlocked the username");
    app.stop().await;
}

async fn consent_is_kept_per_resource_and_never_adds_up_across_resources(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(
        &data,
        ClientRegistration {
            resources: vec![API.into(), common::oauth::OTHER_API.into()],
            scope: "openid read write".into(),
            ..web_app_registration()
        },
    )
    .await;
    let mut browser = Browser::new(&app);
    // read at the other API, then write at the API: allowed one at a time.
    browser
        .authorize(
            &authorize_query(&client, &[("scope", "openid read"), ("resource", common::oauth::OTHER_API)]),
            "alice",
        )
        .await;
    browser.authorize(&authorize_query(&client, &[("scope", "openid write"), ("resource", API)]), "alice").await;
    // read at the API was never allowed: asked, though "read" and the API were each allowed.
    let query = authorize_query(&client, &[("scope", "openid read"), ("resource", API)]);
    let response = browser.get(&format!("/authorize?{query}")).await;
    assert!(location(&response).starts_with("consent?"), "OIDC-11: no cross-product of scopes and resources");
    let query = authorize_query(&client, &[("scope", "openid write"), ("resource", API)]);
    let response = browser.get(&format!("/authorize?{query}")).await;
    assert!(location(&response).starts_with(WEB_APP_REDIRECT), "what was allowed is remembered");
    app.stop().await;
}

async fn a_cross_site_post_to_authorize_becomes_a_get_that_carries_the_session(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, web_app_registration()).await;
    let mut browser = Browser::new(&app);
    let body = authorize_query(&client, &[]);
    let response = app
        .http
        .post(app.url("/authorize"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", "https://app.test")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers().get("set-cookie").is_none(), "no session over the user's own");
    let to = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&app.url("/authorize?")), "{to}");
    let response = browser.get(&to).await;
    assert!(location(&response).starts_with("login?"), "the GET runs the request");
    app.stop().await;
}

async fn optional_oidc_parameters_are_accepted_and_a_long_nonce_comes_back_whole(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) =
        common::browser::app_with_alice(&data, ClientRegistration { first_party: true, ..web_app_registration() })
            .await;
    let nonce = "n".repeat(100);
    let extra = [
        ("display", "page"),
        ("ui_locales", "fr-CA fr en"),
        ("claims_locales", "de"),
        ("acr_values", "urn:mace:incommon:iap:silver"),
        ("nonce", nonce.as_str()),
    ];
    let code = app.code_for(&client, "alice", &extra).await;
    let body = token_body(app.exchange(&client, &code, &[]).await).await;
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], nonce.as_str(), "OIDC-3, FAPI-25: never truncated");
    assert!(claims.get("at_hash").is_some(), "OIDC-15");

    // CORE-5: with several registered redirect URIs the request must name one.
    let two = app
        .register_client(ClientRegistration {
            redirect_uris: vec![WEB_APP_REDIRECT.into(), "https://app.test/other".into()],
            ..web_app_registration()
        })
        .await;
    let query = authorize_query(&two, &[("redirect_uri", ""), ("scope", "read")]);
    let response = Browser::new(&app).get(&format!("/authorize?{query}")).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none(), "CORE-6: no redirect");
    // OIDC-5: an OpenID request names its redirect URI even when one is registered.
    let query = authorize_query(&client, &[("redirect_uri", "")]);
    let response = Browser::new(&app).get(&format!("/authorize?{query}")).await;
    assert_eq!(query_param(&location(&response), "error").as_deref(), Some("invalid_request"));
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        optional_oidc_parameters_are_accepted_and_a_long_nonce_comes_back_whole,
        consent_is_kept_per_resource_and_never_adds_up_across_resources,
        a_cross_site_post_to_authorize_becomes_a_get_that_carries_the_session,
        repeated_failed_sign_ins_lock_the_username_until_unlocked,
        oidc_code_flow_signs_in_consents_and_exchanges_the_code_for_tokens,
        consent_is_remembered_and_first_party_clients_skip_it,
        pkce_is_required_as_s256_and_a_wrong_verifier_leaves_the_code_usable,
        a_replayed_code_is_refused_and_revokes_the_tokens_of_its_first_use,
        a_used_code_presented_by_another_client_revokes_nothing,
        login_and_consent_without_an_interaction_get_the_error_page,
        an_unknown_client_or_redirect_uri_gets_an_error_page_and_no_redirect,
        other_errors_go_back_to_the_client_with_state_and_iss,
        login_and_consent_forms_refuse_csrf_and_change_nothing,
        script_payloads_reach_pages_only_escaped,
        prompt_login_and_max_age_ask_for_the_password_again,
        userinfo_answers_for_tokens_issued_to_the_provider_itself,
        a_code_bound_with_dpop_jkt_needs_a_proof_by_that_key,
        discovery_lists_the_code_flow;
}
