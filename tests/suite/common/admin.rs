//! An admin API caller as automation is one: a confidential client for the audience
//! `<issuer>/admin` with a DPoP key, which gets a DPoP-bound token with client_credentials and
//! signs a fresh proof for every call.

use idp::services::audit::Actor;
use idp::services::registry::ClientRegistration;
use reqwest::Method;
use serde_json::Value;

use super::dpop::DpopKey;
use super::oauth::TestClient;
use super::TestApp;

pub struct AdminCaller {
    pub client: TestClient,
    pub key: DpopKey,
    pub token: String,
}

impl TestApp {
    pub fn admin_audience(&self) -> String {
        self.url("/admin")
    }

    /// A client registered for the admin API with `scope`, and a DPoP-bound token of it.
    pub async fn admin_caller(&self, scope: &str) -> AdminCaller {
        let registration = ClientRegistration {
            client_name: format!("admin automation ({scope})"),
            grant_types: vec!["client_credentials".into()],
            resources: vec![self.admin_audience()],
            scope: scope.into(),
            dpop_bound_access_tokens: true,
            ..Default::default()
        };
        let (client, secret) = self.state.registry.create_client(registration, &Actor::cli()).await.unwrap();
        let client = TestClient { id: client.id.as_str().to_owned(), secret: secret.map(|s| s.expose().to_owned()) };
        let key = DpopKey::es256();
        let token = self.admin_token(&client, &key).await;
        AdminCaller { client, key, token }
    }

    /// A DPoP-bound admin token for `client`.
    pub async fn admin_token(&self, client: &TestClient, key: &DpopKey) -> String {
        let nonce = self.dpop_nonce(client, key).await;
        let proof = key.proof("POST", &self.token_endpoint(), Some(&nonce), None);
        let audience = self.admin_audience();
        let response = self.token_for(client, &[("resource", &audience)], &[("DPoP", &proof)]).await;
        assert_eq!(response.status(), 200, "an admin token");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `method path` on the admin API as `caller`, with a JSON `body` and extra `headers`.
    pub async fn admin(
        &self,
        caller: &AdminCaller,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let url = self.url(&format!("/admin/v1{path}"));
        let htu = url.split('?').next().unwrap().to_owned();
        let proof = caller.key.proof(method.as_str(), &htu, None, Some(&caller.token));
        let mut request = self
            .http
            .request(method, &url)
            .header("Authorization", format!("DPoP {}", caller.token))
            .header("DPoP", proof);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }
}
