//! Redis as a production dependency, against redis-servers each test starts for itself: TLS
//! with the server's certificate verified (a CA file, a client certificate), the password from a
//! file and never printed, and the start-up check of Redis's eviction policy and persistence
//! (a warning, or a refusal with `redis_require_safe_config`).

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::oauth::{claims_of, service_registration};
use common::redis_server::{Pki, RedisServer};
use common::{spawn_app_with, Backend, TestData};
use idp::clock::ManualClock;

/// SQLite for the database, the test's own Redis for the hot store.
fn data_on(redis_url: &str) -> TestData {
    let mut data = TestData::new(Backend::SqliteMemory);
    data.redis_url = Some(redis_url.to_owned());
    data
}

/// Why the app did not start, as the operator would read it.
async fn start_refused(data: &TestData, env: &[(&str, &str)]) -> String {
    match spawn_app_with(data, ManualClock::starting_now(), env).await {
        Ok(app) => {
            app.stop().await;
            panic!("the app started")
        }
        Err(e) => e.to_string(),
    }
}

async fn over_tls_with_the_ca_file_the_provider_revokes_tokens_in_redis() {
    let pki = Pki::new("idp test CA");
    let cert = pki.server("server", &["127.0.0.1", "localhost"]);
    let redis = RedisServer::start_tls(&pki, &cert, false, &["--requirepass", "tls-pw-1"]);
    let password = redis.file("password", "tls-pw-1\n");
    let data = data_on(&redis.url("rediss"));
    let ca = pki.ca.display().to_string();
    let env = [("IDP_REDIS_CA_FILE", ca.as_str()), ("IDP_REDIS_PASSWORD_FILE", password.as_str())];

    let app = common::spawn_app_with_env(&data, &env).await;
    assert_eq!(app.state.hot.kind(), "redis");
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["hot_store"], "up", "{ready}");

    // Real work over TLS: a token issued, revoked, and seen revoked (the revoked jti is in Redis).
    app.register_apis().await;
    let client = app.register_client(service_registration()).await;
    let token = app.access_token(&client).await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    assert_eq!(app.revoke(&client, &token).await.status(), 200);
    assert_eq!(app.introspect(&client, &token).await["active"], false);
    let jti = claims_of(&token)["jti"].as_str().unwrap().to_owned();
    assert!(app.state.revocations.is_revoked(&jti).await.unwrap(), "the revocation is in the TLS Redis");
    // Another node's view: the same Redis, read through a store of its own.
    let other = idp::store::hot::RedisStore::connect_with(
        &redis.url("rediss"),
        &idp::store::hot::RedisOptions {
            password: Some("tls-pw-1".into()),
            ca_pem: Some(std::fs::read(&pki.ca).unwrap()),
            client_identity: None,
        },
        &data.redis_prefix,
    )
    .await
    .expect("a second connection");
    use idp::store::HotStore;
    let key = idp::store::hot::keyspaces::REVOKED_TOKEN_ID.key_of(&jti);
    assert!(other.get(&key).await.unwrap().is_some(), "{key} is in Redis");
    app.stop().await;
}

async fn a_redis_whose_certificate_this_node_does_not_trust_is_refused_with_a_clear_error() {
    let pki = Pki::new("idp test CA");
    let cert = pki.server("server", &["127.0.0.1"]);
    let redis = RedisServer::start_tls(&pki, &cert, false, &[]);
    let data = data_on(&redis.url("rediss"));

    // A CA file naming another CA.
    let other = Pki::new("another CA");
    let other_ca = other.ca.display().to_string();
    let refused = start_refused(&data, &[("IDP_REDIS_CA_FILE", &other_ca)]).await;
    assert!(refused.starts_with("`redis_url` (IDP_REDIS_URL): rediss://127.0.0.1:"), "{refused}");
    assert!(refused.contains("TLS handshake failed"), "{refused}");
    assert!(refused.contains("redis_ca_file"), "says where to look: {refused}");
    assert!(refused.to_ascii_lowercase().contains("unknownissuer"), "says why: {refused}");

    // No CA file: the webpki roots, which do not hold a private CA either.
    let refused = start_refused(&data, &[]).await;
    assert!(refused.contains("TLS handshake failed"), "{refused}");

    // The right CA, but a certificate issued for another host.
    let elsewhere = pki.server("elsewhere", &["redis.elsewhere.test"]);
    let misnamed = RedisServer::start_tls(&pki, &elsewhere, false, &[]);
    let data = data_on(&misnamed.url("rediss"));
    let ca = pki.ca.display().to_string();
    let refused = start_refused(&data, &[("IDP_REDIS_CA_FILE", &ca)]).await;
    assert!(refused.contains("TLS handshake failed"), "{refused}");
    assert!(refused.contains(r#"certificate not valid for name "127.0.0.1""#), "says why: {refused}");
}

async fn a_redis_that_asks_for_a_client_certificate_gets_the_configured_one() {
    let pki = Pki::new("idp test CA");
    let cert = pki.server("server", &["127.0.0.1"]);
    let redis = RedisServer::start_tls(&pki, &cert, true, &[]);
    let data = data_on(&redis.url("rediss"));
    let ca = pki.ca.display().to_string();
    let refused = start_refused(&data, &[("IDP_REDIS_CA_FILE", &ca)]).await;
    assert!(refused.starts_with("`redis_url`"), "no client certificate, no connection: {refused}");

    let client = pki.client("client");
    let (client_cert, client_key) = (client.cert.display().to_string(), client.key.display().to_string());
    let env = [
        ("IDP_REDIS_CA_FILE", ca.as_str()),
        ("IDP_REDIS_CLIENT_CERT_FILE", client_cert.as_str()),
        ("IDP_REDIS_CLIENT_KEY_FILE", client_key.as_str()),
    ];
    let app = common::spawn_app_with_env(&data, &env).await;
    app.state.hot.put("mtls", b"yes", Duration::from_secs(60)).await.unwrap();
    assert_eq!(app.state.hot.get("mtls").await.unwrap().as_deref(), Some(&b"yes"[..]));
    app.stop().await;
}

async fn a_wrong_redis_password_is_refused_and_no_password_is_printed() {
    let redis = RedisServer::start(&["--requirepass", "right-pw-7"]);
    let data = data_on(&redis.url("redis"));
    let wrong = redis.file("wrong", "wrong-pw-3\n");
    let refused = start_refused(&data, &[("IDP_REDIS_PASSWORD_FILE", &wrong)]).await;
    assert!(refused.starts_with("`redis_url` (IDP_REDIS_URL): redis://127.0.0.1:"), "{refused}");
    assert!(!refused.contains("wrong-pw-3") && !refused.contains("right-pw-7"), "{refused}");

    // The password in the URL (still accepted) is redacted from the same message.
    let mut in_url = data_on(&format!("redis://:wrong-pw-3@127.0.0.1:{}", redis.port));
    let refused = start_refused(&in_url, &[]).await;
    assert!(refused.contains("redis://:***@127.0.0.1"), "{refused}");
    assert!(!refused.contains("wrong-pw-3"), "{refused}");

    let right = redis.file("right", "right-pw-7\n");
    in_url.redis_url = Some(redis.url("redis"));
    let app = common::spawn_app_with_env(&in_url, &[("IDP_REDIS_PASSWORD_FILE", &right)]).await;
    assert!(!format!("{:?}", app.state.settings).contains("right-pw-7"));
    app.stop().await;
}

/// Even at `trace`, where the Redis client's own log records come through, no line holds the
/// password: neither one from the URL (which draws a warning) nor one from the file.
async fn no_log_line_prints_the_redis_password_even_at_trace_level() {
    let redis = RedisServer::start(&["--requirepass", "pw-in-logs-9"]);
    let password_file = redis.file("password", "pw-in-logs-9\n");
    let in_url = format!("redis://:pw-in-logs-9@127.0.0.1:{}", redis.port);
    let from_file = redis.url("redis");
    for (url, file) in [(in_url.as_str(), None), (from_file.as_str(), Some(password_file.as_str()))] {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}", dir.path().join("idp.db").display());
        let mut env = vec![("IDP_DATABASE_URL", database.as_str()), ("IDP_REDIS_URL", url), ("IDP_LOG", "trace")];
        env.extend(file.map(|file| ("IDP_REDIS_PASSWORD_FILE", file)));
        let run = serve(dir.path(), &env);
        let all = format!("{}\n{}", run.stdout.join("\n"), run.stderr);
        assert!(run.serving, "{all}");
        assert!(run.stdout.iter().any(|line| line.contains(r#""level":"TRACE""#)), "trace logging is on: {all}");
        assert!(!all.contains("pw-in-logs-9"), "the password is printed: {all}");
        let warned = run.stdout.iter().any(|line| line.contains("redis_url carries a password"));
        assert_eq!(warned, file.is_none(), "a password in the URL, and only there, draws a warning");
    }
}

/// Redis configured to lose data: evicts under memory pressure and persists nothing.
const UNSAFE: [&str; 6] = ["--maxmemory-policy", "allkeys-lru", "--save", "", "--appendonly", "no"];

async fn an_evicting_redis_without_persistence_is_refused_when_safe_config_is_required() {
    let redis = RedisServer::start(&UNSAFE);
    let data = data_on(&redis.url("redis"));
    let refused = start_refused(&data, &[("IDP_REDIS_REQUIRE_SAFE_CONFIG", "true")]).await;
    assert!(refused.starts_with("`redis_require_safe_config` (IDP_REDIS_REQUIRE_SAFE_CONFIG): "), "{refused}");
    assert!(refused.contains("maxmemory-policy is allkeys-lru, not noeviction"), "{refused}");
    assert!(refused.contains("un-revokes an access token"), "says why: {refused}");
    assert!(refused.contains("neither the AOF"), "{refused}");

    // From the binary: one line, and nothing written (the check comes before the database).
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("idp.db").display());
    let url = redis.url("redis");
    let run = serve(
        dir.path(),
        &[("IDP_DATABASE_URL", &database), ("IDP_REDIS_URL", &url), ("IDP_REDIS_REQUIRE_SAFE_CONFIG", "1")],
    );
    assert!(!run.serving, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains("`redis_require_safe_config`"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is written");

    // Each half alone is enough.
    let evicting = RedisServer::start(&["--maxmemory-policy", "volatile-ttl"]);
    let refused = start_refused(&data_on(&evicting.url("redis")), &[("IDP_REDIS_REQUIRE_SAFE_CONFIG", "true")]).await;
    assert!(refused.contains("volatile-ttl") && !refused.contains("AOF"), "{refused}");
    let forgetful = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let refused = start_refused(&data_on(&forgetful.url("redis")), &[("IDP_REDIS_REQUIRE_SAFE_CONFIG", "true")]).await;
    assert!(refused.contains("neither the AOF") && !refused.contains("maxmemory"), "{refused}");
    // AOF alone is persistence.
    let aof = RedisServer::start(&["--save", "", "--appendonly", "yes"]);
    let app =
        common::spawn_app_with_env(&data_on(&aof.url("redis")), &[("IDP_REDIS_REQUIRE_SAFE_CONFIG", "true")]).await;
    app.stop().await;
}

async fn an_evicting_redis_without_persistence_is_warned_about_at_start() {
    let redis = RedisServer::start(&UNSAFE);
    let warnings = start_and_collect_warnings(&redis.url("redis"));
    let warning = warnings
        .iter()
        .find(|w| w["message"].as_str().unwrap().contains("Redis may lose"))
        .unwrap_or_else(|| panic!("a warning about Redis's configuration in {warnings:?}"));
    let problems = warning["problems"].as_str().unwrap();
    assert!(problems.contains("maxmemory-policy is allkeys-lru") && problems.contains("neither the AOF"), "{warning}");
    assert!(warning["message"].as_str().unwrap().contains("redis_require_safe_config"), "{warning}");

    // Redis's defaults (noeviction, RDB snapshots) raise no warning.
    let safe = RedisServer::start(&[]);
    let warnings = start_and_collect_warnings(&safe.url("redis"));
    assert!(
        !warnings.iter().any(|w| w["message"].as_str().unwrap().contains("Redis")),
        "no warning about a safe Redis: {warnings:?}"
    );
}

async fn when_config_get_is_refused_the_start_warns_that_it_could_not_check() {
    let redis = RedisServer::start(&["--rename-command", "CONFIG", ""]);
    let warnings = start_and_collect_warnings(&redis.url("redis"));
    let warning = warnings
        .iter()
        .find(|w| w["message"].as_str().unwrap().contains("could not check"))
        .unwrap_or_else(|| panic!("a could-not-check warning in {warnings:?}"));
    assert!(warning["reason"].as_str().unwrap().contains("CONFIG GET"), "{warning}");
    // Not a refusal, even when safety is required: there is nothing to refuse on.
    let data = data_on(&redis.url("redis"));
    let app = common::spawn_app_with_env(&data, &[("IDP_REDIS_REQUIRE_SAFE_CONFIG", "true")]).await;
    app.stop().await;
}

/// What `idp serve` printed until it said it serves (then it is stopped), or until it exited.
struct Run {
    serving: bool,
    stdout: Vec<String>,
    stderr: String,
}

fn serve(dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
    command.arg("serve").current_dir(dir);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("IDP_")) {
        command.env_remove(name);
    }
    command.env("IDP_LISTEN", "127.0.0.1:0").envs(env.iter().copied());
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("idp runs");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut printed = Vec::new();
    let mut serving = false;
    while let Ok(line) = received.recv_timeout(Duration::from_secs(30)) {
        serving = line.contains("idp is serving");
        printed.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    Run { serving, stdout: printed, stderr: String::from_utf8_lossy(&output.stderr).into_owned() }
}

/// Starts `idp serve` on SQLite and the Redis at `url`, and returns its warnings (JSON log lines).
fn start_and_collect_warnings(url: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("idp.db").display());
    let keys = dir.path().join("keys").display().to_string();
    let prefix = format!("idptest:{}:", uuid::Uuid::new_v4().simple());
    let run = serve(
        dir.path(),
        &[
            ("IDP_DATABASE_URL", &database),
            ("IDP_KEYS_DIR", &keys),
            ("IDP_REDIS_URL", url),
            ("IDP_REDIS_PREFIX", &prefix),
        ],
    );
    assert!(run.serving, "idp serves: {}\n{}", run.stdout.join("\n"), run.stderr);
    run.stdout
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["level"] == "WARN")
        .collect()
}

crate::suite_tests! {
    on_redis_server:
        over_tls_with_the_ca_file_the_provider_revokes_tokens_in_redis,
        a_redis_whose_certificate_this_node_does_not_trust_is_refused_with_a_clear_error,
        a_redis_that_asks_for_a_client_certificate_gets_the_configured_one,
        a_wrong_redis_password_is_refused_and_no_password_is_printed,
        no_log_line_prints_the_redis_password_even_at_trace_level,
        an_evicting_redis_without_persistence_is_refused_when_safe_config_is_required,
        an_evicting_redis_without_persistence_is_warned_about_at_start,
        when_config_get_is_refused_the_start_warns_that_it_could_not_check;
}
