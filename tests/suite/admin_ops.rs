//! The admin API's operations resources (`/admin/v1`): the audit trail, grants and tokens, and
//! signing keys; each over the service the CLI calls, audited, and checked here by what the
//! stores hold afterwards.

use std::collections::HashSet;
use std::process::Command;

use idp::clock::Clock;
use idp::store::models::NewAuditEvent;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::admin::AdminCaller;
use crate::common::oauth::API;
use crate::common::{spawn_app, Backend, TestApp, TestData};

crate::suite_tests! {
    on_each_backend:
        audit_events_are_listed_newest_first_with_who_what_and_when,
        audit_events_are_filtered_by_time_action_outcome_client_user_actor_and_origin,
        audit_pages_with_inserts_between_them_repeat_nothing_and_skip_nothing,
        a_bad_audit_filter_is_a_problem_naming_the_parameter,
        the_audit_trail_needs_an_audit_or_read_scope;
    sync_test:
        idp_audit_list_prints_rfc3339_times_and_refuses_what_the_api_refuses;
}

async fn app_with_admin(backend: Backend, scope: &str) -> (TestData, TestApp, AdminCaller) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let admin = app.admin_caller(scope).await;
    (data, app, admin)
}

fn new_client(name: &str) -> Value {
    json!({ "client_name": name, "grant_types": ["client_credentials"], "resources": [API], "scope": "read" })
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Writes `event` to the trail as the services do.
async fn insert_event(app: &TestApp, event: NewAuditEvent) {
    app.state.db.run(move |conn| event.insert(conn)).await.expect("audit event written");
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items")
}

// ---------------------------------------------------------------------------------------------
// The audit trail

async fn audit_events_are_listed_newest_first_with_who_what_and_when(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend, "admin:write").await;
    for name in ["first", "second", "third"] {
        let created = app.admin(&admin, Method::POST, "/clients", Some(new_client(name)), &[]).await;
        assert_eq!(created.status(), 201);
        app.clock.advance(std::time::Duration::from_secs(1));
    }

    let response = app.admin(&admin, Method::GET, "/audit-events?action=client.create", None, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = json_of(response).await;
    let events = items(&page);
    // The admin caller's own registration (by the CLI actor) is a client.create too.
    assert_eq!(events.len(), 4, "{page}");
    let times: Vec<i64> = events.iter().map(|e| e["at_unix"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let newest = &events[0];
    assert_eq!(newest["action"], "client.create");
    assert_eq!(newest["outcome"], "success");
    assert_eq!(newest["actor"], format!("client:{}", admin.client.id));
    assert!(newest["target"].as_str().unwrap().starts_with("client:idp_c_"), "{newest}");
    assert!(newest["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{newest}");
    assert!(newest["detail"].is_object(), "{newest}");
    assert!(newest["event_id"].as_str().is_some());
    let at = newest["at"].as_str().unwrap();
    assert_eq!(idp::clock::parse_rfc3339(at), Some(times[0]), "at is RFC 3339 of at_unix: {at}");
    assert!(at.ends_with('Z'));
    assert_eq!(events[3]["actor"], "cli", "the oldest: the test's own registration of the admin client");
    assert!(page.get("next").is_none_or(Value::is_null), "one page");
    app.stop().await;
}

async fn audit_events_are_filtered_by_time_action_outcome_client_user_actor_and_origin(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend, "admin:audit").await;
    let now = app.clock.now();
    let event = |at: i64, action: &str, outcome: &str| NewAuditEvent::new(at, action, outcome);
    insert_event(&app, NewAuditEvent { client_id: Some("c-1".into()), ..event(now - 7200, "test.one", "success") })
        .await;
    insert_event(
        &app,
        NewAuditEvent {
            user_id: Some("u-1".into()),
            origin: Some("https://app.test".into()),
            ..event(now - 3600, "test.two", "refused")
        },
    )
    .await;
    insert_event(&app, NewAuditEvent { actor: Some("cli".into()), ..event(now - 60, "test.three", "success") }).await;

    let actions = |query: String| {
        let (app, admin) = (&app, &admin);
        async move {
            let response = app.admin(admin, Method::GET, &format!("/audit-events?{query}"), None, &[]).await;
            assert_eq!(response.status(), 200, "{query}");
            let page = json_of(response).await;
            let mut actions: Vec<String> = items(&page)
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned())
                .filter(|a| a.starts_with("test."))
                .collect();
            actions.dedup();
            actions
        }
    };
    assert_eq!(actions("limit=200".into()).await, ["test.three", "test.two", "test.one"]);
    assert_eq!(actions("action=test.two".into()).await, ["test.two"]);
    assert_eq!(actions("outcome=refused".into()).await, ["test.two"]);
    assert_eq!(actions("client_id=c-1".into()).await, ["test.one"]);
    assert_eq!(actions("user_id=u-1".into()).await, ["test.two"]);
    assert_eq!(actions("origin=https%3A%2F%2Fapp.test".into()).await, ["test.two"]);
    assert_eq!(actions("actor=cli&action=test.three".into()).await, ["test.three"]);
    assert_eq!(actions("since=90m".into()).await, ["test.three", "test.two"], "a duration ago");
    let until = idp::clock::rfc3339(now - 3600);
    assert_eq!(actions(format!("until={until}")).await, ["test.one"], "until is exclusive, RFC 3339");
    let both = format!("since={}&until={}", now - 7200, now - 60);
    assert_eq!(actions(both).await, ["test.two", "test.one"], "Unix seconds, since inclusive");
    app.stop().await;
}

async fn audit_pages_with_inserts_between_them_repeat_nothing_and_skip_nothing(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend, "admin:write").await;
    let now = app.clock.now();
    let mut originals = HashSet::new();
    // Seven events, several in the same second, as a busy node writes them.
    for i in 0..7 {
        let event = NewAuditEvent::new(now - 10 + i / 3, "test.page", "success");
        originals.insert(event.event_id.clone());
        insert_event(&app, event).await;
    }
    let mut seen = Vec::new();
    let mut inserted = HashSet::new();
    let mut next = Some("/audit-events?action=test.page&limit=3".to_owned());
    while let Some(path) = next {
        let response = app.admin(&admin, Method::GET, &path, None, &[]).await;
        assert_eq!(response.status(), 200);
        let link = response.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
        let page = json_of(response).await;
        assert!(items(&page).len() <= 3);
        seen.extend(items(&page).iter().map(|e| e["event_id"].as_str().unwrap().to_owned()));
        // New events arrive meanwhile: at the head, and in the same second as the newest.
        for at in [app.clock.now(), now - 10 + 2] {
            let event = NewAuditEvent::new(at, "test.page", "success");
            inserted.insert(event.event_id.clone());
            insert_event(&app, event).await;
        }
        // One written late with an old time lands below the cursor: listed once, later.
        insert_event(&app, NewAuditEvent::new(now - 10, "test.page", "success")).await;
        next = page["next"].as_str().map(|n| n.trim_start_matches("/admin/v1").to_owned());
        if let Some(next) = &next {
            assert_eq!(link.unwrap(), format!("</admin/v1{next}>; rel=\"next\""));
            assert!(next.contains("action=test.page"), "the filter stays in the link: {next}");
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no event on two pages: {seen:?}");
    assert!(originals.is_subset(&unique), "every event there at the start is listed");
    assert!(unique.is_disjoint(&inserted), "events written while paging are above the cursor, never below");
    app.stop().await;
}

async fn a_bad_audit_filter_is_a_problem_naming_the_parameter(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend, "admin:read").await;
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("since=2000&until=1000", "until"),
        ("outcome=great", "outcome"),
        ("action=", "action"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("acton=login", "acton"),
        ("actor=cli&actor=system", "actor"),
    ] {
        let response = app.admin(&admin, Method::GET, &format!("/audit-events?{query}"), None, &[]).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{query}");
        let problem = json_of(response).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let problem = json_of(app.admin(&admin, Method::GET, "/audit-events?outcome=great", None, &[]).await).await;
    assert_eq!(problem["errors"][0]["message"], "must be one of success, refused, failure, locked, granted, denied");
    app.stop().await;
}

async fn the_audit_trail_needs_an_audit_or_read_scope(backend: Backend) {
    let (_data, app, clients_only) = app_with_admin(backend, "admin:clients").await;
    let refused = app.admin(&clients_only, Method::GET, "/audit-events", None, &[]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    for scope in ["admin:audit", "admin:read"] {
        let caller = app.admin_caller(scope).await;
        assert_eq!(app.admin(&caller, Method::GET, "/audit-events", None, &[]).await.status(), 200, "{scope}");
    }
    assert_eq!(app.http.get(app.url("/admin/v1/audit-events")).send().await.unwrap().status(), 401);
    app.stop().await;
}

fn idp(data: &TestData, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_idp")).args(args).env_clear().envs(data.env()).output().expect("run idp")
}

fn idp_audit_list_prints_rfc3339_times_and_refuses_what_the_api_refuses() {
    let data = TestData::new(Backend::SqliteMemory);
    let created = idp(&data, &["users", "create", "--username", "carol"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let listed = idp(&data, &["audit", "list", "--action", "user.create", "--json"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let events: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1);
    let at = events[0]["at"].as_str().unwrap();
    assert_eq!(idp::clock::parse_rfc3339(at), events[0]["at_unix"].as_i64(), "{at}");

    let text = idp(&data, &["audit", "list", "--limit", "1"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with(&at[..4]) && text.contains('T') && text.contains("Z "), "an RFC 3339 time first: {text}");

    let refused = idp(&data, &["audit", "list", "--since", "yesterday"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let api_message = idp::services::audit::TIME_FORMS;
    assert!(stderr.contains(&format!("--since (since: {api_message})")), "{stderr}");
    let refused = idp(&data, &["audit", "list", "--outcome", "great"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--outcome (outcome: must be one of success"));
}
