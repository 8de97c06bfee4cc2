//! The embedded development setup's demo: on its first start, a resource server, a
//! client_credentials client, a user and a web app to try the provider with, printed once.

use crate::config::Settings;
use crate::services::audit::Actor;
use crate::state::AppState;

/// On the embedded development setup's first start, a demo API and client to try it with.
pub async fn register(state: &AppState, settings: &Settings) -> anyhow::Result<()> {
    const DEMO_API: &str = "https://demo-api.localhost";
    // The provider registers its own APIs (admin, SCIM) under its issuer at every first start;
    // an operator's resource server or any client means this is not a first start.
    let own = format!("{}/", settings.issuer.as_str());
    let empty = state.registry.resources().iter().all(|r| r.identifier.as_str().starts_with(&own))
        && state.registry.list_clients().await?.is_empty();
    if !empty {
        return Ok(());
    }
    let resource = crate::services::registry::ResourceRegistration {
        identifier: DEMO_API.into(),
        name: Some("Demo API".into()),
        scopes: vec!["read".into(), "write".into()],
        ..Default::default()
    };
    let by = Actor::system();
    state.registry.create_resource(resource, &by).await?;
    let client = crate::services::registry::ClientRegistration {
        client_name: "Demo service".into(),
        grant_types: vec!["client_credentials".into()],
        resources: vec![DEMO_API.into()],
        scope: "read write".into(),
        ..Default::default()
    };
    let (client, secret) = state.registry.create_client(client, &by).await?;
    let secret = secret.map(|s| s.expose().to_owned()).unwrap_or_default();
    eprintln!("idp: development demo: resource {DEMO_API} (scopes read write) and a client_credentials client:");
    eprintln!("idp:   client_id     {}", client.id);
    eprintln!("idp:   client_secret {secret}   (shown once)");
    eprintln!(
        "idp:   curl -u '{}:{secret}' -d grant_type=client_credentials {}",
        client.id,
        settings.issuer.endpoint("/token")
    );
    register_sign_in(state, settings, DEMO_API).await?;
    let (admin_id, admin_secret) = super::admin::register_first_client(state).await?;
    eprintln!("idp: development demo: an admin API client (admin:read admin:write, DPoP-bound tokens):");
    eprintln!(
        "idp:   IDP_ADMIN_CLIENT_ID={admin_id} IDP_ADMIN_CLIENT_SECRET={admin_secret} cargo run -- admin call GET /clients"
    );
    eprintln!("idp:   (the API is described at {})", settings.issuer.endpoint("/admin/v1/openapi.json"));
    Ok(())
}

/// The browser half of the demo: a user and a web app that signs them in with the code flow.
async fn register_sign_in(state: &AppState, settings: &Settings, api: &str) -> anyhow::Result<()> {
    const REDIRECT: &str = "http://127.0.0.1:8400/callback";
    // RFC 7636 Appendix B: a verifier and its S256 challenge, fine for a demo only.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let web_app = crate::services::registry::ClientRegistration {
        client_name: "Demo web app".into(),
        grant_types: vec!["authorization_code".into()],
        resources: vec![api.into()],
        scope: "openid profile email read".into(),
        redirect_uris: vec![REDIRECT.into()],
        ..Default::default()
    };
    let (web_app, secret) = state.registry.create_client(web_app, &Actor::system()).await?;
    let secret = secret.map(|s| s.expose().to_owned()).unwrap_or_default();
    let password = crate::crypto::random_token()[..20].to_owned();
    let user = crate::services::users::NewUser {
        username: "demo".into(),
        email: Some("demo@example.com".into()),
        email_verified: true,
        name: Some("Demo User".into()),
        password: Some(crate::services::users::Password::parse(password.clone())?),
        ..Default::default()
    };
    state.users.create(user, &Actor::system()).await?;
    let authorize = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20read&state=demo&code_challenge={CHALLENGE}&code_challenge_method=S256",
        settings.issuer.endpoint("/authorize"),
        web_app.id,
        "http%3A%2F%2F127.0.0.1%3A8400%2Fcallback",
    );
    eprintln!("idp: development demo: user `demo`, password {password}   (shown once), and a web app:");
    eprintln!("idp:   client_id     {}", web_app.id);
    eprintln!("idp:   client_secret {secret}   (shown once)");
    eprintln!("idp:   sign in at    {authorize}");
    eprintln!(
        "idp:   then          curl -u '{}:{secret}' -d grant_type=authorization_code -d code=CODE_FROM_THE_REDIRECT -d redirect_uri={REDIRECT} -d code_verifier={VERIFIER} {}",
        web_app.id,
        settings.issuer.endpoint("/token")
    );
    Ok(())
}
