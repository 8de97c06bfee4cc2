//! Logout: OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

use crate::common;

use common::browser::{authorize_query, hidden, location, query_param, token_body, web_app_registration, Browser};
use common::oauth::{claims_of, header_of, TestClient};
use common::{Backend, TestApp, TestData};
use idp::services::registry::ClientRegistration;

const SIGNED_OUT: &str = "https://app.test/signed-out";

fn app_with_logout() -> ClientRegistration {
    ClientRegistration {
        first_party: true,
        post_logout_redirect_uris: vec![SIGNED_OUT.into()],
        ..web_app_registration()
    }
}

/// A browser signed in to `client` and the ID token the client got.
async fn signed_in(app: &TestApp, client: &TestClient) -> (Browser, String) {
    let mut browser = Browser::new(app);
    let to = browser.authorize(&authorize_query(client, &[]), "alice").await;
    let code = query_param(&to, "code").unwrap();
    let body = token_body(app.exchange(client, &code, &[]).await).await;
    (browser, body["id_token"].as_str().unwrap().to_owned())
}

async fn is_signed_in(browser: &mut Browser, client: &TestClient) -> bool {
    let response = browser.get(&format!("/authorize?{}", authorize_query(client, &[("prompt", "none")]))).await;
    query_param(&location(&response), "code").is_some()
}

fn logout_query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn rp_initiated_logout_with_a_hint_ends_the_session_and_returns_with_state(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, app_with_logout()).await;
    let (mut browser, id_token) = signed_in(&app, &client).await;
    assert!(is_signed_in(&mut browser, &client).await);

    let query =
        logout_query(&[("id_token_hint", &id_token), ("post_logout_redirect_uri", SIGNED_OUT), ("state", "s1")]);
    let response = browser.get(&format!("/logout?{query}")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{SIGNED_OUT}?state=s1"));
    assert!(browser.cookie.is_none(), "the session cookie is removed");
    assert!(!is_signed_in(&mut browser, &client).await, "the session is gone");
    let metadata: serde_json::Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(metadata["end_session_endpoint"], app.url("/logout").as_str());
    app.stop().await;
}

async fn a_post_logout_redirect_uri_must_be_registered_exactly(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, app_with_logout()).await;
    let (mut browser, id_token) = signed_in(&app, &client).await;
    for uri in ["https://app.test/signed-out/", "https://evil.example/signed-out", "https://app.test/signed-out?x=1"] {
        let query = logout_query(&[("id_token_hint", &id_token), ("post_logout_redirect_uri", uri)]);
        let response = browser.get(&format!("/logout?{query}")).await;
        assert_eq!(response.status(), 400, "{uri}");
        assert!(response.headers().get("location").is_none(), "no open redirect: {uri}");
    }
    let response = browser.get(&format!("/logout?{}", logout_query(&[("post_logout_redirect_uri", SIGNED_OUT)]))).await;
    assert_eq!(response.status(), 400, "no client named: the URI cannot be checked");
    let response = browser.get(&format!("/logout?{}", logout_query(&[("id_token_hint", "not.a.token")]))).await;
    assert_eq!(response.status(), 400, "a hint that does not verify");
    let service = app.service_client().await;
    let access_token = app.access_token(&service).await;
    let response = browser.get(&format!("/logout?{}", logout_query(&[("id_token_hint", &access_token)]))).await;
    assert_eq!(response.status(), 400, "an access token is not an ID token hint");
    assert!(is_signed_in(&mut browser, &client).await, "nothing changed");
    app.stop().await;
}

async fn without_a_hint_the_user_confirms_on_a_csrf_protected_form(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, app_with_logout()).await;
    let (mut browser, _) = signed_in(&app, &client).await;
    let query = logout_query(&[("client_id", &client.id), ("post_logout_redirect_uri", SIGNED_OUT), ("state", "s2")]);
    let response = browser.get(&format!("/logout?{query}")).await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"));
    let page = response.text().await.unwrap();
    let csrf = hidden(&page, "csrf_token");
    let form = |token: &str| {
        vec![
            ("csrf_token".to_owned(), token.to_owned()),
            ("client_id".to_owned(), client.id.clone()),
            ("post_logout_redirect_uri".to_owned(), SIGNED_OUT.to_owned()),
            ("state".to_owned(), "s2".to_owned()),
            ("confirm".to_owned(), "yes".to_owned()),
        ]
    };
    let own = browser.origin.clone();
    for (name, token, origin) in [
        ("no token", "", own.as_str()),
        ("wrong token", "x", own.as_str()),
        ("cross-origin", csrf.as_str(), "https://evil.example"),
    ] {
        let fields = form(token);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let response = browser.post("/logout", &pairs, Some(origin)).await;
        assert_eq!(response.status(), 403, "{name}");
    }
    assert!(is_signed_in(&mut browser, &client).await, "still signed in");
    let fields = form(&csrf);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let response = browser.submit("/logout", &pairs).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{SIGNED_OUT}?state=s2"));
    assert!(!is_signed_in(&mut browser, &client).await);
    app.stop().await;
}

async fn a_back_channel_logout_token_reaches_each_client_of_the_session(backend: Backend) {
    use actix_web::{web, App, HttpServer};
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = HttpServer::new(move || {
        let sent = sent.clone();
        App::new().route(
            "/backchannel",
            web::post().to(move |form: web::Form<std::collections::HashMap<String, String>>| {
                let sent = sent.clone();
                async move {
                    let _ = sent.send(form.get("logout_token").cloned().unwrap_or_default());
                    actix_web::HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .run();
    let receiver_handle = receiver.handle();
    tokio::spawn(receiver);

    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(
        &data,
        ClientRegistration {
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/backchannel")),
            ..app_with_logout()
        },
    )
    .await;
    let (mut browser, id_token) = signed_in(&app, &client).await;
    let response = browser.get(&format!("/logout?{}", logout_query(&[("id_token_hint", &id_token)]))).await;
    assert_eq!(response.status(), 200, "the signed-out page");

    let token = tokio::time::timeout(std::time::Duration::from_secs(10), received.recv()).await.unwrap().unwrap();
    assert_eq!(header_of(&token)["typ"], "logout+jwt");
    let claims = claims_of(&token);
    let id_claims = claims_of(&id_token);
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["sid"], id_claims["sid"], "the session the client knows");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none(), "a logout token never has a nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    receiver_handle.stop(true).await;
    app.stop().await;
}

async fn an_rps_cross_site_post_becomes_a_get_that_carries_the_session(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, app_with_logout()).await;
    let (mut browser, id_token) = signed_in(&app, &client).await;
    let form = [("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", SIGNED_OUT), ("state", "s3")];
    let response = app.post_form("/logout", &form, None, &[("Origin", "https://app.test")]).await;
    assert_eq!(response.status(), 303, "no cookie came: not reported as done");
    let to = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&app.url("/logout?")), "{to}");
    assert!(is_signed_in(&mut browser, &client).await);
    let response = browser.get(&to).await;
    assert_eq!(location(&response), format!("{SIGNED_OUT}?state=s3"));
    assert!(!is_signed_in(&mut browser, &client).await);
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        an_rps_cross_site_post_becomes_a_get_that_carries_the_session,
        rp_initiated_logout_with_a_hint_ends_the_session_and_returns_with_state,
        a_post_logout_redirect_uri_must_be_registered_exactly,
        without_a_hint_the_user_confirms_on_a_csrf_protected_form,
        a_back_channel_logout_token_reaches_each_client_of_the_session;
}
