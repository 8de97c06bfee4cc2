//! End users: creation, argon2id password hashes, sign-in checks, and the CLI.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{spawn_app, Backend, TestData};
use idp::services::users::{NewUser, Password, UserError};
use idp::store::models::UserRow;

fn alice() -> NewUser {
    NewUser {
        username: "Alice".into(),
        email: Some("alice@example.test".into()),
        email_verified: true,
        name: Some("Alice Liddell".into()),
        password: Some(Password::parse("correct horse battery".into()).unwrap()),
        ..Default::default()
    }
}

async fn a_user_signs_in_only_with_the_right_password_while_enabled(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let users = app.state.users.clone();
    let created = users.create(alice(), &idp::services::audit::Actor::cli()).await.unwrap();
    assert_eq!(created.username, "alice", "usernames are case-insensitive");
    assert!(uuid::Uuid::parse_str(&created.user_id).is_ok(), "the subject is a UUID");

    let signed_in = users.authenticate("ALICE", "correct horse battery").await.unwrap();
    assert_eq!(signed_in.map(|u| u.user_id), Some(created.user_id.clone()));
    assert!(users.authenticate("alice", "wrong horse battery").await.unwrap().is_none());
    assert!(users.authenticate("bob", "correct horse battery").await.unwrap().is_none());

    let id = created.user_id.clone();
    let row = app.state.db.run(move |c| UserRow::find(c, &id)).await.unwrap().unwrap();
    let stored = row.password_hash.unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert!(!stored.contains("correct horse"));

    let alice = users.find_by_username("alice").await.unwrap().unwrap();
    users.set_enabled(&alice.user_id, false, &idp::services::audit::Actor::cli()).await.unwrap();
    assert!(users.authenticate("alice", "correct horse battery").await.unwrap().is_none(), "disabled");
    app.stop().await;
}

async fn a_second_user_with_the_same_username_is_refused(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let users = app.state.users.clone();
    users.create(alice(), &idp::services::audit::Actor::cli()).await.unwrap();
    let again =
        users.create(NewUser { username: "ALICE".into(), ..alice() }, &idp::services::audit::Actor::cli()).await;
    assert!(matches!(again, Err(UserError::Conflict)), "{again:?}");
    app.stop().await;
}

async fn signing_in_as_an_unknown_user_costs_as_much_as_a_wrong_password(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let users = app.state.users.clone();
    users.create(alice(), &idp::services::audit::Actor::cli()).await.unwrap();
    // Warm the decoy hash, then compare medians of a few attempts.
    users.authenticate("nobody", "whatever-password").await.unwrap();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        users.authenticate("alice", "wrong-password-1").await.unwrap();
        known.push(started.elapsed());
        let started = Instant::now();
        users.authenticate("nobody", "wrong-password-1").await.unwrap();
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[2], unknown[2]);
    eprintln!("median sign-in check: known user {known:?}, unknown user {unknown:?}");
    assert!(unknown * 2 > known && known * 2 > unknown, "known {known:?} vs unknown {unknown:?}");
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        a_user_signs_in_only_with_the_right_password_while_enabled,
        a_second_user_with_the_same_username_is_refused,
        signing_in_as_an_unknown_user_costs_as_much_as_a_wrong_password;
    sync_test:
        the_cli_creates_a_user_with_a_password_from_stdin_and_lists_it_without_the_hash;
}

fn the_cli_creates_a_user_with_a_password_from_stdin_and_lists_it_without_the_hash() {
    let data = TestData::new(Backend::SqliteMemory);
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(args)
            .envs(data.env())
            .env("IDP_LOG", "warn")
            .current_dir(data.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let created = run(
        &["users", "create", "--username", "bob", "--email", "bob@example.test", "--password-stdin", "--json"],
        Some("a long enough password\n"),
    );
    let user: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(user["username"], "bob");
    assert!(user.get("password_hash").is_none());
    let listed = run(&["users", "list", "--json"], None);
    assert!(listed.contains("bob@example.test") && !listed.contains("argon2"));
    run(&["users", "set-password", "bob"], Some("another long password\n"));
    run(&["users", "disable", "bob"], None);
}
