//! Load-test material for `bench/token.sh`, made against a running node.
//!
//! Proofs (default): fetches a DPoP nonce from the token endpoint (a client-authenticated
//! `POST` with a nonce-less proof; the server answers `use_dpop_nonce` and a `DPoP-Nonce`
//! header), checks that one fresh proof with that nonce really gets a `DPoP` token, then writes
//! `--count` distinct proofs for `POST --htu`, one per line: one ES256 key, a random `jti`
//! each, `iat` = now, the nonce. Each proof is accepted once, so a load run needs one per
//! request.
//!
//! Tokens (`--tokens N`): mints N Bearer access tokens with `client_credentials`, one per line,
//! e.g. to introspect them under load.
//!
//!     cargo run --release --example dpop_proofs -- --htu http://127.0.0.1:18080/token \
//!         --client-id ID --client-secret SECRET --count 300000 --out proofs.txt
//!
//! Only talks to the URL it is given; meant for loopback benches.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use clap::Parser;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

#[derive(Parser)]
#[command(about = "Writes DPoP proofs (or access tokens) for the token benchmark")]
struct Args {
    /// The token endpoint: where the nonce and tokens come from, and the proofs' `htu`.
    #[arg(long)]
    htu: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// How many proofs to write.
    #[arg(long, default_value_t = 300_000)]
    count: usize,
    /// Write this many access tokens instead of proofs.
    #[arg(long)]
    tokens: Option<usize>,
    /// Output file, one proof (or token) per line.
    #[arg(long)]
    out: PathBuf,
    /// Signing threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One ES256 key, its public JWK, and the base64url JOSE header every proof shares.
struct ProofKey {
    pair: EcdsaKeyPair,
    header_b64: String,
}

impl ProofKey {
    fn generate(rng: &SystemRandom) -> Result<Self, Error> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).map_err(|e| e.to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng)
            .map_err(|e| e.to_string())?;
        // Uncompressed SEC1 point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": { "kty": "EC", "crv": "P-256", "x": x, "y": y },
        });
        Ok(Self { pair, header_b64: URL_SAFE_NO_PAD.encode(header.to_string()) })
    }

    /// A proof for `POST htu` with a fresh random `jti`.
    fn proof(&self, rng: &SystemRandom, htu: &str, nonce: Option<&str>, iat: i64) -> Result<String, Error> {
        let mut claims = serde_json::json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": "POST",
            "htu": htu,
            "iat": iat,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = serde_json::json!(nonce);
        }
        let mut jws = String::with_capacity(640);
        jws.push_str(&self.header_b64);
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.pair.sign(rng, jws.as_bytes()).map_err(|e| e.to_string())?;
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Ok(jws)
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `Authorization: Basic` with form-urlencoded id and secret (RFC 6749 §2.3.1).
fn basic(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret))))
}

struct TokenCall {
    status: u16,
    nonce: Option<String>,
    body: serde_json::Value,
}

async fn token_request(http: &reqwest::Client, args: &Args, proof: Option<&str>) -> Result<TokenCall, Error> {
    let mut request = http
        .post(&args.htu)
        .header("authorization", basic(&args.client_id, &args.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let nonce = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Ok(TokenCall { status, nonce, body })
}

async fn write_tokens(http: reqwest::Client, args: Arc<Args>, count: usize) -> Result<(), Error> {
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(count);
    // A few requests in flight at a time; the node is not under test here.
    let mut pending = Vec::new();
    for _ in 0..count {
        let (http, args) = (http.clone(), args.clone());
        pending.push(tokio::spawn(async move { token_request(&http, &args, None).await }));
        if pending.len() == 16 {
            for task in pending.drain(..) {
                tokens.push(task.await??);
            }
        }
    }
    for task in pending {
        tokens.push(task.await??);
    }
    let mut out = BufWriter::new(File::create(&args.out)?);
    for call in &tokens {
        let token = match (call.status, call.body["access_token"].as_str()) {
            (200, Some(token)) => token,
            _ => return Err(format!("token request answered {}: {}", call.status, call.body).into()),
        };
        writeln!(out, "{token}")?;
    }
    out.flush()?;
    eprintln!("dpop_proofs: wrote {count} access tokens to {} in {:.1?}", args.out.display(), started.elapsed());
    Ok(())
}

async fn write_proofs(http: reqwest::Client, args: Arc<Args>) -> Result<(), Error> {
    let rng = SystemRandom::new();
    let key = Arc::new(ProofKey::generate(&rng)?);

    // RFC 9449 §8: a proof without a nonce is refused with `use_dpop_nonce` and the nonce.
    let first = token_request(&http, &args, Some(&key.proof(&rng, &args.htu, None, unix_now())?)).await?;
    let nonce = match (first.status, first.nonce) {
        (_, Some(nonce)) => Some(nonce),
        (200, None) => None, // this node does not use nonces
        (status, None) => return Err(format!("no DPoP-Nonce from the nonce request ({status}: {})", first.body).into()),
    };
    eprintln!(
        "dpop_proofs: nonce request answered {} {}",
        first.status,
        first.body["error"].as_str().unwrap_or(first.body["token_type"].as_str().unwrap_or(""))
    );

    // One real request proves the proofs are right before thousands are written.
    let check = token_request(&http, &args, Some(&key.proof(&rng, &args.htu, nonce.as_deref(), unix_now())?)).await?;
    if check.status != 200 || check.body["token_type"] != "DPoP" {
        return Err(format!("a fresh proof with the nonce was refused ({}: {})", check.status, check.body).into());
    }
    eprintln!("dpop_proofs: a fresh proof with the nonce gets a DPoP token (200)");

    let started = Instant::now();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let iat = unix_now();
    let per_thread = args.count.div_ceil(threads);
    let chunks: Vec<Result<String, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (key, args, nonce) = (&key, &args, nonce.as_deref());
                let n = per_thread.min(args.count.saturating_sub(t * per_thread));
                scope.spawn(move || -> Result<String, Error> {
                    let rng = SystemRandom::new();
                    let mut text = String::with_capacity(n * 600);
                    for _ in 0..n {
                        text.push_str(&key.proof(&rng, &args.htu, nonce, iat)?);
                        text.push('\n');
                    }
                    Ok(text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a signing thread panicked".into()))).collect()
    });
    let mut out = BufWriter::new(File::create(&args.out)?);
    for chunk in chunks {
        out.write_all(chunk?.as_bytes())?;
    }
    out.flush()?;
    eprintln!(
        "dpop_proofs: wrote {} proofs to {} in {:.1?} ({threads} threads, iat {iat})",
        args.count,
        args.out.display(),
        started.elapsed()
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    let http = match reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10)).build() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("dpop_proofs: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = match args.tokens {
        Some(count) => write_tokens(http, args.clone(), count).await,
        None => write_proofs(http, args.clone()).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpop_proofs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
