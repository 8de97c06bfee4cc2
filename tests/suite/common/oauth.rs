//! Fixtures and typed requests for the OAuth endpoints.

use base64::Engine;
use idp::services::audit::Actor;
use idp::services::registry::{ClientRegistration, ResourceRegistration};
use serde_json::Value;

use super::dpop::DpopKey;
use super::{spawn_app, Backend, TestApp, TestData};

pub const API: &str = "https://api.test";
pub const OTHER_API: &str = "https://other-api.test";
pub const BROWSER_ORIGIN: &str = "https://app.test";

/// A registered client as a test holds it.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestClient {
    /// Its `client_secret_basic` credentials, as [`TestApp::post_form`] takes them.
    pub fn basic(&self) -> Option<(&str, &str)> {
        assert!(self.secret.is_some(), "client_secret_basic needs a confidential client");
        self.secret.as_deref().map(|secret| (self.id.as_str(), secret))
    }
}

/// A node with the test APIs ([`TestApp::register_apis`]) and a confidential client_credentials
/// client for both ([`TestApp::service_client`]). Keep the `TestData` as long as the app runs.
pub async fn spawn_with_api_and_client(backend: Backend) -> (TestData, TestApp, TestClient) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let client = app.service_client().await;
    (data, app, client)
}

/// A node with the test APIs and the client `registration`.
pub async fn app_with_client(data: &TestData, registration: ClientRegistration) -> (TestApp, TestClient) {
    let app = spawn_app(data).await;
    app.register_apis().await;
    let client = app.register_client(registration).await;
    (app, client)
}

impl TestApp {
    pub async fn register_resource(&self, identifier: &str, scopes: &[&str], require_dpop: bool) {
        let registry = self.state.registry.clone();
        let registration = ResourceRegistration {
            identifier: identifier.to_owned(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            require_dpop,
            ..Default::default()
        };
        registry.create_resource(registration, &Actor::cli()).await.unwrap();
    }

    pub async fn register_client(&self, registration: ClientRegistration) -> TestClient {
        let registry = self.state.registry.clone();
        let (client, secret) = registry.create_client(registration, &Actor::cli()).await.unwrap();
        TestClient { id: client.id.as_str().to_owned(), secret: secret.map(|s| s.expose().to_owned()) }
    }

    /// `https://api.test` (read, write) and `https://other-api.test` (read).
    pub async fn register_apis(&self) {
        self.register_resource(API, &["read", "write"], false).await;
        self.register_resource(OTHER_API, &["read"], false).await;
    }

    /// A confidential client_credentials client for both APIs, default `https://api.test`,
    /// allowed to call from `https://app.test`.
    pub async fn service_client(&self) -> TestClient {
        self.register_client(service_registration()).await
    }

    /// A confidential client that acts for both test APIs (their `introspection_clients`), as a
    /// resource server's own credentials do: introspection shows it every token for them.
    pub async fn introspector(&self) -> TestClient {
        let client = self
            .register_client(ClientRegistration {
                client_name: "the test APIs' own credentials".into(),
                allowed_origins: vec![],
                ..service_registration()
            })
            .await;
        for api in [API, OTHER_API] {
            let mut registration =
                self.state.registry.resource(api).expect("the test APIs are registered").registration();
            registration.introspection_clients.push(client.id.clone());
            self.state.registry.update_resource(api, registration, None, &Actor::cli()).await.unwrap();
        }
        client
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request =
            self.http.post(self.url(path)).header("Content-Type", "application/x-www-form-urlencoded").body(body);
        if let Some((id, secret)) = basic {
            request = request.header("Authorization", basic_header(id, secret));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// client_credentials with client_secret_basic.
    pub async fn token_for(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut all = vec![("grant_type", "client_credentials")];
        all.extend_from_slice(form);
        self.post_form("/token", &all, client.basic(), headers).await
    }

    /// An access token for `client` (default resource), asserting success.
    pub async fn access_token(&self, client: &TestClient) -> String {
        self.access_token_with(client, &[], &[]).await
    }

    /// An access token for `client` from a client_credentials request with `form` and `headers`
    /// (e.g. a `resource`, an `Origin`), asserting success.
    pub async fn access_token_with(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> String {
        let response = self.token_for(client, form, headers).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A DPoP nonce as a client learns it: from the `use_dpop_nonce` answer to a proof by `key`
    /// without one (DPOP-13).
    pub async fn dpop_nonce(&self, client: &TestClient, key: &DpopKey) -> String {
        let proof = key.proof("POST", &self.token_endpoint(), None, None);
        let response = self.token_for(client, &[], &[("DPoP", &proof)]).await;
        assert_eq!(response.status(), 400);
        let nonce = response.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "use_dpop_nonce", "DPOP-13");
        nonce
    }

    /// An access token for `client` bound to `key` (`cnf.jkt`, `token_type` DPoP), asserting
    /// success.
    pub async fn dpop_token_for(&self, client: &TestClient, key: &DpopKey) -> String {
        let nonce = self.dpop_nonce(client, key).await;
        let proof = key.proof("POST", &self.token_endpoint(), Some(&nonce), None);
        let response = self.token_for(client, &[], &[("DPoP", &proof)]).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn introspect(&self, caller: &TestClient, token: &str) -> Value {
        let response = self.post_form("/introspect", &[("token", token)], caller.basic(), &[]).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `/revoke` (RFC 7009) by `caller` with client_secret_basic.
    pub async fn revoke(&self, caller: &TestClient, token: &str) -> reqwest::Response {
        self.post_form("/revoke", &[("token", token)], caller.basic(), &[]).await
    }

    pub fn token_endpoint(&self) -> String {
        self.url("/token")
    }
}

pub fn service_registration() -> ClientRegistration {
    ClientRegistration {
        client_name: "service".into(),
        grant_types: vec!["client_credentials".into()],
        resources: vec![API.into(), OTHER_API.into()],
        scope: "read write".into(),
        allowed_origins: vec![BROWSER_ORIGIN.into()],
        ..Default::default()
    }
}

/// RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
pub fn basic_header(id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", encode(id), encode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// The claims of a JWT, read without verification (the tests check what the server signed).
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

pub async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error body is JSON");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}
