//! Starting the binary: bad configuration stops it with one line naming the setting and writes
//! nothing; readiness follows the backends without a restart.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::proxy::TcpProxy;
use common::{eventually, postgres_url, redis_url, spawn_app_with_env, Backend, TestData};

fn run_idp(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("IDP_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied()).env("IDP_LISTEN", "127.0.0.1:0");
    command.output().expect("idp runs")
}

fn assert_refused_naming(output: &Output, setting: &str, dir: &Path) {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains(&format!("`{setting}`")), "names {setting}: {stderr}");
    let written: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(written.is_empty(), "nothing is written, found {written:?}");
}

fn an_issuer_that_is_not_http_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_idp(dir.path(), &["serve"], &[("IDP_ISSUER", "ftp://x")]);
    assert_eq!(output.status.code(), Some(2));
    assert_refused_naming(&output, "issuer", dir.path());
}

fn a_negative_lifetime_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_idp(dir.path(), &[], &[("IDP_TOKENS__ACCESS_TOKEN_LIFETIME", "-5")]);
    assert_refused_naming(&output, "tokens.access_token_lifetime", dir.path());
}

fn a_negative_lifetime_in_the_config_file_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("idp.toml");
    std::fs::write(&config, "[tokens]\nid_token_lifetime = -60\n").unwrap();
    let output = run_idp(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    assert_refused_naming(&output, "tokens.id_token_lifetime", dir.path());
}

fn an_unreachable_database_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let output = run_idp(dir.path(), &["serve"], &[("IDP_DATABASE_URL", "postgres://idp:secret@127.0.0.1:9/idp")]);
    assert_refused_naming(&output, "database_url", dir.path());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("secret"), "the password is not printed");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot start"), "serve says it did not start");
    // Another command names the setting too, without claiming a start failed.
    let listing =
        run_idp(dir.path(), &["clients", "list"], &[("IDP_DATABASE_URL", "postgres://idp:secret@127.0.0.1:9/idp")]);
    assert_refused_naming(&listing, "database_url", dir.path());
    assert!(
        !String::from_utf8_lossy(&listing.stderr).contains("cannot start"),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
}

fn an_unreachable_redis_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("idp.db").display());
    let output =
        run_idp(dir.path(), &["serve"], &[("IDP_DATABASE_URL", &database), ("IDP_REDIS_URL", "redis://127.0.0.1:9")]);
    assert_refused_naming(&output, "redis_url", dir.path());
}

fn migrate_applies_once_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("idp.db").display());
    let first = run_idp(dir.path(), &["migrate"], &[("IDP_DATABASE_URL", &database)]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("applied "));
    let second = run_idp(dir.path(), &["migrate"], &[("IDP_DATABASE_URL", &database)]);
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "database is up to date");
}

fn keys_list_shows_one_active_key_per_algorithm() {
    let data = TestData::new(Backend::SqliteMemory);
    let env: Vec<(String, String)> = data.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let output = run_idp(data.dir.path(), &["keys", "list", "--json"], &env);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let keys: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k["state"] == "active"));
}

fn socket_of(url: &str) -> std::net::SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    let port = url.port_or_known_default().unwrap();
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).unwrap().next().unwrap()
}

fn through(url: &str, proxy: &TcpProxy) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    url.to_string()
}

async fn ready_status(app: &common::TestApp) -> u16 {
    app.get("/readyz").await.status().as_u16()
}

async fn readyz_follows_postgres_and_redis_going_down_and_coming_back() {
    let (pg, redis) = (postgres_url().unwrap(), redis_url().unwrap());
    let pg_proxy = TcpProxy::start(socket_of(&pg)).await;
    let redis_proxy = TcpProxy::start(socket_of(&redis)).await;
    let mut data = TestData::new(Backend::PostgresRedis);
    data.database_url = through(&data.database_url, &pg_proxy);
    data.redis_url = Some(through(&redis, &redis_proxy));
    let app = spawn_app_with_env(&data, &[]).await;
    assert_eq!(ready_status(&app).await, 200);

    redis_proxy.cut();
    assert!(
        eventually(Duration::from_secs(10), || async { ready_status(&app).await == 503 }).await,
        "503 without Redis"
    );
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["checks"]["hot_store"], "down");
    assert_eq!(body["checks"]["database"], "up");
    redis_proxy.restore().await;
    assert!(
        eventually(Duration::from_secs(15), || async { ready_status(&app).await == 200 }).await,
        "200 once Redis is back"
    );

    pg_proxy.cut();
    assert!(
        eventually(Duration::from_secs(10), || async { ready_status(&app).await == 503 }).await,
        "503 without PostgreSQL"
    );
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "down");
    pg_proxy.restore().await;
    assert!(
        eventually(Duration::from_secs(15), || async { ready_status(&app).await == 200 }).await,
        "200 once PostgreSQL is back"
    );
    assert_eq!(app.get("/jwks").await.status(), 200, "keys were served from memory throughout");
    app.stop().await;
}

crate::suite_tests! {
    sync_test:
        an_issuer_that_is_not_http_stops_start,
        a_negative_lifetime_stops_start,
        a_negative_lifetime_in_the_config_file_stops_start,
        an_unreachable_database_stops_start,
        an_unreachable_redis_stops_start,
        migrate_applies_once_then_reports_up_to_date,
        keys_list_shows_one_active_key_per_algorithm,
        the_embedded_first_start_prints_the_demo_once;
    on_postgres_redis:
        readyz_follows_postgres_and_redis_going_down_and_coming_back;
}

/// The README's promise: `idp serve` with no configuration prints a demo client, a user and an
/// admin client on its first start, and nothing of the kind on the next.
fn the_embedded_first_start_prints_the_demo_once() {
    let dir = tempfile::tempdir().unwrap();
    let serve_until_serving = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
        command.arg("serve").current_dir(dir.path()).env("IDP_LISTEN", "127.0.0.1:0");
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("IDP_")) {
            command.env_remove(name);
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("idp runs");
        let stderr = child.stderr.take().unwrap();
        let (lines, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut printed = Vec::new();
        // The demo comes right after "serving"; its last line names the OpenAPI document.
        while let Ok(line) = done.recv_timeout(Duration::from_secs(30)) {
            let last = line.contains("openapi.json") || (printed.len() > 1 && line.contains("serving"));
            printed.push(line);
            if last {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        while let Ok(line) = done.try_recv() {
            printed.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        printed.join("\n")
    };
    let first = serve_until_serving();
    for expected in ["client_secret", "user `demo`", "sign in at", "admin call GET /clients", "openapi.json"] {
        assert!(first.contains(expected), "the first start prints {expected}: {first}");
    }
    let second = serve_until_serving();
    assert!(second.contains("serving"), "{second}");
    assert!(!second.contains("client_secret"), "no second demo: {second}");
}
