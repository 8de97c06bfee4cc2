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
use crate::common::browser::{token_body, web_app_registration};
use crate::common::oauth::{claims_of, error_of, header_of, TestClient, API};
use crate::common::{eventually, spawn_app, Backend, TestApp, TestData};
use idp::services::registry::ClientRegistration;

crate::suite_tests! {
    on_each_backend:
        audit_events_are_listed_newest_first_with_who_what_and_when,
        audit_events_are_filtered_by_time_action_outcome_client_user_actor_and_origin,
        audit_pages_with_inserts_between_them_repeat_nothing_and_skip_nothing,
        a_bad_audit_filter_is_a_problem_naming_the_parameter,
        the_audit_trail_needs_an_audit_or_read_scope,
        revoking_a_refresh_family_refuses_its_refresh_token_and_deactivates_its_access_token,
        revoking_a_users_grants_ends_every_family_of_that_user_and_no_other,
        revoking_a_clients_grants_ends_every_family_of_that_client_and_no_other,
        an_access_token_is_revoked_by_jti_until_its_exp_or_the_longest_lifetime,
        keys_are_listed_with_their_state_and_a_rotation_publishes_successors_that_sign_later,
        an_emergency_rotation_signs_with_the_successor_at_once_on_every_node_while_old_tokens_verify,
        an_emergency_rotation_with_revoke_drops_the_old_key_and_its_tokens_at_once,
        a_forced_retire_removes_the_kid_from_the_jwks_and_its_tokens_stop_verifying,
        an_early_retire_keeps_the_key_published_until_its_tokens_have_expired,
        bad_key_requests_are_problems_naming_the_member_and_need_the_keys_scope,
        idp_grants_revoke_token_reaches_the_running_node;
    sync_test:
        idp_audit_list_prints_rfc3339_times_and_refuses_what_the_api_refuses,
        idp_grants_refuses_what_the_api_refuses_with_the_same_message,
        idp_keys_rotate_now_and_retire_go_through_the_same_service;
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

// ---------------------------------------------------------------------------------------------
// Grants and tokens

fn refreshing_app_registration() -> ClientRegistration {
    ClientRegistration {
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        first_party: true,
        ..web_app_registration()
    }
}

/// `username` signs in to `client` with `offline_access`: the token response, and the refresh
/// family it started, found as an operator finds it (the `token.issued` audit event).
async fn grant_of(app: &TestApp, client: &TestClient, username: &str) -> (Value, String) {
    let code = app.code_for(client, username, &[("scope", "openid offline_access read")]).await;
    let tokens = token_body(app.exchange(client, &code, &[]).await).await;
    let jti = claims_of(tokens["access_token"].as_str().unwrap())["jti"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let issued = app.audit_events("token.issued", 50).await;
        let family = issued.iter().find_map(|event| {
            let detail: Value = serde_json::from_str(event.detail.as_deref()?).ok()?;
            (detail["jti"] == jti.as_str()).then(|| detail["family"].as_str().map(str::to_owned)).flatten()
        });
        if let Some(family) = family {
            return (tokens, family);
        }
        assert!(tokio::time::Instant::now() < deadline, "token.issued names the family");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn refresh(app: &TestApp, client: &TestClient, tokens: &Value) -> reqwest::Response {
    let form = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    app.post_form("/token", &form, client.basic(), &[]).await
}

async fn is_active(app: &TestApp, introspector: &TestClient, tokens: &Value) -> bool {
    app.introspect(introspector, tokens["access_token"].as_str().unwrap()).await["active"] == true
}

async fn revoked_at(app: &TestApp, family_id: &str) -> Option<i64> {
    app.state.refresh_families.find(family_id).await.unwrap().expect("the family is stored").revoked_at
}

async fn revoking_a_refresh_family_refuses_its_refresh_token_and_deactivates_its_access_token(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = crate::common::browser::app_with_alice(&data, refreshing_app_registration()).await;
    let introspector = client.clone(); // a token's own client may introspect it
    let admin = app.admin_caller("admin:grants").await;
    let (tokens, family) = grant_of(&app, &client, "alice").await;
    assert!(is_active(&app, &introspector, &tokens).await);
    let path = format!("/refresh-families/{family}");

    let outsider = app.admin_caller("admin:clients").await;
    let refused = app.admin(&outsider, Method::DELETE, &path, None, &[]).await;
    assert_eq!(refused.status(), 403, "admin:clients does not reach grants");
    assert_eq!(revoked_at(&app, &family).await, None, "a refused call changes nothing");

    let response = app.admin(&admin, Method::DELETE, &path, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await, json!({ "revoked_families": 1, "revoked_access_tokens": 1 }));
    let (status, error) = error_of(refresh(&app, &client, &tokens).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "its refresh token is refused");
    assert!(!is_active(&app, &introspector, &tokens).await, "its access token is inactive");
    assert!(revoked_at(&app, &family).await.is_some(), "revoked durably");

    let again = app.admin(&admin, Method::DELETE, &path, None, &[]).await;
    assert_eq!(json_of(again).await, json!({ "revoked_families": 0, "revoked_access_tokens": 0 }), "idempotent");
    let unknown = app.admin(&admin, Method::DELETE, "/refresh-families/no-such-family", None, &[]).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["content-type"], "application/problem+json");

    let events = app.audit_events("refresh_family.revoke", 10).await;
    assert_eq!(events.len(), 2, "each call is audited");
    let first = events.iter().find(|e| e.detail.as_deref().unwrap_or("").contains("\"revoked_families\":1")).unwrap();
    assert_eq!(first.actor.as_deref(), Some(format!("client:{}", admin.client.id).as_str()));
    assert_eq!(first.target.as_deref(), Some(format!("refresh_family:{family}").as_str()));
    assert_eq!(first.client_id.as_deref(), Some(client.id.as_str()));
    assert!(first.request_id.is_some());
    app.stop().await;
}

async fn revoking_a_users_grants_ends_every_family_of_that_user_and_no_other(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = crate::common::browser::app_with_alice(&data, refreshing_app_registration()).await;
    let bob = app.create_user("bob").await;
    let alice = app.state.users.find_by_username("alice").await.unwrap().unwrap();
    let admin = app.admin_caller("admin:write").await;
    let (alice_first, _) = grant_of(&app, &client, "alice").await;
    let (alice_second, _) = grant_of(&app, &client, "alice").await;
    let (bobs, _) = grant_of(&app, &client, "bob").await;

    let path = format!("/users/{}/revoke-grants", alice.user_id);
    let response = app.admin(&admin, Method::POST, &path, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await, json!({ "revoked_families": 2, "revoked_access_tokens": 2 }));
    for tokens in [&alice_first, &alice_second] {
        assert_eq!(refresh(&app, &client, tokens).await.status(), 400, "alice's grants are revoked");
    }
    assert_eq!(refresh(&app, &client, &bobs).await.status(), 200, "bob's grant is not");
    let again = app.admin(&admin, Method::POST, &path, None, &[]).await;
    assert_eq!(json_of(again).await["revoked_families"], 0);

    let unknown = app.admin(&admin, Method::POST, "/users/no-such-user/revoke-grants", None, &[]).await;
    assert_eq!(unknown.status(), 404);
    let events = app.audit_events("user.revoke_grants", 10).await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.target.as_deref() == Some(format!("user:{}", alice.user_id).as_str())));
    assert!(events.iter().all(|e| e.user_id.as_deref() == Some(alice.user_id.as_str())));
    assert!(!events.iter().any(|e| e.user_id.as_deref() == Some(bob.user_id.as_str())));
    app.stop().await;
}

async fn revoking_a_clients_grants_ends_every_family_of_that_client_and_no_other(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = crate::common::browser::app_with_alice(&data, refreshing_app_registration()).await;
    let other = app.register_client(refreshing_app_registration()).await;
    let introspector = client.clone(); // a token's own client may introspect it
    let admin = app.admin_caller("admin:grants").await;
    let (ours, family) = grant_of(&app, &client, "alice").await;
    let (theirs, _) = grant_of(&app, &other, "alice").await;

    let path = format!("/clients/{}/revoke-grants", client.id);
    let response = app.admin(&admin, Method::POST, &path, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await, json!({ "revoked_families": 1, "revoked_access_tokens": 1 }));
    assert_eq!(refresh(&app, &client, &ours).await.status(), 400);
    assert!(!is_active(&app, &introspector, &ours).await);
    assert!(revoked_at(&app, &family).await.is_some());
    assert_eq!(refresh(&app, &other, &theirs).await.status(), 200, "another client's grant stays");

    let unknown = app.admin(&admin, Method::POST, "/clients/idp_c_nobody/revoke-grants", None, &[]).await;
    assert_eq!(unknown.status(), 404);
    let events = app.audit_events("client.revoke_grants", 10).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target.as_deref(), Some(format!("client:{}", client.id).as_str()));
    app.stop().await;
}

async fn an_access_token_is_revoked_by_jti_until_its_exp_or_the_longest_lifetime(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let service = app.service_client().await;
    let admin = app.admin_caller("admin:grants").await;
    let token = app.access_token(&service).await;
    let claims = claims_of(&token);
    let (jti, exp) = (claims["jti"].as_str().unwrap().to_owned(), claims["exp"].as_i64().unwrap());
    assert_eq!(app.introspect(&service, &token).await["active"], true);

    let body = json!({ "jti": jti, "exp": exp });
    let response = app.admin(&admin, Method::POST, "/access-tokens/revoke", Some(body), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await, json!({ "jti": jti, "revoked_access_tokens": 1, "until": exp }));
    assert_eq!(app.introspect(&service, &token).await["active"], false, "inactive at /introspect");
    assert!(app.state.revocations.is_revoked(&jti).await.unwrap(), "in the shared revoked set");

    let other = claims_of(&app.access_token(&service).await)["jti"].as_str().unwrap().to_owned();
    let response = app.admin(&admin, Method::POST, "/access-tokens/revoke", Some(json!({ "jti": other })), &[]).await;
    let body = json_of(response).await;
    assert_eq!(body["until"], app.clock.now() + 86_400, "without exp: the longest lifetime a token may have");
    assert!(app.state.revocations.is_revoked(&other).await.unwrap());

    let expired = json!({ "jti": "long-gone", "exp": app.clock.now() - 3600 });
    let body = json_of(app.admin(&admin, Method::POST, "/access-tokens/revoke", Some(expired), &[]).await).await;
    assert_eq!(body["revoked_access_tokens"], 0, "an expired token needs no revocation");

    for (body, field) in [
        (json!({ "jti": "" }), "jti"),
        (json!({ "jti": "two words" }), "jti"),
        (json!({ "exp": 5 }), "jti"),
        (json!({ "jti": "x", "colour": "red" }), "colour"),
        (json!({ "jti": "x", "exp": "tomorrow" }), "exp"),
    ] {
        let response = app.admin(&admin, Method::POST, "/access-tokens/revoke", Some(body.clone()), &[]).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json_of(response).await["errors"][0]["field"], field, "{body}");
    }
    let events = app.audit_events("access_token.revoke", 10).await;
    assert_eq!(events.len(), 3, "every revocation, none of the refused ones");
    assert!(events.iter().any(|e| e.target.as_deref() == Some(format!("access_token:{jti}").as_str())));
    app.stop().await;
}

/// Through the shared Redis, or on the embedded setup through the database the node polls.
async fn idp_grants_revoke_token_reaches_the_running_node(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let service = app.service_client().await;
    let token = app.access_token(&service).await;
    let claims = claims_of(&token);
    let jti = claims["jti"].as_str().unwrap().to_owned();
    let exp = idp::clock::rfc3339(claims["exp"].as_i64().unwrap());
    let env = data.env();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(["grants", "revoke-token", &jti, "--exp", &exp])
            .env_clear()
            .envs(env)
            .output()
            .expect("run idp")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("revoked "));
    assert!(
        eventually(std::time::Duration::from_secs(3), || async {
            app.introspect(&service, &token).await["active"] == false
        })
        .await,
        "revoked on the running node"
    );
    let events = app.audit_events("access_token.revoke", 5).await;
    assert_eq!(events[0].actor.as_deref(), Some("cli"));
    app.stop().await;
}

fn idp_grants_refuses_what_the_api_refuses_with_the_same_message() {
    let data = TestData::new(Backend::SqliteMemory);
    let refused = idp(&data, &["grants", "revoke-token", "two words"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("JTI (jti: must be 1 to 200 visible ASCII characters)"), "{stderr}");
    let revoked = idp(&data, &["grants", "revoke-token", "abc"]);
    assert!(revoked.status.success(), "the embedded store keeps it: {}", String::from_utf8_lossy(&revoked.stderr));
    assert!(String::from_utf8_lossy(&revoked.stdout).starts_with("revoked abc until "));
    let refused = idp(&data, &["grants", "revoke-family", "no-such-family"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no such refresh family"));
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("cannot start"));

    let created = idp(&data, &["users", "create", "--username", "dave", "--json"]);
    let user: Value = serde_json::from_slice(&created.stdout).unwrap();
    let revoked = idp(&data, &["grants", "revoke-user", user["user_id"].as_str().unwrap()]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    assert_eq!(String::from_utf8_lossy(&revoked.stdout).trim(), "revoked 0 refresh grant(s) and 0 access token(s)");
    let listed = idp(&data, &["audit", "list", "--action", "user.revoke_grants", "--actor", "cli", "--json"]);
    let events: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1, "audited with actor cli");
}

// ---------------------------------------------------------------------------------------------
// Signing keys

/// Seconds a retired key stays published with the default settings: the longest token
/// lifetime (ID tokens, 1 h) + the JWKS max-age (5 min) + 60 s.
const RETAIN: i64 = 3600 + 300 + 60;

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

async fn keys_of(app: &TestApp, admin: &AdminCaller) -> Vec<Value> {
    let response = app.admin(admin, Method::GET, "/keys", None, &[]).await;
    assert_eq!(response.status(), 200);
    items(&json_of(response).await).clone()
}

fn key<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter().find(|k| k["kid"] == kid).unwrap_or_else(|| panic!("{kid} is not listed: {keys:?}"))
}

async fn app_with_keys_admin(backend: Backend) -> (TestData, TestApp, AdminCaller, TestClient) {
    let (data, app, admin) = app_with_admin(backend, "admin:keys").await;
    let service = app.service_client().await;
    (data, app, admin, service)
}

async fn keys_are_listed_with_their_state_and_a_rotation_publishes_successors_that_sign_later(backend: Backend) {
    let (_data, app, admin, service) = app_with_keys_admin(backend).await;
    let keys = keys_of(&app, &admin).await;
    assert_eq!(keys.len(), 3);
    for k in &keys {
        assert_eq!(k["state"], "active", "{k}");
        assert!(k["signs_from"].is_i64() && k["created_at"].is_i64() && k["published_until"].is_null(), "{k}");
        assert!(["ES256", "RS256", "EdDSA"].contains(&k["alg"].as_str().unwrap()));
    }
    let active = kid_of(&app.access_token(&service).await);

    let response = app.admin(&admin, Method::POST, "/keys/rotate", None, &[]).await;
    assert_eq!(response.status(), 200);
    let rotated = json_of(response).await;
    let rotated = rotated["rotated"].as_array().unwrap();
    assert_eq!(rotated.len(), 3);
    assert!(rotated.iter().all(|o| o["outcome"] == "created"), "{rotated:?}");
    let es256 = rotated.iter().find(|o| o["alg"] == "ES256").unwrap();
    let successor = es256["kid"].as_str().unwrap();
    assert!(es256["signs_from"].as_i64().unwrap() > app.clock.now(), "after the publish window");

    let keys = keys_of(&app, &admin).await;
    assert_eq!(key(&keys, successor)["state"], "next");
    assert_eq!(key(&keys, &active)["state"], "active");
    assert!(app.jwks_kids().await.contains(&successor.to_owned()), "published at once");
    assert_eq!(kid_of(&app.access_token(&service).await), active, "the old key still signs");

    let again =
        json_of(app.admin(&admin, Method::POST, "/keys/rotate", Some(json!({ "algs": ["ES256"] })), &[]).await).await;
    assert_eq!(again["rotated"][0]["outcome"], "already_pending");
    let events = app.audit_events("keys.create", 20).await;
    let by_admin: Vec<_> =
        events.iter().filter(|e| e.actor.as_deref() == Some(&format!("client:{}", admin.client.id))).collect();
    assert_eq!(by_admin.len(), 3, "each created key audited with its actor");
    assert!(by_admin.iter().any(|e| e.target.as_deref() == Some(format!("key:{successor}").as_str())));
    app.stop().await;
}

async fn an_emergency_rotation_signs_with_the_successor_at_once_on_every_node_while_old_tokens_verify(
    backend: Backend,
) {
    let (data, app, admin, service) = app_with_keys_admin(backend).await;
    // A second node of the same provider (same issuer, database and hot store).
    let other_node = crate::common::spawn_app_with_env(&data, &[("IDP_ISSUER", &app.address)]).await;
    let old_token = app.access_token(&service).await;
    let old = kid_of(&old_token);
    // A successor published on schedule's terms, then an emergency: it is promoted.
    let body = json!({ "algs": ["ES256"] });
    let scheduled = json_of(app.admin(&admin, Method::POST, "/keys/rotate", Some(body), &[]).await).await;
    let pending = scheduled["rotated"][0]["kid"].as_str().unwrap().to_owned();

    let body = json!({ "algs": ["ES256"], "now": true });
    let response = app.admin(&admin, Method::POST, "/keys/rotate", Some(body), &[]).await;
    assert_eq!(response.status(), 200);
    let outcome = json_of(response).await["rotated"][0].clone();
    let now = app.clock.now();
    assert_eq!(outcome["outcome"], "signs_now");
    assert_eq!(outcome["kid"], pending.as_str(), "the published successor is promoted");
    assert_eq!(outcome["promoted"], true);
    assert_eq!(outcome["signs_from"], now);
    assert_eq!(outcome["replaced"], json!({ "kid": old, "published_until": now + RETAIN, "dropped": false }));

    let new_token = app.access_token(&service).await;
    assert_eq!(kid_of(&new_token), pending, "new tokens carry the new kid at once");
    assert_eq!(app.introspect(&service, &old_token).await["active"], true, "old tokens still verify");
    assert_eq!(app.introspect(&service, &new_token).await["active"], true);
    let keys = keys_of(&app, &admin).await;
    assert_eq!(key(&keys, &old)["state"], "retired");
    assert_eq!(key(&keys, &old)["published_until"], now + RETAIN);
    assert_eq!(key(&keys, &pending)["state"], "active");
    assert!(app.jwks_kids().await.contains(&old), "the old key stays published");

    // Another node signs with the successor as soon as it hears of the change.
    let other_service = TestClient { id: service.id.clone(), secret: service.secret.clone() };
    let moved = eventually(std::time::Duration::from_secs(5), || async {
        kid_of(&other_node.access_token(&other_service).await) == pending
    })
    .await;
    assert!(moved, "the other node signs with the promoted key");
    assert_eq!(other_node.introspect(&service, &old_token).await["active"], true);

    let events = app.audit_events("keys.rotate", 5).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target.as_deref(), Some(format!("key:{pending}").as_str()));
    assert_eq!(events[0].actor.as_deref(), Some(format!("client:{}", admin.client.id).as_str()));
    other_node.stop().await;
    app.stop().await;
}

async fn an_emergency_rotation_with_revoke_drops_the_old_key_and_its_tokens_at_once(backend: Backend) {
    let (_data, app, admin, service) = app_with_keys_admin(backend).await;
    let old_token = app.access_token(&service).await;
    let old = kid_of(&old_token);
    let body = json!({ "algs": ["ES256"], "now": true, "revoke": true });
    let outcome = json_of(app.admin(&admin, Method::POST, "/keys/rotate", Some(body), &[]).await).await;
    let outcome = &outcome["rotated"][0];
    assert_eq!(outcome["promoted"], false, "no successor was waiting: a new key");
    assert_eq!(outcome["replaced"], json!({ "kid": old, "published_until": null, "dropped": true }));
    let new = outcome["kid"].as_str().unwrap();
    assert!(!app.jwks_kids().await.contains(&old), "gone from the JWKS");
    assert!(app.jwks_kids().await.contains(&new.to_owned()));
    assert_eq!(app.introspect(&service, &old_token).await["active"], false, "its tokens no longer verify");
    let new_token = app.access_token(&service).await;
    assert_eq!(kid_of(&new_token), new);
    assert_eq!(app.introspect(&service, &new_token).await["active"], true);
    app.stop().await;
}

async fn a_forced_retire_removes_the_kid_from_the_jwks_and_its_tokens_stop_verifying(backend: Backend) {
    let (_data, app, admin, service) = app_with_keys_admin(backend).await;
    let old_token = app.access_token(&service).await;
    let old = kid_of(&old_token);
    let response =
        app.admin(&admin, Method::POST, &format!("/keys/{old}/retire"), Some(json!({ "force": true })), &[]).await;
    assert_eq!(response.status(), 200);
    let retired = json_of(response).await;
    assert_eq!(retired["kid"], old.as_str());
    assert_eq!(retired["previous_state"], "active");
    assert_eq!(retired["removed"], true);
    assert!(retired["published_until"].is_null());
    let successor = retired["successor"].as_str().unwrap().to_owned();

    assert!(!app.jwks_kids().await.contains(&old), "the kid left the JWKS at once");
    assert_eq!(app.introspect(&service, &old_token).await["active"], false);
    assert_eq!(kid_of(&app.access_token(&service).await), successor, "its successor signs");
    // The admin caller's own token was signed by that key too: it needs a new one.
    assert_eq!(app.admin(&admin, Method::GET, "/keys", None, &[]).await.status(), 401);
    let admin = AdminCaller { token: app.admin_token(&admin.client, &admin.key).await, ..admin };
    assert!(keys_of(&app, &admin).await.iter().all(|k| k["kid"] != old.as_str()));
    let events = app.audit_events("keys.retire", 5).await;
    assert_eq!(events.len(), 1);
    let detail: Value = serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!((detail["force"].clone(), detail["removed"].clone()), (json!(true), json!(true)));

    let gone = app.admin(&admin, Method::POST, &format!("/keys/{old}/retire"), None, &[]).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

async fn an_early_retire_keeps_the_key_published_until_its_tokens_have_expired(backend: Backend) {
    let (_data, app, admin, service) = app_with_keys_admin(backend).await;
    let old_token = app.access_token(&service).await;
    let old = kid_of(&old_token);
    let retired = json_of(app.admin(&admin, Method::POST, &format!("/keys/{old}/retire"), None, &[]).await).await;
    let now = app.clock.now();
    assert_eq!(retired["removed"], false);
    assert_eq!(retired["published_until"], now + RETAIN);
    let successor = retired["successor"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&app.access_token(&service).await), successor, "it no longer signs");
    assert_eq!(app.introspect(&service, &old_token).await["active"], true, "what it signed still verifies");
    assert!(app.jwks_kids().await.contains(&old));

    // A `next` key never signed anything: retiring it removes it at once.
    let scheduled =
        json_of(app.admin(&admin, Method::POST, "/keys/rotate", Some(json!({ "algs": ["EdDSA"] })), &[]).await).await;
    let pending = scheduled["rotated"][0]["kid"].as_str().unwrap().to_owned();
    let dropped = json_of(app.admin(&admin, Method::POST, &format!("/keys/{pending}/retire"), None, &[]).await).await;
    assert_eq!((dropped["previous_state"].clone(), dropped["removed"].clone()), (json!("next"), json!(true)));
    assert!(!app.jwks_kids().await.contains(&pending));

    app.clock.advance(std::time::Duration::from_secs(RETAIN as u64 + 1));
    let left = eventually(std::time::Duration::from_secs(5), || async { !app.jwks_kids().await.contains(&old) }).await;
    assert!(left, "it leaves the JWKS once nothing it signed can be valid");
    assert!(app.jwks_kids().await.contains(&successor));
    app.stop().await;
}

async fn bad_key_requests_are_problems_naming_the_member_and_need_the_keys_scope(backend: Backend) {
    let (_data, app, admin, _service) = app_with_keys_admin(backend).await;
    let before = app.jwks_kids().await;
    for (body, field) in [
        (json!({ "algs": ["HS256"] }), "algs[0]"),
        (json!({ "algs": ["ES256", "none"] }), "algs[1]"),
        (json!({ "revoke": true }), "revoke"),
        (json!({ "now": "yes" }), "now"),
        (json!({ "immediately": true }), "immediately"),
    ] {
        let response = app.admin(&admin, Method::POST, "/keys/rotate", Some(body.clone()), &[]).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(json_of(response).await["errors"][0]["field"], field, "{body}");
    }
    let problem =
        json_of(app.admin(&admin, Method::POST, "/keys/rotate", Some(json!({ "algs": ["HS256"] })), &[]).await).await;
    assert_eq!(problem["errors"][0]["message"], "must be one of ES256, RS256, EdDSA");
    let kid = before[0].clone();
    let bad = app.admin(&admin, Method::POST, &format!("/keys/{kid}/retire"), Some(json!({ "force": 1 })), &[]).await;
    assert_eq!(json_of(bad).await["errors"][0]["field"], "force");

    let grants_only = app.admin_caller("admin:grants").await;
    assert_eq!(app.admin(&grants_only, Method::GET, "/keys", None, &[]).await.status(), 403);
    let reader = app.admin_caller("admin:read").await;
    assert_eq!(app.admin(&reader, Method::GET, "/keys", None, &[]).await.status(), 200);
    let refused = app.admin(&reader, Method::POST, "/keys/rotate", Some(json!({ "now": true })), &[]).await;
    assert_eq!(refused.status(), 403);
    let refused = app.admin(&reader, Method::POST, &format!("/keys/{kid}/retire"), None, &[]).await;
    assert_eq!(refused.status(), 403);
    let mut after = app.jwks_kids().await;
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(before, after, "nothing changed");
    assert!(app.audit_events("keys.rotate", 5).await.is_empty() && app.audit_events("keys.retire", 5).await.is_empty());
    app.stop().await;
}

fn idp_keys_rotate_now_and_retire_go_through_the_same_service() {
    let data = TestData::new(Backend::SqliteMemory);
    let refused = idp(&data, &["keys", "rotate", "--revoke"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--revoke (revoke: needs now: the old key can go only once its successor signs)"),
        "{stderr}"
    );
    let refused = idp(&data, &["keys", "rotate", "--alg", "HS256"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--alg (algs[0]: must be one of ES256, RS256, EdDSA)"));

    let listed: Value = serde_json::from_slice(&idp(&data, &["keys", "list", "--json"]).stdout).unwrap();
    let old =
        listed.as_array().unwrap().iter().find(|k| k["alg"] == "ES256").unwrap()["kid"].as_str().unwrap().to_owned();
    let rotated = idp(&data, &["keys", "rotate", "--now", "--revoke", "--alg", "ES256", "--json"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let outcomes: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_eq!(outcomes[0]["outcome"], "signs_now");
    assert_eq!(outcomes[0]["replaced"]["kid"], old.as_str());
    assert_eq!(outcomes[0]["replaced"]["dropped"], true);
    let new = outcomes[0]["kid"].as_str().unwrap().to_owned();

    let listed = idp(&data, &["keys", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(!text.contains(&old), "dropped: {text}");
    let line = text.lines().find(|l| l.starts_with(&new)).unwrap();
    assert!(line.contains("active") && line.contains('T') && line.contains('Z'), "RFC 3339 times: {line}");

    let retired = idp(&data, &["keys", "retire", &new, "--force"]);
    assert!(retired.status.success(), "{}", String::from_utf8_lossy(&retired.stderr));
    assert!(String::from_utf8_lossy(&retired.stdout).contains(&format!("{new} is removed from the JWKS")));
    let missing = idp(&data, &["keys", "retire", &new]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such signing key"));
    let audited = idp(&data, &["audit", "list", "--actor", "cli", "--action", "keys.retire", "--json"]);
    let events: Value = serde_json::from_slice(&audited.stdout).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
}
