//! `idp admin …`: the admin API's first client (`bootstrap`), and a small client of the API
//! (`call`) that does what automation must: a client_credentials token bound to a fresh DPoP
//! key, and a proof for each request (RFC 9449), so an operator needs no other tool.

use anyhow::Context;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256};
use serde_json::{json, Value};

use super::read_patch;
use crate::admin;
use crate::config::Settings;
use crate::services::audit::Actor;
use crate::services::registry::ClientRegistration;
use crate::state::AppState;

/// `idp admin bootstrap`: the first admin client, once.
pub async fn bootstrap(state: AppState) -> anyhow::Result<()> {
    let (client_id, secret) = register_first_client(&state).await?;
    let audience = admin::auth::audience(&state);
    println!("admin client registered for {audience} (scopes admin:read admin:write, DPoP-bound tokens):");
    println!("  client_id     {client_id}");
    println!("  client_secret {secret}   (shown once; store it in a secret manager)");
    println!("try it:");
    println!("  IDP_ADMIN_CLIENT_ID={client_id} IDP_ADMIN_CLIENT_SECRET=... idp admin call GET /clients");
    Ok(())
}

/// Registers the admin API's first client unless one exists: client_credentials for the
/// admin audience with `admin:read admin:write` and DPoP-bound tokens. Its id and secret.
pub async fn register_first_client(state: &AppState) -> anyhow::Result<(String, String)> {
    admin::auth::register_audience(state).await.context("cannot register the admin API's resource server")?;
    let audience = admin::auth::audience(state);
    let existing: Vec<String> = state
        .registry
        .list_clients()
        .await?
        .into_iter()
        .filter(|c| c.resources.iter().any(|r| r.as_str() == audience))
        .map(|c| c.id.as_str().to_owned())
        .collect();
    if !existing.is_empty() {
        anyhow::bail!(
            "an admin client is registered already ({}); bootstrap runs once: use it, or the admin API, to add more",
            existing.join(", ")
        );
    }
    let registration = ClientRegistration {
        client_name: "Admin automation (bootstrap)".into(),
        grant_types: vec!["client_credentials".into()],
        resources: vec![audience],
        scope: "admin:read admin:write".into(),
        dpop_bound_access_tokens: true,
        ..Default::default()
    };
    let (client, secret) = state.registry.create_client(registration, &Actor::cli()).await.map_err(super::explain)?;
    Ok((client.id.as_str().to_owned(), secret.map(|s| s.expose().to_owned()).unwrap_or_default()))
}

/// One `idp admin call`.
pub struct Call {
    pub method: String,
    pub path: String,
    pub data: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub if_match: Option<String>,
}

/// `idp admin call`: prints the status line and the body (and the ETag when there is one).
pub async fn call(call: Call, settings: &Settings) -> anyhow::Result<()> {
    let method: reqwest::Method = call.method.to_ascii_uppercase().parse().context("not an HTTP method")?;
    if !call.path.starts_with('/') {
        anyhow::bail!("the path starts with / (e.g. /clients)");
    }
    let key = ProofKey::generate()?;
    let http = reqwest::Client::new();
    let token = admin_token(&http, settings, &call, &key).await?;
    let url = settings.issuer.endpoint(&format!("{}{}", admin::BASE_PATH, call.path));
    let htu = url.split(['?', '#']).next().unwrap_or(&url).to_owned();
    let mut request = http
        .request(method.clone(), &url)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", key.proof(method.as_str(), &htu, None, Some(&token))?);
    if let Some(data) = call.data {
        let body = read_patch(data).context("--data")?;
        let media = if method == reqwest::Method::PATCH { "application/merge-patch+json" } else { "application/json" };
        request = request.header("Content-Type", media).body(body.to_string());
    }
    if let Some(etag) = &call.if_match {
        request = request.header("If-Match", etag);
    }
    let response = request.send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    eprintln!(
        "{} {}{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        etag.map(|e| format!("  ETag: {e}")).unwrap_or_default()
    );
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => println!("{}", serde_json::to_string_pretty(&value).unwrap_or(text)),
        Err(_) if text.is_empty() => {}
        Err(_) => println!("{text}"),
    }
    if !status.is_success() {
        anyhow::bail!("the admin API answered {status}");
    }
    Ok(())
}

/// A client_credentials token for the admin audience bound to `key`, learning the server's
/// DPoP nonce first when it asks for one (RFC 9449 §8).
async fn admin_token(
    http: &reqwest::Client,
    settings: &Settings,
    call: &Call,
    key: &ProofKey,
) -> anyhow::Result<String> {
    let token_url = settings.issuer.endpoint("/token");
    let audience = settings.issuer.endpoint(admin::auth::AUDIENCE_PATH);
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        let response = http
            .post(&token_url)
            .basic_auth(&call.client_id, Some(&call.client_secret))
            .header("DPoP", key.proof("POST", &token_url, nonce.as_deref(), None)?)
            .form(&[("grant_type", "client_credentials"), ("resource", audience.as_str())])
            .send()
            .await
            .with_context(|| format!("cannot reach {token_url}"))?;
        let offered = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if status.is_success() {
            return body["access_token"].as_str().map(str::to_owned).context("the token response has no access_token");
        }
        if body["error"] == "use_dpop_nonce" && offered.is_some() && nonce.is_none() {
            nonce = offered;
            continue;
        }
        anyhow::bail!("the token endpoint refused the admin client: {status} {body}");
    }
    anyhow::bail!("the token endpoint kept asking for a new DPoP nonce")
}

/// A P-256 key that signs this process's DPoP proofs; it lives as long as the command.
struct ProofKey {
    signer: josekit::jws::alg::ecdsa::EcdsaJwsSigner,
    public: Jwk,
}

impl ProofKey {
    fn generate() -> anyhow::Result<Self> {
        let pair = Jwk::generate_ec_key(EcCurve::P256).context("cannot generate a DPoP key")?;
        let signer = ES256.signer_from_jwk(&pair).context("cannot use the DPoP key")?;
        let mut public = Jwk::new("EC");
        for member in ["crv", "x", "y"] {
            if let Some(value) = pair.parameter(member) {
                public.set_parameter(member, Some(value.clone())).context("cannot build the public JWK")?;
            }
        }
        Ok(Self { signer, public })
    }

    /// A proof for `method` `htu` (RFC 9449 §4.2), with `ath` when it goes with a token.
    fn proof(&self, method: &str, htu: &str, nonce: Option<&str>, token: Option<&str>) -> anyhow::Result<String> {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header.set_jwk(self.public.clone());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = json!({ "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": htu, "iat": now });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = token {
            let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            claims["ath"] = json!(crate::crypto::b64url(digest.as_ref()));
        }
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &self.signer)
            .context("cannot sign a DPoP proof")
    }
}
