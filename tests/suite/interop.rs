//! Interop: third-party client libraries against the running server (npm, pinned in
//! tests/interop/package.json); each script asserts its steps itself.
//! - panva's `oauth4webapi`: discovery, client_credentials with DPoP and the server-nonce retry,
//!   a resource server's RFC 9068 check of the token, introspection, revocation.
//! - panva's `openid-client` (a certified relying party): discovery, PAR with PKCE, a scripted
//!   user on the sign-in and consent forms, the code exchange with ID token validation (and
//!   the signature checked with `jose` against the JWKS), userinfo, refresh rotation and reuse
//!   detection, RP-initiated logout.
//!
//! Needs node and `npm ci --prefix tests/interop`. Without them the test is skipped, unless
//! `IDP_TEST_INTEROP=1` (set by `.ci/run`) demands it, in which case it fails.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::oauth::{spawn_with_api_and_client, OTHER_API};
use common::{Backend, TestApp, TestData};
use idp::clock::{Clock, SystemClock};
use idp::services::registry::ClientRegistration;

/// Longest a script may run; each of its requests gives up after 10 s on its own.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop")
}

/// `IDP_TEST_INTEROP=1`: the interop tests must run (CI), so a missing node is a failure.
fn required() -> bool {
    std::env::var("IDP_TEST_INTEROP").is_ok_and(|v| v == "1")
}

/// Why the scripts cannot run here, if they cannot: no node, or `package` not installed.
fn missing_prerequisite(package: &str) -> Option<String> {
    match Command::new("node").arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => return Some(format!("node is not on PATH ({e})")),
    }
    let manifest = interop_dir().join("node_modules").join(package).join("package.json");
    (!manifest.is_file()).then(|| format!("{} is missing", manifest.display()))
}

/// Whether to run: true when node and `package` are there; otherwise skip, or fail under
/// `IDP_TEST_INTEROP=1`.
fn prerequisites(package: &str) -> bool {
    match missing_prerequisite(package) {
        None => true,
        Some(why) if required() => {
            panic!("IDP_TEST_INTEROP=1 but {why}: node 20+ and `npm ci --prefix tests/interop` are needed")
        }
        Some(why) => {
            eprintln!("skipped: run npm ci --prefix tests/interop\n  ({why})");
            false
        }
    }
}

/// How a script ended: `None` when it overran [`SCRIPT_TIMEOUT`] and was killed.
struct ScriptRun {
    script: String,
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl ScriptRun {
    fn assert_success(&self) {
        let outcome = match self.status {
            Some(status) if status.success() => {
                println!("{}", self.stdout);
                return;
            }
            Some(status) => format!("exited with {status}"),
            None => format!("did not finish within {SCRIPT_TIMEOUT:?} and was killed"),
        };
        panic!(
            "node {} {outcome}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.script,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        );
    }
}

/// Runs `node tests/interop/<script>` with `env`, blocking; stdout and stderr are collected.
fn run_script(script: &str, env: &[(&str, String)]) -> ScriptRun {
    let path = interop_dir().join(script);
    let mut child = Command::new("node")
        .arg(&path)
        .current_dir(interop_dir())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start node {}: {e}", path.display()));
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    ScriptRun {
        script: script.to_owned(),
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Keeps the app's clock on system time until aborted. A real client stamps DPoP proofs with
/// its own clock, and the server takes an `iat` at most 10 s ahead of its own, so the test
/// clock must not stand still at spawn time while a slow start (migrations, node) goes by.
fn follow_system_time(app: &TestApp) -> tokio::task::JoinHandle<()> {
    let clock = app.clock.clone();
    tokio::spawn(async move {
        loop {
            clock.set(SystemClock.now());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

async fn oauth4webapi_client_credentials_with_dpop_nonce_introspection_and_revocation(backend: Backend) {
    if !prerequisites("oauth4webapi") {
        return;
    }
    let (_data, app, client) = spawn_with_api_and_client(backend).await;
    let ticker = follow_system_time(&app);

    // Not the client's default resource, so the audience shows the `resource` parameter arrived.
    let env = [
        ("ISSUER", app.address.clone()),
        ("CLIENT_ID", client.id.clone()),
        ("CLIENT_SECRET", client.secret.clone().expect("a confidential client")),
        ("RESOURCE", OTHER_API.to_owned()),
    ];
    let run = tokio::task::spawn_blocking(move || run_script("client_credentials.mjs", &env))
        .await
        .expect("the node runner does not panic");

    ticker.abort();
    app.stop().await;
    run.assert_success();
}

async fn openid_client_code_flow_with_par_userinfo_refresh_and_logout(backend: Backend) {
    if !prerequisites("openid-client") {
        return;
    }
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(
        &data,
        ClientRegistration {
            client_name: "openid-client RP".into(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: "openid profile email offline_access".into(),
            redirect_uris: vec!["http://127.0.0.1:8400/callback".into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:8400/signed-out".into()],
            ..Default::default()
        },
    )
    .await;
    let ticker = follow_system_time(&app);
    let env = [
        ("ISSUER", app.address.clone()),
        ("CLIENT_ID", client.id.clone()),
        ("CLIENT_SECRET", client.secret.clone().expect("a confidential client")),
        ("REDIRECT_URI", "http://127.0.0.1:8400/callback".to_owned()),
        ("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8400/signed-out".to_owned()),
        ("USERNAME", "alice".to_owned()),
        ("PASSWORD", common::browser::PASSWORD.to_owned()),
    ];
    let run = tokio::task::spawn_blocking(move || run_script("code_flow.mjs", &env))
        .await
        .expect("the node runner does not panic");
    ticker.abort();
    app.stop().await;
    run.assert_success();
}

/// Registered by hand: on top of the PostgreSQL + Redis rule, a test is ignored (and reported
/// as such) when node or its npm package is missing here, unless `IDP_TEST_INTEROP=1` demands it.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let module = common::harness::Module::of(module_path!());
    let needing = |package: &str, trials: Vec<libtest_mimic::Trial>| {
        let unavailable = !required() && missing_prerequisite(package).is_some();
        trials.into_iter().map(move |trial| {
            let ignored = trial.has_ignored_flag() || unavailable;
            trial.with_ignored_flag(ignored)
        })
    };
    let oauth4webapi = module.on_each_backend(
        "oauth4webapi_client_credentials_with_dpop_nonce_introspection_and_revocation",
        oauth4webapi_client_credentials_with_dpop_nonce_introspection_and_revocation,
    );
    let openid_client = module.on_each_backend(
        "openid_client_code_flow_with_par_userinfo_refresh_and_logout",
        openid_client_code_flow_with_par_userinfo_refresh_and_logout,
    );
    needing("oauth4webapi", oauth4webapi).chain(needing("openid-client", openid_client)).collect()
}
