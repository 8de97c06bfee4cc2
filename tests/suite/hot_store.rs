//! The hot-store contract, run against the in-process store and against Redis.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, redis_url, Backend, TestData};
use idp::config::DatabaseUrl;
use idp::store::hot::{keyspaces, Keyspace, Marker, MemoryStore, Opener, RedisStore};
use idp::store::{Db, HotStore};

async fn store(backend: Backend) -> Arc<dyn HotStore> {
    match backend {
        Backend::SqliteMemory => Arc::new(MemoryStore::new()),
        Backend::PostgresRedis => {
            let prefix = format!("idptest:{}:", uuid::Uuid::new_v4().simple());
            Arc::new(RedisStore::connect(&redis_url().unwrap(), &prefix).await.expect("Redis answers"))
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

async fn put_then_get_returns_the_value_until_it_expires(backend: Backend) {
    let store = store(backend).await;
    store.put("a", b"one", MINUTE).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
    store.put("a", b"two", Duration::from_millis(150)).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get("a").await.unwrap(), None);
    assert_eq!(store.get("never-set").await.unwrap(), None);
}

async fn take_returns_the_value_once(backend: Backend) {
    let store = store(backend).await;
    store.put("code", b"grant", MINUTE).await.unwrap();
    assert_eq!(store.take("code").await.unwrap().as_deref(), Some(&b"grant"[..]));
    assert_eq!(store.take("code").await.unwrap(), None);
    assert_eq!(store.get("code").await.unwrap(), None);
}

async fn of_concurrent_takes_exactly_one_wins(backend: Backend) {
    let store = store(backend).await;
    store.put("race", b"prize", MINUTE).await.unwrap();
    let takers: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take("race").await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for taker in takers {
        winners += taker.await.unwrap().is_some() as usize;
    }
    assert_eq!(winners, 1);
}

async fn put_if_absent_stores_only_the_first_until_it_expires(backend: Backend) {
    let store = store(backend).await;
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.put_if_absent("jti", format!("{i}").as_bytes(), Duration::from_millis(200)).await.unwrap()
            })
        })
        .collect();
    let mut stored = 0;
    for racer in racers {
        stored += racer.await.unwrap() as usize;
    }
    assert_eq!(stored, 1);
    assert!(!store.put_if_absent("jti", b"late", MINUTE).await.unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(store.put_if_absent("jti", b"after expiry", MINUTE).await.unwrap());
    assert_eq!(store.get("jti").await.unwrap().as_deref(), Some(&b"after expiry"[..]));
}

async fn delete_reports_whether_something_was_removed(backend: Backend) {
    let store = store(backend).await;
    store.put("k", b"v", MINUTE).await.unwrap();
    assert!(store.delete("k").await.unwrap());
    assert!(!store.delete("k").await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), None);
}

async fn increment_counts_within_a_window_that_the_first_increment_starts(backend: Backend) {
    let store = store(backend).await;
    let window = Duration::from_millis(300);
    assert_eq!(store.increment("hits", window).await.unwrap(), 1);
    assert_eq!(store.increment("hits", window).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Later increments do not extend the window.
    assert_eq!(store.increment("hits", window).await.unwrap(), 3);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.increment("hits", window).await.unwrap(), 1);
}

async fn concurrent_increments_are_all_counted(backend: Backend) {
    let store = store(backend).await;
    let adders: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.increment("n", MINUTE).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for adder in adders {
        seen.push(adder.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=50).collect::<Vec<i64>>());
}

async fn published_messages_reach_subscribers(backend: Backend) {
    let store = store(backend).await;
    let mut feed = store.subscribe("keys");
    let mut other = store.subscribe("other");
    // Redis subscribes asynchronously; publish until the subscription is live.
    let received = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            store.publish("keys", b"changed").await.unwrap();
            if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(100), feed.recv()).await {
                return message;
            }
        }
    })
    .await
    .expect("a message arrives");
    assert_eq!(received, b"changed");
    assert!(other.try_recv().is_err(), "other channels hear nothing");
}

async fn ping_answers(backend: Backend) {
    store(backend).await.ping().await.unwrap();
}

fn keys_carry_their_id_as_the_cluster_hash_tag() {
    let proof_ids: Keyspace<Marker> = Keyspace::of(&keyspaces::DPOP_PROOF_ID);
    assert_eq!(proof_ids.key("abc"), "dpop-jti:{abc}");
}

async fn redis_stores_with_different_prefixes_do_not_see_each_other() {
    let url = redis_url().expect("IDP_TEST_REDIS_URL");
    let a = RedisStore::connect(&url, &format!("idptest:{}:", uuid::Uuid::new_v4().simple())).await.unwrap();
    let b = RedisStore::connect(&url, &format!("idptest:{}:", uuid::Uuid::new_v4().simple())).await.unwrap();
    a.put("shared-name", b"a", MINUTE).await.unwrap();
    assert_eq!(b.get("shared-name").await.unwrap(), None);
}

async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let started = std::time::Instant::now();
    let result = RedisStore::connect("redis://127.0.0.1:9", "idptest:").await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}

crate::suite_tests! {
    on_each_backend:
        put_then_get_returns_the_value_until_it_expires,
        take_returns_the_value_once,
        of_concurrent_takes_exactly_one_wins,
        put_if_absent_stores_only_the_first_until_it_expires,
        delete_reports_whether_something_was_removed,
        increment_counts_within_a_window_that_the_first_increment_starts,
        concurrent_increments_are_all_counted,
        published_messages_reach_subscribers,
        ping_answers;
    on_redis:
        redis_stores_with_different_prefixes_do_not_see_each_other;
    on_each_backend:
        the_durable_memory_store_keeps_durable_keyspaces_across_a_reopen_and_forgets_the_rest,
        a_commands_changes_reach_a_running_node_and_the_nodes_reach_the_command,
        concurrent_writes_to_durable_keys_all_reach_the_database;
    async_test:
        an_unreachable_redis_is_an_error_not_a_hang;
    sync_test:
        keys_carry_their_id_as_the_cluster_hash_tag;
}

/// The embedded store's database (a temp SQLite file, or a PostgreSQL schema without Redis).
async fn database(data: &TestData) -> Db {
    let url = DatabaseUrl::parse(&data.database_url).unwrap();
    let db = tokio::task::spawn_blocking(move || Db::connect(&url, 4)).await.unwrap().expect("database");
    db.migrate().await.expect("migrated");
    db
}

async fn durable(db: &Db, opener: Opener) -> MemoryStore {
    MemoryStore::durable(db.clone(), opener).await.expect("durable store opens")
}

fn rt(id: &str) -> String {
    keyspaces::REFRESH_TOKEN.key_of(id)
}

async fn the_durable_memory_store_keeps_durable_keyspaces_across_a_reopen_and_forgets_the_rest(backend: Backend) {
    let data = TestData::new(backend);
    let db = database(&data).await;
    let failures = keyspaces::FAILED_SIGN_INS_BY_USERNAME.key_of("alice");
    let proof = keyspaces::DPOP_PROOF_ID.key_of("p1");
    let used = keyspaces::USED_REFRESH_TOKEN.key_of("u1");
    let session = keyspaces::BROWSER_SESSION.key_of("s1");
    let short = keyspaces::REVOKED_TOKEN_ID.key_of("short");
    let kept = keyspaces::REVOKED_TOKEN_ID.key_of("kept");
    {
        let node = durable(&db, Opener::Node).await;
        node.put(&rt("a"), b"one", MINUTE).await.unwrap();
        node.put(&rt("a"), b"two", MINUTE).await.unwrap();
        assert!(node.put_if_absent(&proof, b"1", MINUTE).await.unwrap());
        assert!(node.put_if_absent(&kept, b"1", MINUTE).await.unwrap());
        assert_eq!(node.increment(&failures, MINUTE).await.unwrap(), 1);
        assert_eq!(node.increment(&failures, MINUTE).await.unwrap(), 2);
        node.put(&used, b"x", MINUTE).await.unwrap();
        assert_eq!(node.take(&used).await.unwrap().as_deref(), Some(&b"x"[..]));
        node.put(&session, b"s", MINUTE).await.unwrap();
        assert!(node.delete(&session).await.unwrap());
        node.put(&short, b"1", Duration::from_millis(100)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let node = durable(&db, Opener::Node).await;
    assert_eq!(node.get(&rt("a")).await.unwrap().as_deref(), Some(&b"two"[..]), "the last write");
    assert!(!node.put_if_absent(&kept, b"1", MINUTE).await.unwrap(), "a durable marker stays");
    assert_eq!(node.increment(&failures, MINUTE).await.unwrap(), 3, "the count goes on");
    assert_eq!(node.get(&proof).await.unwrap(), None, "an ephemeral keyspace is not kept");
    assert_eq!(node.get(&used).await.unwrap(), None, "taken");
    assert_eq!(node.get(&session).await.unwrap(), None, "deleted");
    assert_eq!(node.get(&short).await.unwrap(), None, "expired");
}

async fn a_commands_changes_reach_a_running_node_and_the_nodes_reach_the_command(backend: Backend) {
    let data = TestData::new(backend);
    let db = database(&data).await;
    let lock = keyspaces::LOCKED_USERNAME.key_of("alice");
    let revoked = keyspaces::REVOKED_TOKEN_ID.key_of("j1");
    let node = durable(&db, Opener::Node).await;
    node.put(&lock, b"1", MINUTE).await.unwrap();

    let command = durable(&db, Opener::Command).await;
    assert_eq!(command.get(&lock).await.unwrap().as_deref(), Some(&b"1"[..]), "the command reads the node's write");
    assert!(command.delete(&lock).await.unwrap());
    command.put(&revoked, b"1", MINUTE).await.unwrap();
    drop(command);

    let heard = eventually(Duration::from_secs(3), || async {
        node.get(&lock).await.unwrap().is_none() && node.get(&revoked).await.unwrap().is_some()
    })
    .await;
    assert!(heard, "the node took the command's unlock and revocation");
    // And the node's own writes after that are its own again.
    node.put(&lock, b"2", MINUTE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(node.get(&lock).await.unwrap().as_deref(), Some(&b"2"[..]));
    let command = durable(&db, Opener::Command).await;
    assert_eq!(command.get(&lock).await.unwrap().as_deref(), Some(&b"2"[..]));
}

async fn concurrent_writes_to_durable_keys_all_reach_the_database(backend: Backend) {
    let data = TestData::new(backend);
    let db = database(&data).await;
    let node = Arc::new(durable(&db, Opener::Node).await);
    let writers: Vec<_> = (0..200)
        .map(|i| {
            let node = node.clone();
            tokio::spawn(async move {
                node.put(&rt(&format!("t{i}")), format!("v{i}").as_bytes(), MINUTE).await.unwrap();
                if i % 2 == 0 {
                    node.delete(&rt(&format!("t{i}"))).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    drop(node);
    let node = durable(&db, Opener::Node).await;
    for i in 0..200 {
        let expected = (i % 2 == 1).then(|| format!("v{i}").into_bytes());
        assert_eq!(node.get(&rt(&format!("t{i}"))).await.unwrap(), expected, "t{i}");
    }
}
