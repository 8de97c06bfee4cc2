//! A SCIM caller as an HR connector is one: a confidential client for the audience
//! `<issuer>/scim` that gets a plain Bearer token with client_credentials.

use idp::services::registry::ClientRegistration;
use reqwest::Method;
use serde_json::Value;

use super::oauth::TestClient;
use super::TestApp;

pub struct ScimCaller {
    pub client: TestClient,
    pub token: String,
}

impl TestApp {
    pub fn scim_audience(&self) -> String {
        self.url("/scim")
    }

    /// A client registered for SCIM with `scope`, and a Bearer token of it.
    pub async fn scim_caller(&self, scope: &str) -> ScimCaller {
        let client = self
            .register_client(ClientRegistration {
                client_name: format!("HR connector ({scope})"),
                grant_types: vec!["client_credentials".into()],
                resources: vec![self.scim_audience()],
                scope: scope.into(),
                ..Default::default()
            })
            .await;
        let token = self.access_token_with(&client, &[("resource", &self.scim_audience())], &[]).await;
        ScimCaller { client, token }
    }

    /// `method path` under `/scim/v2` with `token` as Bearer, a SCIM JSON `body` and `headers`.
    pub async fn scim_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, self.url(&format!("/scim/v2{path}")))
            .header("Authorization", format!("Bearer {token}"));
        if let Some(body) = body {
            request = request.header("Content-Type", "application/scim+json").body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    pub async fn scim(
        &self,
        caller: &ScimCaller,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.scim_with(&caller.token, method, path, body, &[]).await
    }
}
