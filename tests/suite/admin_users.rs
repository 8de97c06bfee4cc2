//! `/admin/v1/users`: what an operator (or an HR connector with `admin:users`) does to people,
//! through the same users service the CLI and the sign-in pages use.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::admin::AdminCaller;
use crate::common::{spawn_app, Backend, TestApp, TestData};

crate::suite_tests! {
    on_each_backend:
        a_user_is_created_with_or_without_a_password_and_signs_in_only_with_one,
        users_are_searched_by_username_or_email_prefix_in_stable_pages,
        a_profile_patch_changes_what_it_names_and_a_stale_one_changes_nothing,
        a_password_is_set_disabling_stops_sign_in_and_deleting_removes_the_user,
        a_sign_in_lock_is_lifted_and_consents_are_listed_and_withdrawn;
}

async fn app_with_hr(backend: Backend) -> (TestData, TestApp, AdminCaller) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let hr = app.admin_caller("admin:users").await;
    (data, app, hr)
}

async fn create(app: &TestApp, caller: &AdminCaller, body: Value) -> Value {
    let response = app.admin(caller, Method::POST, "/users", Some(body), &[]).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn a_user_is_created_with_or_without_a_password_and_signs_in_only_with_one(backend: Backend) {
    let (_data, app, hr) = app_with_hr(backend).await;
    let response = app
        .admin(
            &hr,
            Method::POST,
            "/users",
            Some(json!({ "username": "Alice", "email": "alice@example.test", "password": "correct horse battery" })),
            &[],
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let alice: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/admin/v1/users/{}", alice["user_id"].as_str().unwrap()));
    assert_eq!(alice["username"], "alice", "usernames are kept in lowercase");
    assert_eq!(alice["has_password"], true);
    assert!(alice.get("password").is_none() && !alice.to_string().contains("argon2"), "no password or hash shown");
    assert!(app.state.users.authenticate("alice", "correct horse battery").await.unwrap().is_some());

    let bob = create(&app, &hr, json!({ "username": "bob" })).await;
    assert_eq!(bob["has_password"], false, "provisioned without a password");
    assert!(app.state.users.authenticate("bob", "").await.unwrap().is_none());

    let again = app.admin(&hr, Method::POST, "/users", Some(json!({ "username": "ALICE" })), &[]).await;
    assert_eq!(again.status(), 409);
    let short =
        app.admin(&hr, Method::POST, "/users", Some(json!({ "username": "carol", "password": "short" })), &[]).await;
    assert_eq!(short.status(), 400);
    assert_eq!(short.json::<Value>().await.unwrap()["errors"][0]["field"], "password");
    let bad = app
        .admin(&hr, Method::POST, "/users", Some(json!({ "username": "carol", "email": "not-an-address" })), &[])
        .await;
    assert_eq!(bad.json::<Value>().await.unwrap()["errors"][0]["field"], "email");
    assert!(app.state.users.find_by_username("carol").await.unwrap().is_none(), "nothing was created");
    app.stop().await;
}

async fn users_are_searched_by_username_or_email_prefix_in_stable_pages(backend: Backend) {
    let (_data, app, hr) = app_with_hr(backend).await;
    for name in ["ann", "anna", "annika", "bert", "an_x"] {
        create(&app, &hr, json!({ "username": name, "email": format!("{name}@corp.test") })).await;
    }
    create(&app, &hr, json!({ "username": "zed", "email": "Annette@corp.test" })).await;
    let search = |path: &'static str| {
        let (app, hr) = (&app, &hr);
        async move {
            let mut names = Vec::new();
            let mut next = Some(path.to_owned());
            while let Some(path) = next {
                let page: Value = app.admin(hr, Method::GET, &path, None, &[]).await.json().await.unwrap();
                names.extend(
                    page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()),
                );
                next = page["next"].as_str().map(|n| n.trim_start_matches("/admin/v1").to_owned());
                // A new user arrives between two pages.
                create(app, hr, json!({ "username": format!("ann-{}", uuid::Uuid::new_v4().simple()) })).await;
            }
            names
        }
    };
    let found = search("/users?q=ann&limit=2").await;
    let unique: HashSet<_> = found.iter().collect();
    assert_eq!(unique.len(), found.len(), "no user on two pages");
    for name in ["ann", "anna", "annika"] {
        assert!(found.contains(&name.to_owned()), "{name} in {found:?}");
    }
    assert!(!found.contains(&"bert".to_owned()));
    let by_email: Vec<String> = search("/users?q=Annette").await;
    assert_eq!(by_email, ["zed"], "an email prefix finds the user");
    let literal: Vec<String> = search("/users?q=an_").await;
    assert_eq!(literal, ["an_x"], "`_` is not a wildcard");
    app.stop().await;
}

async fn a_profile_patch_changes_what_it_names_and_a_stale_one_changes_nothing(backend: Backend) {
    let (_data, app, hr) = app_with_hr(backend).await;
    let dana =
        create(&app, &hr, json!({ "username": "dana", "name": "Dana Example", "email": "dana@corp.test" })).await;
    let path = format!("/users/{}", dana["user_id"].as_str().unwrap());
    let read = app.admin(&hr, Method::GET, &path, None, &[]).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let url = app.url(&format!("/admin/v1{path}"));
    let patch = |body: Value, if_match: Option<String>| {
        let (app, hr, url) = (&app, &hr, url.clone());
        async move {
            let proof = hr.key.proof("PATCH", &url, None, Some(&hr.token));
            let mut request = app
                .http
                .patch(&url)
                .header("Authorization", format!("DPoP {}", hr.token))
                .header("DPoP", proof)
                .header("Content-Type", "application/merge-patch+json")
                .body(body.to_string());
            if let Some(tag) = if_match {
                request = request.header("If-Match", tag);
            }
            request.send().await.unwrap()
        }
    };
    let changed = patch(json!({ "email": "dana.e@corp.test", "name": null }), Some(etag.clone())).await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["email"], "dana.e@corp.test");
    assert_eq!(changed["name"], Value::Null, "null removes");
    assert_eq!(changed["username"], "dana", "what the patch does not name stays");

    let stale = patch(json!({ "email": "other@corp.test" }), Some(etag)).await;
    assert_eq!(stale.status(), 412);
    let not_here = patch(json!({ "password": "a new password" }), None).await;
    assert_eq!(not_here.status(), 400);
    assert_eq!(not_here.json::<Value>().await.unwrap()["errors"][0]["field"], "password", "it has its own call");
    let user = app.state.users.find_by_username("dana").await.unwrap().unwrap();
    assert_eq!(user.email.as_deref(), Some("dana.e@corp.test"));
    app.stop().await;
}

async fn a_password_is_set_disabling_stops_sign_in_and_deleting_removes_the_user(backend: Backend) {
    let (_data, app, hr) = app_with_hr(backend).await;
    let erin = create(&app, &hr, json!({ "username": "erin" })).await;
    let path = format!("/users/{}", erin["user_id"].as_str().unwrap());
    let set = app
        .admin(&hr, Method::PUT, &format!("{path}/password"), Some(json!({ "password": "a long passphrase" })), &[])
        .await;
    assert_eq!(set.status(), 204);
    assert!(app.state.users.authenticate("erin", "a long passphrase").await.unwrap().is_some());

    let disabled: Value =
        app.admin(&hr, Method::POST, &format!("{path}/disable"), None, &[]).await.json().await.unwrap();
    assert_eq!(disabled["user"]["enabled"], false);
    assert_eq!(disabled["revoked_grants"], 0);
    assert!(app.state.users.authenticate("erin", "a long passphrase").await.unwrap().is_none(), "disabled");
    app.admin(&hr, Method::POST, &format!("{path}/enable"), None, &[]).await;
    assert!(app.state.users.authenticate("erin", "a long passphrase").await.unwrap().is_some(), "enabled again");

    assert_eq!(app.admin(&hr, Method::DELETE, &path, None, &[]).await.status(), 204);
    assert_eq!(app.admin(&hr, Method::GET, &path, None, &[]).await.status(), 404);
    assert!(app.state.users.find_by_username("erin").await.unwrap().is_none());
    let deleted = app.audited("user.delete").await;
    assert_eq!(deleted[0].actor.as_deref(), Some(format!("client:{}", hr.client.id).as_str()));
    app.stop().await;
}

async fn a_sign_in_lock_is_lifted_and_consents_are_listed_and_withdrawn(backend: Backend) {
    let (_data, app, hr) = app_with_hr(backend).await;
    let fay = create(&app, &hr, json!({ "username": "fay", "password": "correct horse battery" })).await;
    let path = format!("/users/{}", fay["user_id"].as_str().unwrap());
    assert_eq!(app.admin(&hr, Method::POST, &format!("{path}/unlock"), None, &[]).await.status(), 204);
    assert!(!app.audited("user.unlock").await.is_empty(), "audited");
    let consents = app.admin(&hr, Method::GET, &format!("{path}/consents"), None, &[]).await;
    assert_eq!(consents.status(), 200);
    assert_eq!(consents.json::<Value>().await.unwrap(), json!([]));
    let none = app.admin(&hr, Method::DELETE, &format!("{path}/consents/idp_c_nonexistent0000000000"), None, &[]).await;
    assert_eq!(none.status(), 404);
    let reader = app.admin_caller("admin:read").await;
    assert_eq!(app.admin(&reader, Method::POST, &format!("{path}/unlock"), None, &[]).await.status(), 403);
    assert_eq!(app.admin(&reader, Method::GET, &path, None, &[]).await.status(), 200);
    app.stop().await;
}
