//! Groups: kept by operators through the admin API, released to apps as the `groups` claim in
//! the ID token and userinfo when the user grants the `groups` scope, and in the access tokens
//! of resource servers that opted in (`include_groups`).

use idp::services::audit::Actor;
use idp::services::registry::ClientRegistration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::browser::{app_with_alice, token_body, web_app_registration};
use crate::common::oauth::{claims_of, API};
use crate::common::{spawn_app, Backend, TestData};

crate::suite_tests! {
    on_each_backend:
        a_group_is_created_renamed_given_members_and_deleted,
        the_groups_scope_releases_group_names_to_the_id_token_userinfo_and_an_opted_in_api;
}

async fn a_group_is_created_renamed_given_members_and_deleted(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let hr = app.admin_caller("admin:users").await;
    let alice = app.create_user("alice").await;

    let created = app.admin(&hr, Method::POST, "/groups", Some(json!({ "name": "engineering" })), &[]).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let group: Value = created.json().await.unwrap();
    let path = format!("/groups/{}", group["group_id"].as_str().unwrap());
    assert_eq!(location, format!("/admin/v1{path}"));
    assert_eq!(group["members"], 0);
    let twice = app.admin(&hr, Method::POST, "/groups", Some(json!({ "name": "engineering" })), &[]).await;
    assert_eq!(twice.status(), 409);

    let member = json!({ "user_id": alice.user_id });
    assert_eq!(app.admin(&hr, Method::POST, &format!("{path}/members"), Some(member.clone()), &[]).await.status(), 204);
    assert_eq!(app.admin(&hr, Method::POST, &format!("{path}/members"), Some(member), &[]).await.status(), 204);
    let nobody = json!({ "user_id": "no-such-user" });
    let refused = app.admin(&hr, Method::POST, &format!("{path}/members"), Some(nobody), &[]).await;
    assert_eq!(refused.json::<Value>().await.unwrap()["errors"][0]["field"], "user_id");
    let members: Value = app.admin(&hr, Method::GET, &format!("{path}/members"), None, &[]).await.json().await.unwrap();
    assert_eq!(members["items"], json!([{ "user_id": alice.user_id }]));
    assert_eq!(app.state.groups.names_of(&alice.user_id).await.unwrap(), ["engineering"]);

    let url = app.url(&format!("/admin/v1{path}"));
    let proof = hr.key.proof("PATCH", &url, None, Some(&hr.token));
    let renamed = app
        .http
        .patch(&url)
        .header("Authorization", format!("DPoP {}", hr.token))
        .header("DPoP", proof)
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({ "name": "platform" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert_eq!(app.state.groups.names_of(&alice.user_id).await.unwrap(), ["platform"]);

    let removed = app.admin(&hr, Method::DELETE, &format!("{path}/members/{}", alice.user_id), None, &[]).await;
    assert_eq!(removed.status(), 204);
    assert!(app.state.groups.names_of(&alice.user_id).await.unwrap().is_empty());
    assert_eq!(app.admin(&hr, Method::DELETE, &path, None, &[]).await.status(), 204);
    assert_eq!(app.admin(&hr, Method::GET, &path, None, &[]).await.status(), 404);
    let actions: Vec<String> = app.audit_events("group.member.add", 5).await.into_iter().map(|e| e.action).collect();
    assert_eq!(actions.len(), 2, "each add is audited");
    app.stop().await;
}

async fn the_groups_scope_releases_group_names_to_the_id_token_userinfo_and_an_opted_in_api(backend: Backend) {
    let data = TestData::new(backend);
    let registration = ClientRegistration { scope: "openid profile groups read".into(), ..web_app_registration() };
    let (app, client) = app_with_alice(&data, registration).await;
    let alice = app.state.users.find_by_username("alice").await.unwrap().unwrap();
    let by = Actor::cli();
    for name in ["engineering", "on-call"] {
        let group = app.state.groups.create(name, &by).await.unwrap();
        app.state.groups.add_member(&group.group_id, &alice.user_id, &by).await.unwrap();
    }

    // Without the groups scope, no group names anywhere.
    let code = app.code_for(&client, "alice", &[("scope", "openid profile read")]).await;
    let body = token_body(app.exchange(&client, &code, &[]).await).await;
    assert!(claims_of(body["id_token"].as_str().unwrap()).get("groups").is_none());

    // With it: the ID token; the API's token only once the API opts in.
    let code = app.code_for(&client, "alice", &[("scope", "openid profile groups read")]).await;
    let body = token_body(app.exchange(&client, &code, &[]).await).await;
    assert_eq!(claims_of(body["id_token"].as_str().unwrap())["groups"], json!(["engineering", "on-call"]));
    assert!(claims_of(body["access_token"].as_str().unwrap()).get("groups").is_none(), "the API did not opt in");

    let api = app.state.registry.resource(API).unwrap();
    let opted_in = idp::services::registry::ResourceRegistration { include_groups: true, ..api.registration() };
    app.state.registry.update_resource(API, opted_in, None, &by).await.unwrap();
    let code = app.code_for(&client, "alice", &[("scope", "openid profile groups read")]).await;
    let body = token_body(app.exchange(&client, &code, &[("resource", API)]).await).await;
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["groups"], json!(["engineering", "on-call"]));

    // userinfo with a token for the provider itself.
    let code = app.code_for(&client, "alice", &[("scope", "openid groups")]).await;
    let body = token_body(app.exchange(&client, &code, &[("resource", &app.address)]).await).await;
    let token = body["access_token"].as_str().unwrap();
    let userinfo: Value =
        app.http.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(userinfo["groups"], json!(["engineering", "on-call"]));
    app.stop().await;
}
