//! A scripted browser for the provider's pages: keeps the session cookie, sends the `Origin`
//! a browser sends on a form POST, reads hidden fields out of the HTML, follows nothing by
//! itself (each step is asserted by the test).

use idp::services::registry::ClientRegistration;
use serde_json::Value;

use super::oauth::{TestClient, API};
use super::TestApp;

pub const WEB_APP_REDIRECT: &str = "https://app.test/callback";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const PASSWORD: &str = "correct horse battery";

pub struct Browser {
    http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub origin: String,
    /// Sent with every request (e.g. `X-Forwarded-For`, as a proxy in front would add it).
    pub extra_headers: Vec<(&'static str, String)>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: app.http.clone(),
            base: app.address.clone(),
            cookie: None,
            origin: format!("http://127.0.0.1:{}", app.port),
            extra_headers: Vec::new(),
        }
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            assert_eq!(name, "idp_session", "the only cookie");
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
    }

    /// GET an absolute URL or a path of the provider.
    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let url = if url.starts_with("http") { url.to_owned() } else { format!("{}{url}", self.base) };
        let mut request = self.http.get(url);
        for (name, value) in &self.extra_headers {
            request = request.header(*name, value);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", format!("idp_session={cookie}"));
        }
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        response
    }

    /// POST a form to a provider path with the given `Origin` (None: no header).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        for (name, value) in &self.extra_headers {
            request = request.header(*name, value);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", format!("idp_session={cookie}"));
        }
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        response
    }

    /// POST from the provider's own page, as a browser does.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let origin = self.origin.clone();
        self.post(path, form, Some(&origin)).await
    }

    /// Submits the login form of `page` (the login page's HTML).
    pub async fn submit_login(&mut self, page: &str, username: &str, password: &str) -> reqwest::Response {
        let (csrf, interaction) = (hidden(page, "csrf_token"), hidden(page, "interaction"));
        let form = [
            ("csrf_token", csrf.as_str()),
            ("interaction", interaction.as_str()),
            ("username", username),
            ("password", password),
        ];
        self.submit("/login", &form).await
    }

    /// Submits the consent form of `page` with `decision` (`allow` or `deny`).
    pub async fn submit_consent(&mut self, page: &str, decision: &str) -> reqwest::Response {
        let (csrf, interaction) = (hidden(page, "csrf_token"), hidden(page, "interaction"));
        let form = [("csrf_token", csrf.as_str()), ("interaction", interaction.as_str()), ("decision", decision)];
        self.submit("/consent", &form).await
    }

    /// Opens `/authorize?{query}` and follows it to the sign-in page: its path and its HTML.
    pub async fn login_page(&mut self, query: &str) -> (String, String) {
        let response = self.get(&format!("/authorize?{query}")).await;
        let login_path = format!("/{}", location(&response));
        let html = self.get(&login_path).await.text().await.unwrap();
        (login_path, html)
    }

    /// From `/authorize?…` to the redirect with the code: signs in as `username` and allows
    /// the consent page if one is shown. Returns the final `Location`.
    pub async fn authorize(&mut self, query: &str, username: &str) -> String {
        let mut response = self.get(&format!("/authorize?{query}")).await;
        loop {
            assert_eq!(response.status(), 303, "{:?}", response.text().await);
            let location = location(&response);
            if location.starts_with("login?") {
                let page = self.get(&format!("/{location}")).await.text().await.unwrap();
                response = self.submit_login(&page, username, PASSWORD).await;
            } else if location.starts_with("consent?") {
                let page = self.get(&format!("/{location}")).await.text().await.unwrap();
                response = self.submit_consent(&page, "allow").await;
            } else {
                return location;
            }
        }
    }
}

/// The `Location` of a response; the provider's own pages (absolute, under the issuer) are
/// given as the path after the issuer, as in `login?interaction=…`.
pub fn location(response: &reqwest::Response) -> String {
    let location = response.headers().get("location").expect("a Location header").to_str().unwrap();
    match location.strip_prefix("http://127.0.0.1:") {
        Some(rest) => rest.split_once('/').expect("a path").1.to_owned(),
        None => location.to_owned(),
    }
}

/// The value of the hidden input `name` in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// An authorization request's query string.
pub fn authorize_query(client: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", WEB_APP_REDIRECT),
        ("scope", "openid profile email read"),
        ("state", "af0ifjsldkj"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        pairs.retain(|(n, _)| n != name);
        if !value.is_empty() {
            pairs.push((name, value));
        }
    }
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A confidential web app: code flow, `https://app.test/callback`, the OIDC scopes and `read`
/// at `https://api.test`.
pub fn web_app_registration() -> ClientRegistration {
    ClientRegistration {
        client_name: "Web app".into(),
        grant_types: vec!["authorization_code".into()],
        resources: vec![API.into()],
        scope: "openid profile email offline_access read".into(),
        redirect_uris: vec![WEB_APP_REDIRECT.into()],
        ..Default::default()
    }
}

impl TestApp {
    /// A user with [`PASSWORD`].
    pub async fn create_user(&self, username: &str) -> idp::services::users::User {
        let users = self.state.users.clone();
        let new = idp::services::users::NewUser {
            username: username.to_owned(),
            email: Some(format!("{username}@example.test")),
            email_verified: true,
            name: Some(format!("{username} Example")),
            password: Some(idp::services::users::Password::parse(PASSWORD.into()).unwrap()),
            ..Default::default()
        };
        users.create(new, &idp::services::audit::Actor::cli()).await.unwrap()
    }

    /// Exchanges a code (client_secret_basic).
    pub async fn exchange(&self, client: &TestClient, code: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_APP_REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        for (name, value) in extra {
            form.retain(|(n, _)| n != name);
            if !value.is_empty() {
                form.push((name, value));
            }
        }
        self.post_form("/token", &form, client.basic(), &[]).await
    }

    /// Signs in `username` through a new browser and returns the code.
    pub async fn code_for(&self, client: &TestClient, username: &str, extra: &[(&str, &str)]) -> String {
        let mut browser = super::browser::Browser::new(self);
        let location = browser.authorize(&authorize_query(client, extra), username).await;
        query_param(&location, "code").expect("a code")
    }
}

/// A node with the test APIs, the client `registration` and the user `alice`.
pub async fn app_with_alice(data: &super::TestData, registration: ClientRegistration) -> (TestApp, TestClient) {
    let (app, client) = super::oauth::app_with_client(data, registration).await;
    app.create_user("alice").await;
    (app, client)
}

/// The JSON body of a successful token response.
pub async fn token_body(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}
