//! The services' rules, each checked through its own narrow dependencies: a temp SQLite file,
//! the in-process hot store and a clock the test moves (the integration suite runs the same
//! rules over HTTP on both backends).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::access_tokens::Revocations;
use super::audit::{AuditLog, RequestMeta};
use super::codes::{CodeError, CodeGrant, Codes, Presentation};
use super::rate_limits::RateLimits;
use super::refresh_families::{NewFamily, Presenter, RefreshError, RefreshFamilies, RefreshPolicy};
use super::registry::{ClientRegistration, Registry};
use super::sign_in_limits::{Attempt, SignInGate, SignInLimits};
use super::users::{NewUser, User, Users};
use crate::clock::{Clock, ManualClock, SharedClock};
use crate::config::DatabaseUrl;
use crate::domain::{ClientType, CodeChallenge, CodeVerifier, ScopeSet};
use crate::store::hot::MemoryStore;
use crate::store::models::AuditEvent;
use crate::store::{Db, HotStore};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Fixture {
    db: Db,
    audit: AuditLog,
    audit_writer: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    /// A registered client and a user, for the rows grants refer to.
    client_id: String,
    user_id: String,
    clock: ManualClock,
    revocations: Revocations,
    families: RefreshFamilies,
    codes: Codes,
    stop: watch::Sender<bool>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("idp.sqlite"));
    let db = tokio::task::spawn_blocking(move || Db::connect(&url, 2)).await.unwrap().unwrap();
    db.migrate().await.unwrap();
    let hot: Arc<dyn HotStore> = Arc::new(MemoryStore::new());
    let manual = ManualClock::starting_now();
    let clock: SharedClock = Arc::new(manual.clone());
    let (stop, stopped) = watch::channel(false);
    let (audit, audit_writer) = AuditLog::start(db.clone(), clock.clone(), stopped);
    let revocations = Revocations::new(hot.clone());
    let policy = RefreshPolicy { idle: 3_600, absolute: 86_400, reuse_grace: 0, concurrency_window: 2 };
    let families =
        RefreshFamilies::new(db.clone(), hot.clone(), revocations.clone(), audit.clone(), clock.clone(), policy);
    let codes = Codes::new(hot.clone(), revocations.clone(), families.clone(), audit.clone(), clock.clone());
    let secrets = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"test client secrets");
    let registry = {
        let (db, hot, clock) = (db.clone(), hot.clone(), clock.clone());
        Arc::new(tokio::task::spawn_blocking(move || Registry::open(db, hot, clock, secrets)).await.unwrap().unwrap())
    };
    let registration = ClientRegistration {
        client_name: "web app".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scope: "openid offline_access".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        ..Default::default()
    };
    let (client, _) = registry.create_client(registration, &crate::services::audit::Actor::cli()).await.unwrap();
    let users = Users::new(db.clone(), clock, families.clone());
    let user = users
        .create(NewUser { username: "alice".into(), ..Default::default() }, &crate::services::audit::Actor::cli())
        .await
        .unwrap();
    Fixture {
        db,
        audit,
        audit_writer,
        _dir: dir,
        client_id: client.id.as_str().to_owned(),
        user_id: user.user_id,
        clock: manual,
        revocations,
        families,
        codes,
        stop,
    }
}

fn user(f: &Fixture) -> User {
    User {
        user_id: f.user_id.clone(),
        username: "alice".into(),
        email: None,
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        display_name: None,
        external_id: None,
        enabled: true,
        has_password: false,
        created_at: 0,
        updated_at: 0,
    }
}

fn code_grant(f: &Fixture) -> CodeGrant {
    CodeGrant {
        client_id: f.client_id.clone(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_sent: true,
        code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap(),
        dpop_jkt: None,
        nonce: None,
        scope: ScopeSet::parse("openid offline_access").unwrap(),
        resources: Vec::new(),
        auth_time: 0,
        sid: "s1".into(),
        expires_at: 0,
        user: user(f),
    }
}

fn presented<'a>(f: &'a Fixture, verifier: Option<&'a CodeVerifier>) -> Presentation<'a> {
    Presentation {
        client_id: &f.client_id,
        redirect_uri: Some("https://app.example/cb"),
        code_verifier: verifier,
        jkt: None,
    }
}

#[tokio::test]
async fn a_wrong_verifier_changes_nothing_and_the_right_one_then_redeems_the_code() {
    let f = fixture().await;
    let code = f.codes.issue(code_grant(&f)).await.unwrap();
    let wrong = CodeVerifier::parse(&"a".repeat(43)).unwrap();
    let right = CodeVerifier::parse(VERIFIER).unwrap();
    let meta = RequestMeta::default();

    let refused = f.codes.check(&code, &presented(&f, Some(&wrong)), &meta).await;
    assert!(matches!(refused, Err(CodeError::PkceFailed)), "{refused:?}");

    let checked = f.codes.check(&code, &presented(&f, Some(&right)), &meta).await.unwrap();
    let exp = f.clock.now() + 300;
    f.codes.redeem(&checked, ("at-1".into(), exp), None, &meta).await.unwrap();
    assert!(!f.revocations.is_revoked("at-1").await.unwrap());
}

#[tokio::test]
async fn a_redeemed_code_presented_again_is_refused_and_revokes_what_it_issued() {
    let f = fixture().await;
    let code = f.codes.issue(code_grant(&f)).await.unwrap();
    let right = CodeVerifier::parse(VERIFIER).unwrap();
    let meta = RequestMeta::default();
    let checked = f.codes.check(&code, &presented(&f, Some(&right)), &meta).await.unwrap();
    f.codes.redeem(&checked, ("at-1".into(), f.clock.now() + 300), None, &meta).await.unwrap();

    let replay = f.codes.check(&code, &presented(&f, Some(&right)), &meta).await;
    assert!(matches!(replay, Err(CodeError::Invalid)), "{replay:?}");
    assert!(f.revocations.is_revoked("at-1").await.unwrap(), "RFC 6749 §4.1.2: the first token is revoked");
}

#[tokio::test]
async fn a_code_expires_by_the_providers_clock() {
    let f = fixture().await;
    let code = f.codes.issue(code_grant(&f)).await.unwrap();
    f.clock.advance(Duration::from_secs(61));
    let right = CodeVerifier::parse(VERIFIER).unwrap();
    let late = f.codes.check(&code, &presented(&f, Some(&right)), &RequestMeta::default()).await;
    assert!(matches!(late, Err(CodeError::Invalid)), "{late:?}");
}

async fn start_family(f: &Fixture) -> super::refresh_families::RefreshToken {
    let scope = ScopeSet::parse("openid offline_access").unwrap();
    let family = NewFamily {
        family_id: "f1".into(),
        client_id: &f.client_id,
        user_id: &f.user_id,
        scope: &scope,
        resources: &[],
        jkt: None,
        auth_time: f.clock.now(),
        sid: "s1",
    };
    f.families.start(family, ("at-0".into(), f.clock.now() + 300)).await.unwrap()
}

fn presenter(f: &Fixture) -> Presenter<'_> {
    Presenter { client_id: &f.client_id, client_type: ClientType::Confidential, jkt: None }
}

#[tokio::test]
async fn a_refresh_token_rotates_once_and_its_reuse_revokes_the_family() {
    let f = fixture().await;
    let meta = RequestMeta::default();
    let first = start_family(&f).await;
    let refresh = f.families.begin(&first, presenter(&f), &meta).await.unwrap();
    let second = f.families.rotate(refresh, ("at-1".into(), f.clock.now() + 300)).await.unwrap();
    assert_ne!(first, second);

    // Past the window for concurrent duplicates, the used token coming back is reuse.
    f.clock.advance(Duration::from_secs(5));
    let reuse = f.families.begin(&first, presenter(&f), &meta).await;
    assert!(matches!(reuse, Err(RefreshError::Reused)), "{reuse:?}");
    let after = f.families.begin(&second, presenter(&f), &meta).await;
    assert!(matches!(after, Err(RefreshError::Invalid)), "the successor died with its family: {after:?}");
    assert!(f.revocations.is_revoked("at-1").await.unwrap(), "and so did its access token");
}

#[tokio::test]
async fn a_refresh_token_is_its_clients_alone() {
    let f = fixture().await;
    let token = start_family(&f).await;
    let other = Presenter { client_id: "another-client", ..presenter(&f) };
    let refused = f.families.begin(&token, other, &RequestMeta::default()).await;
    assert!(matches!(refused, Err(RefreshError::Invalid)), "{refused:?}");
    assert!(f.families.begin(&token, presenter(&f), &RequestMeta::default()).await.is_ok(), "nothing was used up");
}

#[tokio::test]
async fn revoking_a_users_grants_ends_their_refresh_tokens() {
    let f = fixture().await;
    let token = start_family(&f).await;
    assert_eq!(f.families.revoke_user(&f.user_id).await.unwrap(), 1);
    let refused = f.families.begin(&token, presenter(&f), &RequestMeta::default()).await;
    assert!(matches!(refused, Err(RefreshError::Invalid)), "{refused:?}");
    assert!(f.revocations.is_revoked("at-0").await.unwrap());
}

fn sign_in_limits(per_address: &str) -> SignInLimits {
    let hot: Arc<dyn crate::store::HotStore> = Arc::new(MemoryStore::new());
    let sources = crate::config::Sources { file: None, env: Vec::new() };
    let mut settings = crate::config::Settings::from_sources(sources).unwrap().rate_limits;
    settings.sign_in_failures_per_address = crate::config::RateQuota::parse(per_address).unwrap();
    SignInLimits::new(hot.clone(), RateLimits::new(hot, settings))
}

#[tokio::test]
async fn five_failed_sign_ins_lock_a_username_until_an_operator_unlocks_it() {
    let limits = sign_in_limits("off");
    let alice = Attempt { username: Some("alice"), address: None };
    for _ in 0..4 {
        limits.count_failure(alice).await.unwrap();
    }
    assert_eq!(limits.gate(alice).await.unwrap(), SignInGate::Open, "four are not yet a lock");
    limits.count_failure(alice).await.unwrap();
    assert_eq!(limits.gate(alice).await.unwrap(), SignInGate::UsernameLocked);
    let bob = Attempt { username: Some("bob"), address: None };
    assert_eq!(limits.gate(bob).await.unwrap(), SignInGate::Open, "only alice");
    limits.unlock("alice").await.unwrap();
    assert_eq!(limits.gate(alice).await.unwrap(), SignInGate::Open);
}

#[tokio::test]
async fn failures_from_one_address_slow_it_down_without_locking_anyone_and_an_unlock_clears_them() {
    let limits = sign_in_limits("3/1m");
    for n in 0..3 {
        let attempt = Attempt { username: Some(["a", "b", "c"][n]), address: Some("192.0.2.1") };
        assert_eq!(limits.gate(attempt).await.unwrap(), SignInGate::Open);
        limits.count_failure(attempt).await.unwrap();
    }
    let next = Attempt { username: Some("alice"), address: Some("192.0.2.1") };
    let SignInGate::AddressSlowed(over) = limits.gate(next).await.unwrap() else { panic!("not slowed") };
    assert!((19..=20).contains(&over.retry_after_seconds()), "one attempt every 20 s, not a lock: {over:?}");
    let elsewhere = Attempt { username: Some("alice"), address: Some("192.0.2.2") };
    assert_eq!(limits.gate(elsewhere).await.unwrap(), SignInGate::Open, "alice herself is not locked");
    limits.unlock_address("192.0.2.1").await.unwrap();
    assert_eq!(limits.gate(next).await.unwrap(), SignInGate::Open);
}

#[tokio::test]
async fn a_revoked_token_id_is_kept_only_while_a_verifier_could_accept_the_token() {
    let revocations = Revocations::new(Arc::new(MemoryStore::new()));
    revocations.revoke("live", 1_000, 900).await.unwrap();
    revocations.revoke("long-expired", 1_000, 2_000).await.unwrap();
    assert!(revocations.is_revoked("live").await.unwrap());
    assert!(!revocations.is_revoked("long-expired").await.unwrap(), "nothing to remember");
}

#[tokio::test]
async fn tokens_clients_get_for_themselves_are_audited_as_one_count_per_client() {
    let f = fixture().await;
    for _ in 0..3 {
        f.audit.count_client_credentials("machine-a");
    }
    f.audit.count_client_credentials("machine-b");
    // Stopping writes what was counted, as the minute's tick does.
    f.stop.send(true).unwrap();
    f.audit_writer.await.unwrap();
    let rows = f.db.run(|conn| AuditEvent::recent(conn, "token.issued", 10)).await.unwrap();
    let mut counts: Vec<(String, u64)> = rows
        .iter()
        .map(|row| {
            let detail: serde_json::Value = serde_json::from_str(row.detail.as_deref().unwrap()).unwrap();
            assert_eq!(detail["grant_type"], "client_credentials");
            (row.client_id.clone().unwrap(), detail["count"].as_u64().unwrap())
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [("machine-a".to_owned(), 3), ("machine-b".to_owned(), 1)], "one row per client");
}
