//! What a restart must not forget (issue 10): refresh tokens and their reuse detection, revoked
//! access tokens and sign-in locks survive a node's restart, on the embedded store as with
//! Redis; and a command run beside a running embedded node (`idp users unlock`, `idp grants …`)
//! takes effect on it.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::browser::{authorize_query, token_body, web_app_registration, Browser, PASSWORD};
use common::oauth::{claims_of, error_of, TestClient, API, OTHER_API};
use common::{eventually, Backend, TestApp, TestData};
use idp::services::registry::ClientRegistration;
use idp::store::models::HotEntryRow;
use serde_json::Value;

crate::suite_tests! {
    on_each_backend:
        a_refresh_token_issued_before_a_restart_still_refreshes_after_it,
        an_access_token_revoked_before_a_restart_is_still_inactive_after_it,
        a_refresh_token_reused_after_a_restart_still_revokes_its_family,
        a_username_lock_survives_a_restart,
        idp_users_unlock_lifts_the_lock_on_the_running_node,
        idp_users_disable_ends_the_running_nodes_tokens_of_that_user;
    on_postgres_redis:
        on_postgresql_without_redis_a_refresh_token_survives_a_restart;
    async_test:
        a_killed_embedded_node_keeps_every_rotation_it_answered,
        a_client_credentials_token_writes_nothing_durable;
}

fn refreshing_app_registration() -> ClientRegistration {
    ClientRegistration {
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        resources: vec![API.into(), OTHER_API.into()],
        first_party: true,
        ..web_app_registration()
    }
}

async fn refresh(app: &TestApp, client: &TestClient, token: &str) -> reqwest::Response {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    app.post_form("/token", &form, client.basic(), &[]).await
}

/// Signs alice in and exchanges the code: the token response.
async fn first_tokens(app: &TestApp, client: &TestClient) -> Value {
    let code = app.code_for(client, "alice", &[("scope", "openid offline_access read")]).await;
    token_body(app.exchange(client, &code, &[]).await).await
}

/// A node with the test APIs, a refreshing web app, the APIs' own client (to introspect) and alice.
async fn refreshing_node(data: &TestData) -> (TestApp, TestClient, TestClient) {
    let (app, client) = common::oauth::app_with_client(data, refreshing_app_registration()).await;
    let service = app.introspector().await;
    app.create_user("alice").await;
    (app, client, service)
}

fn text(token: &Value, name: &str) -> String {
    token[name].as_str().unwrap_or_else(|| panic!("{name} in {token}")).to_owned()
}

async fn a_refresh_token_issued_before_a_restart_still_refreshes_after_it(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client, _) = refreshing_node(&data).await;
    let rt0 = text(&first_tokens(&app, &client).await, "refresh_token");

    let app = app.restart(&data).await;
    let second = token_body(refresh(&app, &client, &rt0).await).await;
    let rt1 = text(&second, "refresh_token");
    assert_ne!(rt1, rt0, "rotated");
    let third = token_body(refresh(&app, &client, &rt1).await).await;
    assert_ne!(text(&third, "refresh_token"), rt1);
    app.stop().await;
}

async fn an_access_token_revoked_before_a_restart_is_still_inactive_after_it(backend: Backend) {
    let data = TestData::new(backend);
    let app = common::spawn_app(&data).await;
    app.register_apis().await;
    let service = app.service_client().await;
    let revoked = app.access_token(&service).await;
    let kept = app.access_token(&service).await;
    assert_eq!(app.revoke(&service, &revoked).await.status(), 200);
    assert_eq!(app.introspect(&service, &revoked).await["active"], false);

    let app = app.restart(&data).await;
    assert_eq!(app.introspect(&service, &kept).await["active"], true, "the same issuer: a live token is active");
    assert_eq!(app.introspect(&service, &revoked).await["active"], false, "still revoked");
    app.stop().await;
}

async fn a_refresh_token_reused_after_a_restart_still_revokes_its_family(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client, service) = refreshing_node(&data).await;
    let rt0 = text(&first_tokens(&app, &client).await, "refresh_token");
    let second = token_body(refresh(&app, &client, &rt0).await).await;
    let (rt1, access1) = (text(&second, "refresh_token"), text(&second, "access_token"));

    let app = app.restart(&data).await;
    assert_eq!(app.introspect(&service, &access1).await["active"], true, "live before the reuse");
    // Past the window in which a duplicate counts as concurrent.
    app.clock.advance(Duration::from_secs(3));
    let (status, error) = error_of(refresh(&app, &client, &rt0).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "reuse refused");
    assert!(!app.audited("refresh_token.reuse").await.is_empty(), "recognised as reuse, not as an unknown token");
    assert_eq!(app.introspect(&service, &access1).await["active"], false, "the family's access token is revoked");
    let (status, error) = error_of(refresh(&app, &client, &rt1).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the whole family is revoked");
    app.stop().await;
}

/// Five wrong passwords for alice through `browser`: the last leaves her locked.
async fn lock_alice(app: &TestApp, client: &TestClient) {
    let mut browser = Browser::new(app);
    for _ in 0..5 {
        let (_, page) = browser.login_page(&authorize_query(client, &[])).await;
        assert_eq!(browser.submit_login(&page, "alice", "wrong password").await.status(), 401);
    }
    assert_eq!(sign_in_status(app, client).await, 429, "locked");
}

/// What alice's sign-in with the right password answers now, from a fresh browser.
async fn sign_in_status(app: &TestApp, client: &TestClient) -> u16 {
    let mut browser = Browser::new(app);
    let (_, page) = browser.login_page(&authorize_query(client, &[])).await;
    browser.submit_login(&page, "alice", PASSWORD).await.status().as_u16()
}

async fn a_username_lock_survives_a_restart(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client, _) = refreshing_node(&data).await;
    lock_alice(&app, &client).await;

    let app = app.restart(&data).await;
    assert_eq!(sign_in_status(&app, &client).await, 429, "still locked after the restart");
    app.unlock_user("alice").await;
    assert_eq!(sign_in_status(&app, &client).await, 303, "an operator's unlock lifts it");
    app.stop().await;
}

/// Runs the `idp` binary on `data` (off the test's runtime).
async fn idp(data: &TestData, args: &[&str]) -> Output {
    let env = data.env();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_idp")).args(args).env_clear().envs(env).output().expect("run idp")
    })
    .await
    .unwrap()
}

async fn idp_users_unlock_lifts_the_lock_on_the_running_node(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client, _) = refreshing_node(&data).await;
    lock_alice(&app, &client).await;

    let unlocked = idp(&data, &["users", "unlock", "alice"]).await;
    assert!(unlocked.status.success(), "{}", String::from_utf8_lossy(&unlocked.stderr));
    assert_eq!(String::from_utf8_lossy(&unlocked.stdout).trim(), "alice may sign in again");
    assert!(
        eventually(Duration::from_secs(3), || async { sign_in_status(&app, &client).await == 303 }).await,
        "the running node let alice sign in"
    );
    app.stop().await;
}

async fn idp_users_disable_ends_the_running_nodes_tokens_of_that_user(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client, service) = refreshing_node(&data).await;
    let first = first_tokens(&app, &client).await;
    let (rt0, access) = (text(&first, "refresh_token"), text(&first, "access_token"));

    let disabled = idp(&data, &["users", "disable", "alice"]).await;
    assert!(disabled.status.success(), "{}", String::from_utf8_lossy(&disabled.stderr));
    assert!(String::from_utf8_lossy(&disabled.stdout).contains("1 refresh grant(s) revoked"));
    assert!(
        eventually(Duration::from_secs(3), || async { app.introspect(&service, &access).await["active"] == false })
            .await,
        "the access token the running node issued is revoked there"
    );
    let (status, error) = error_of(refresh(&app, &client, &rt0).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    app.stop().await;
}

async fn on_postgresql_without_redis_a_refresh_token_survives_a_restart() {
    let mut data = TestData::new(Backend::PostgresRedis);
    data.redis_url = None;
    let (app, client, service) = refreshing_node(&data).await;
    assert_eq!(app.state.hot.kind(), "memory");
    let first = first_tokens(&app, &client).await;
    let revoked = app.access_token(&service).await;
    assert_eq!(app.revoke(&service, &revoked).await.status(), 200);

    let app = app.restart(&data).await;
    let second = token_body(refresh(&app, &client, &text(&first, "refresh_token")).await).await;
    assert_eq!(claims_of(&text(&second, "access_token"))["aud"], API);
    assert_eq!(app.introspect(&service, &revoked).await["active"], false);
    app.stop().await;
}

/// The embedded store writes a change through before it answers, so a node killed without a
/// shutdown (SIGKILL) has every rotation it answered: the real binary, started twice.
async fn a_killed_embedded_node_keeps_every_rotation_it_answered() {
    let data = TestData::new(Backend::SqliteMemory);
    // The client, alice and her first refresh token, from an in-process node on the same data.
    let (app, client, _) = refreshing_node(&data).await;
    let rt0 = text(&first_tokens(&app, &client).await, "refresh_token");
    app.stop().await;
    let http = reqwest::Client::new();
    let refresh = |port: u16, token: String| {
        http.post(format!("http://127.0.0.1:{port}/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
            .send()
    };

    let (mut node, port) = serve(&data).await;
    let answer = refresh(port, rt0).await.unwrap();
    assert_eq!(answer.status(), 200);
    let rt1 = text(&answer.json::<Value>().await.unwrap(), "refresh_token");
    node.kill().unwrap();
    node.wait().unwrap();

    let (mut node, port) = serve(&data).await;
    let answer = refresh(port, rt1).await.unwrap();
    assert_eq!(answer.status(), 200, "the rotation answered before the kill was kept");
    node.kill().unwrap();
    node.wait().unwrap();
}

/// Starts `idp serve` on `data` on a port of its choosing: the child and the port.
async fn serve(data: &TestData) -> (Child, u16) {
    let env = data.env();
    tokio::task::spawn_blocking(move || serve_blocking(env)).await.unwrap()
}

fn serve_blocking(env: Vec<(String, String)>) -> (Child, u16) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
    command.arg("serve").env_clear().envs(env).env("IDP_LISTEN", "127.0.0.1:0");
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("idp runs");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines, ports) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            // "idp: serving sqlite on http://127.0.0.1:PORT (issuer …)"
            let port = line.strip_prefix("idp: serving ").and_then(|rest| rest.split("http://127.0.0.1:").nth(1));
            if let Some(port) = port.and_then(|p| p.split(' ').next()).and_then(|p| p.parse::<u16>().ok()) {
                let _ = lines.send(port);
            }
        }
    });
    let port = ports.recv_timeout(Duration::from_secs(30)).expect("idp says where it serves");
    (child, port)
}

/// client_credentials is the hot path: it may write replay markers, never a durable entry (no
/// SQL on the way to a token).
async fn a_client_credentials_token_writes_nothing_durable() {
    let data = TestData::new(Backend::SqliteMemory);
    let app = common::spawn_app(&data).await;
    app.register_apis().await;
    let service = app.service_client().await;
    let durable_rows =
        || async { app.state.db.run(|conn| HotEntryRow::all_live(conn, 0)).await.expect("hot_entries").len() };
    let before = durable_rows().await;
    let key = common::dpop::DpopKey::es256();
    let bound = app.dpop_token_for(&service, &key).await;
    let plain = app.access_token(&service).await;
    assert_eq!(app.introspect(&service, &plain).await["active"], true);
    assert_eq!(app.introspect(&service, &bound).await["active"], true);
    assert_eq!(durable_rows().await, before, "nothing durable written");
    app.stop().await;
}
