//! Load for `bench/flows.sh`, against a running node whose first-party client and user the
//! script registered. Three modes:
//!
//! - `codes`: signs the user in once (login form), then asks `/authorize` for codes with that
//!   session (consent is not asked: first-party) and writes one code per line.
//! - `refresh-tokens`: as `codes` with `offline_access`, then exchanges each code and writes
//!   one refresh token per line (each a grant of its own).
//! - `flows`: whole authorization code flows for a while, each in a new browser: `/authorize`,
//!   the login page, the login POST (argon2id), the redirect with the code, the token request.
//!   Prints flows/s with p50/p99 per flow and the argon2id cost measured here.
//!
//! The bench's wrk scripts then send each code or refresh token exactly once. Only talks to
//! the URL it is given; meant for loopback benches.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

/// RFC 7636 Appendix B; every code of the bench shares it (the server does not refuse that).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[derive(Parser)]
#[command(about = "Codes, refresh tokens and whole flows for the browser-flow benchmark")]
struct Args {
    /// The provider's issuer, e.g. http://127.0.0.1:18080
    #[arg(long)]
    base: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    #[arg(long)]
    redirect_uri: String,
    #[arg(long)]
    username: String,
    /// The user's password (a bench user's, not a secret).
    #[arg(long)]
    password: String,
    #[arg(long, default_value = "openid profile email read")]
    scope: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    Codes {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    RefreshTokens {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    Flows {
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
}

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Bench {
    args: Args,
    http: reqwest::Client,
}

impl Bench {
    fn authorize_url(&self, scope: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", self.args.client_id.as_str()),
                ("redirect_uri", self.args.redirect_uri.as_str()),
                ("scope", scope),
                ("state", "bench"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        format!("{}/authorize?{query}", self.args.base)
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> Result<reqwest::Response, Error> {
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header("Cookie", format!("idp_session={cookie}"));
        }
        Ok(request.send().await?)
    }

    /// A new browser signs in: returns its session cookie and the redirect carrying the code.
    async fn sign_in(&self, scope: &str) -> Result<(String, String), Error> {
        let response = self.get(&self.authorize_url(scope), None).await?;
        let mut cookie = session_cookie(&response).ok_or("no session cookie")?;
        let login = location(&response)?;
        let page = self.get(&login, Some(&cookie)).await?.text().await?;
        let form = [
            ("csrf_token", hidden(&page, "csrf_token")?),
            ("interaction", hidden(&page, "interaction")?),
            ("username", self.args.username.clone()),
            ("password", self.args.password.clone()),
        ];
        let response = self
            .http
            .post(format!("{}/login", self.args.base))
            .header("Cookie", format!("idp_session={cookie}"))
            .header("Origin", origin(&self.args.base)?)
            .form(&form)
            .send()
            .await?;
        if response.status() != 303 {
            return Err(format!("login answered {}", response.status()).into());
        }
        cookie = session_cookie(&response).ok_or("no new session cookie")?;
        Ok((cookie, location(&response)?))
    }

    /// A code from a signed-in session.
    async fn code(&self, cookie: &str, scope: &str) -> Result<String, Error> {
        let response = self.get(&self.authorize_url(scope), Some(cookie)).await?;
        code_of(&location(&response)?)
    }

    async fn exchange(&self, code: &str) -> Result<serde_json::Value, Error> {
        let response = self
            .http
            .post(format!("{}/token", self.args.base))
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.args.redirect_uri.as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await?;
        if response.status() != 200 {
            return Err(format!("token answered {}: {}", response.status(), response.text().await?).into());
        }
        Ok(response.json().await?)
    }
}

fn location(response: &reqwest::Response) -> Result<String, Error> {
    Ok(response.headers().get("location").ok_or("no Location")?.to_str()?.to_owned())
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response.headers().get_all("set-cookie").iter().find_map(|v| {
        let pair = v.to_str().ok()?.split(';').next()?;
        pair.strip_prefix("idp_session=").map(str::to_owned)
    })
}

fn hidden(page: &str, name: &str) -> Result<String, Error> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).ok_or_else(|| format!("no {name} on the page"))? + marker.len();
    Ok(page[start..].split('"').next().unwrap_or_default().to_owned())
}

fn code_of(redirect: &str) -> Result<String, Error> {
    let url = url::Url::parse(redirect)?;
    let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
    code.ok_or_else(|| format!("no code in {redirect}").into())
}

fn origin(base: &str) -> Result<String, Error> {
    Ok(url::Url::parse(base)?.origin().ascii_serialization())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `task` `count` times over `concurrency` workers, collecting the outputs.
async fn gather<F, Fut>(bench: &Arc<Bench>, count: usize, task: F) -> Result<Vec<String>, Error>
where
    F: Fn(Arc<Bench>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<String, Error>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let mut workers = Vec::new();
    for _ in 0..bench.args.concurrency {
        let (bench, next, out, task) = (bench.clone(), next.clone(), out.clone(), task.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let item = task(bench.clone()).await?;
                out.lock().expect("not poisoned").push(item);
            }
            Ok::<(), Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let items = std::mem::take(&mut *out.lock().expect("not poisoned"));
    Ok(items)
}

fn write_lines(path: &PathBuf, lines: &[String]) -> Result<(), Error> {
    let mut file = BufWriter::new(File::create(path)?);
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.flush()?;
    Ok(())
}

/// What one argon2id hash with the server's parameters costs on this host.
fn argon2_cost() -> Duration {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19_456, 2, 1, None).expect("OWASP parameters"),
    );
    let salt = SaltString::encode_b64(b"bench-salt-bytes").expect("salt");
    let started = Instant::now();
    for _ in 0..5 {
        let _ = argon2.hash_password(b"correct horse battery", &salt);
    }
    started.elapsed() / 5
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(10))
        .build()?;
    let bench = Arc::new(Bench { args, http });
    let scope = bench.args.scope.clone();
    match &bench.args.mode {
        Mode::Codes { count, out } => {
            let (cookie, _) = bench.sign_in(&scope).await?;
            let started = Instant::now();
            let cookie = Arc::new(cookie);
            let codes = gather(&bench, *count, move |bench| {
                let (cookie, scope) = (cookie.clone(), scope.clone());
                async move { bench.code(&cookie, &scope).await }
            })
            .await?;
            write_lines(out, &codes)?;
            eprintln!("flow_load: {} codes in {:.1} s", codes.len(), started.elapsed().as_secs_f64());
        }
        Mode::RefreshTokens { count, out } => {
            let scope = format!("{scope} offline_access");
            let (cookie, _) = bench.sign_in(&scope).await?;
            let started = Instant::now();
            let cookie = Arc::new(cookie);
            let tokens = gather(&bench, *count, move |bench| {
                let (cookie, scope) = (cookie.clone(), scope.clone());
                async move {
                    let code = bench.code(&cookie, &scope).await?;
                    let body = bench.exchange(&code).await?;
                    Ok(body["refresh_token"].as_str().ok_or("no refresh_token")?.to_owned())
                }
            })
            .await?;
            write_lines(out, &tokens)?;
            eprintln!("flow_load: {} refresh tokens in {:.1} s", tokens.len(), started.elapsed().as_secs_f64());
        }
        Mode::Flows { seconds } => {
            let deadline = Instant::now() + Duration::from_secs(*seconds);
            let latencies = Arc::new(Mutex::new(Vec::new()));
            let failures = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let mut workers = Vec::new();
            for _ in 0..bench.args.concurrency {
                let (bench, latencies, failures, scope) =
                    (bench.clone(), latencies.clone(), failures.clone(), scope.clone());
                workers.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let flow = Instant::now();
                        let done = async {
                            let (_, redirect) = bench.sign_in(&scope).await?;
                            let body = bench.exchange(&code_of(&redirect)?).await?;
                            body["id_token"].as_str().ok_or("no id_token")?;
                            Ok::<(), Error>(())
                        }
                        .await;
                        match done {
                            Ok(()) => latencies.lock().expect("not poisoned").push(flow.elapsed()),
                            Err(e) => {
                                if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                                    eprintln!("flow_load: a flow failed: {e}");
                                }
                            }
                        }
                    }
                }));
            }
            for worker in workers {
                worker.await?;
            }
            let elapsed = started.elapsed().as_secs_f64();
            let mut latencies = std::mem::take(&mut *latencies.lock().expect("not poisoned"));
            latencies.sort();
            let cost = argon2_cost();
            println!(
                "bench: whole flows: {:.1} flows/s ({} in {:.1} s, {} failed), p50 {:.0} ms, p99 {:.0} ms per flow (concurrency {}); argon2id m=19456 t=2 p=1: {:.1} ms per hash here",
                latencies.len() as f64 / elapsed,
                latencies.len(),
                elapsed,
                failures.load(Ordering::Relaxed),
                percentile(&latencies, 0.5).as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                bench.args.concurrency,
                cost.as_secs_f64() * 1e3,
            );
        }
    }
    Ok(())
}
