//! The key-encryption key from an operator's side: `idp keys init-kek` for another owner or
//! for a secret store, and `idp keys rotate-kek` re-sealing every key under a new KEK while the
//! old one (`kek.previous`) still opens what it sealed.

use std::process::{Command, Output};

use idp::crypto::kek::DerivationRoot;
use idp::crypto::Kek;
use idp::store::models::{SealedSecretRow, SigningKeyRow};
use idp::store::Db;
use serde_json::Value;

use crate::common::{spawn_app, Backend, TestData};

crate::suite_tests! {
    on_each_backend:
        rotate_kek_reseals_every_key_audited_and_a_second_run_finishes_an_interrupted_one,
        a_deployment_without_a_stored_derivation_root_keeps_its_client_secrets;
    sync_test:
        init_kek_writes_0600_for_the_owner_asked_never_overwrites_and_can_print_instead;
}

fn idp(data: &TestData, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args)
        .env_clear()
        .envs(data.env())
        .env("IDP_LOG", "warn")
        .output()
        .expect("run idp")
}

async fn sealed_rows(db: &Db) -> (Vec<SigningKeyRow>, Vec<SealedSecretRow>) {
    db.run(|conn| Ok((SigningKeyRow::all(conn)?, SealedSecretRow::all(conn)?))).await.unwrap()
}

async fn rotate_kek_reseals_every_key_audited_and_a_second_run_finishes_an_interrupted_one(backend: Backend) {
    // Arrange: a deployment with its keys, a client with a secret, sealed under the first KEK.
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let client = app.service_client().await;
    app.access_token(&client).await;
    let mut kids = app.jwks_kids().await;
    kids.sort();
    let db = app.state.db.clone();
    app.stop().await;
    let keys = data.keys_dir();
    let old = Kek::load(&keys).unwrap().unwrap();
    std::fs::rename(Kek::path(&keys), Kek::previous_path(&keys)).unwrap();
    let new = Kek::generate_into(&keys).unwrap();
    let (rows, secrets) = sealed_rows(&db).await;
    assert!(rows.iter().all(|r| r.kek_id == old.id()) && secrets.len() == 1, "{secrets:?}");
    // A run interrupted after its first key: that key is sealed under the new KEK, the rest not.
    let first = rows[0].clone();
    let resealed = new.seal(first.kid.as_bytes(), &old.open(first.kid.as_bytes(), &first.sealed_private_key).unwrap());
    let new_id = new.id().to_owned();
    let changed =
        db.run(move |conn| SigningKeyRow::reseal(conn, &first.kid, &first.kek_id, &resealed, &new_id)).await.unwrap();
    assert_eq!(changed, 1);

    // A node with both KEKs starts on the half-done table and issues tokens.
    let midway = spawn_app(&data).await;
    midway.access_token(&client).await;

    // Act: the operator runs rotate-kek while that node serves.
    let run = idp(&data, &["keys", "rotate-kek", "--json"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let rotation: Value = serde_json::from_slice(&run.stdout).unwrap();

    // Assert: the rest was re-sealed, each with its audit row, and nothing is left under the old KEK.
    let new = Kek::load(&keys).unwrap().unwrap();
    assert_eq!(rotation["kek_id"], new.id());
    assert_eq!(rotation["previous_kek_id"], old.id());
    assert_eq!(rotation["already"], 1, "{rotation}");
    let mut resealed: Vec<String> =
        rotation["resealed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(resealed.len(), rows.len(), "{rotation}");
    assert!(resealed.contains(&DerivationRoot::NAME.to_owned()));
    assert!(!resealed.contains(&rows[0].kid));
    let (rows_after, secrets_after) = sealed_rows(&db).await;
    assert!(rows_after.iter().all(|r| r.kek_id == new.id()), "{rows_after:?}");
    assert!(secrets_after.iter().all(|s| s.kek_id == new.id()));
    let reseal_events = midway.audit_events("keys.reseal", 50).await;
    assert_eq!(reseal_events.len(), rows.len(), "one per key re-sealed by the command, and the root");
    assert!(reseal_events.iter().all(|e| e.actor.as_deref() == Some("cli")));
    let mut targets: Vec<String> = reseal_events.iter().filter_map(|e| e.target.clone()).collect();
    targets.sort();
    resealed.sort();
    let mut expected: Vec<String> = resealed
        .iter()
        .map(|name| if name == DerivationRoot::NAME { format!("secret:{name}") } else { format!("key:{name}") })
        .collect();
    expected.sort();
    assert_eq!(targets, expected);
    assert_eq!(midway.audit_events("keys.rotate_kek", 10).await.len(), 1);
    midway.stop().await;

    // A second run has nothing left to do and writes nothing.
    let again = idp(&data, &["keys", "rotate-kek"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"), "{again:?}");

    // Without kek.previous, nodes start, publish the same keys and accept the old client secret.
    std::fs::remove_file(Kek::previous_path(&keys)).unwrap();
    let after = spawn_app(&data).await;
    let mut kids_after = after.jwks_kids().await;
    kids_after.sort();
    assert_eq!(kids_after, kids);
    after.access_token(&client).await;
    assert_eq!(after.audit_events("keys.reseal", 50).await.len(), rows.len(), "the second run audited nothing");
    after.stop().await;
}

async fn a_deployment_without_a_stored_derivation_root_keeps_its_client_secrets(backend: Backend) {
    // A database from before derivation roots were stored: keys and client secrets, no root row.
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let client = app.service_client().await;
    let db = app.state.db.clone();
    app.stop().await;
    let removed = db
        .run(|conn| {
            use diesel::prelude::*;
            diesel::delete(idp::store::schema::sealed_secrets::table).execute(conn)
        })
        .await
        .unwrap();
    assert_eq!(removed, 1);

    let upgraded = spawn_app(&data).await;
    upgraded.access_token(&client).await;
    let (_, secrets) = sealed_rows(&db).await;
    assert_eq!(secrets.len(), 1, "the root is stored again");
    upgraded.stop().await;
}

fn init_kek_writes_0600_for_the_owner_asked_never_overwrites_and_can_print_instead() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let data = TestData::new(Backend::SqliteMemory);
    let here = std::fs::metadata(data.dir.path()).unwrap();
    // Root (CI) gives the file to the image's user; anyone else may give it to themselves.
    let owner = if here.uid() == 0 { (10001, 10001) } else { (here.uid(), here.gid()) };
    let made = idp(&data, &["keys", "init-kek", "--owner", &format!("{}:{}", owner.0, owner.1)]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let path = Kek::path(&data.keys_dir());
    let file = std::fs::metadata(&path).unwrap();
    assert_eq!((file.uid(), file.gid(), file.permissions().mode() & 0o777), (owner.0, owner.1, 0o600));
    let content = std::fs::read(&path).unwrap();

    let again = idp(&data, &["keys", "init-kek"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already holds"), "{again:?}");
    assert_eq!(std::fs::read(&path).unwrap(), content, "never overwritten");

    let elsewhere = TestData::new(Backend::SqliteMemory);
    let printed = idp(&elsewhere, &["keys", "init-kek", "--stdout"]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let text = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    std::fs::create_dir_all(elsewhere.keys_dir()).unwrap();
    std::fs::write(Kek::previous_path(&elsewhere.keys_dir()), &text).unwrap();
    assert!(Kek::load_previous(&elsewhere.keys_dir()).unwrap().is_some(), "a KEK file's content: {text}");
    assert!(!Kek::path(&elsewhere.keys_dir()).exists(), "--stdout writes no file");

    let refused = idp(&data, &["keys", "init-kek", "--owner", "idp"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("UID[:GID]"));
}
