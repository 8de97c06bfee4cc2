//! SCIM 2.0 at `/scim/v2` (RFC 7643, RFC 7644): what an HR connector does to people, through
//! the same users service the admin API, the CLI and the sign-in pages use.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::browser::{token_body, web_app_registration};
use crate::common::dpop::DpopKey;
use crate::common::oauth::{error_of, TestClient, API};
use crate::common::scim::ScimCaller;
use crate::common::{spawn_app, Backend, TestApp, TestData};
use idp::services::registry::ClientRegistration;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

crate::suite_tests! {
    on_each_backend:
        a_user_is_created_read_and_deleted_in_scim_shapes,
        filters_select_users_by_every_kept_attribute_and_refuse_the_rest,
        lists_sort_paginate_and_show_only_the_attributes_asked_for,
        put_replaces_the_user_and_a_stale_if_match_changes_nothing,
        patch_adds_replaces_and_removes_with_and_without_paths,
        a_refused_patch_operation_changes_nothing,
        deactivating_a_user_revokes_their_grants_and_stops_sign_in,
        tokens_for_another_audience_or_without_a_proof_they_need_are_refused,
        discovery_documents_are_served_without_a_token_and_describe_what_is_kept,
        groups_are_created_with_members_changed_by_patch_filtered_and_deleted;
}

async fn app_with_connector(backend: Backend) -> (TestData, TestApp, ScimCaller) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let hr = app.scim_caller("scim").await;
    (data, app, hr)
}

async fn create(app: &TestApp, hr: &ScimCaller, body: Value) -> Value {
    let response = app.scim(hr, Method::POST, "/Users", Some(body)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn user(user_name: &str, extra: Value) -> Value {
    let mut body = json!({ "schemas": [USER], "userName": user_name });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

/// The status, and the `scimType` of a SCIM error (checking its shape).
async fn scim_error(response: reqwest::Response) -> (u16, Option<String>) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], json!(status.to_string()), "status as a string: {body}");
    assert!(body["detail"].is_string(), "{body}");
    (status, body["scimType"].as_str().map(str::to_owned))
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn list(app: &TestApp, hr: &ScimCaller, query: &str) -> Value {
    let response = app.scim(hr, Method::GET, &format!("/Users?{query}"), None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(body["schemas"], json!([LIST]));
    body
}

/// The userNames a filter selects, sorted.
async fn selected(app: &TestApp, hr: &ScimCaller, filter: &str) -> Vec<String> {
    let body = list(app, hr, &format!("filter={}", encoded(filter))).await;
    let mut names: Vec<String> =
        body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()).collect();
    names.sort();
    assert_eq!(body["totalResults"], json!(names.len()), "{filter}");
    names
}

async fn a_user_is_created_read_and_deleted_in_scim_shapes(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let body = user(
        "BJensen",
        json!({
            "externalId": "E-701",
            "name": { "formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara" },
            "displayName": "Babs Jensen",
            "emails": [{ "value": "bjensen@example.com", "type": "work", "primary": true }],
            "password": "t1meMa$heen-long",
            "phoneNumbers": [{ "value": "555-555-8377", "type": "work" }],
        }),
    );
    let response = app.scim(&hr, Method::POST, "/Users", Some(body)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, app.url(&format!("/scim/v2/Users/{id}")));
    assert_eq!(created["schemas"], json!([USER]));
    assert_eq!(created["userName"], "bjensen", "userName is kept in lowercase");
    assert_eq!(created["name"]["formatted"], "Ms. Barbara J Jensen III");
    assert_eq!(created["emails"], json!([{ "value": "bjensen@example.com", "type": "work" }]));
    assert_eq!(created["active"], true);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["location"], json!(location));
    assert_eq!(created["meta"]["version"], json!(etag));
    assert!(created.get("password").is_none() && created.get("phoneNumbers").is_none());
    assert!(app.state.users.authenticate("bjensen", "t1meMa$heen-long").await.unwrap().is_some(), "signs in");
    let audited = app.audited("user.create").await;
    assert_eq!(audited[0].actor.as_deref(), Some(format!("client:{}", hr.client.id).as_str()));

    let read = app.scim(&hr, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(read.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(read.json::<Value>().await.unwrap(), created);
    let unchanged =
        app.scim_with(&hr.token, Method::GET, &format!("/Users/{id}"), None, &[("If-None-Match", &etag)]).await;
    assert_eq!(unchanged.status(), 304);

    let again = app.scim(&hr, Method::POST, "/Users", Some(user("bjensen", json!({})))).await;
    assert_eq!(scim_error(again).await, (409, Some("uniqueness".into())));
    let no_schema = app.scim(&hr, Method::POST, "/Users", Some(json!({ "userName": "carol" }))).await;
    assert_eq!(scim_error(no_schema).await, (400, Some("invalidSyntax".into())));
    let no_name = app.scim(&hr, Method::POST, "/Users", Some(json!({ "schemas": [USER] }))).await;
    assert_eq!(scim_error(no_name).await, (400, Some("invalidValue".into())));
    let bad_email =
        app.scim(&hr, Method::POST, "/Users", Some(user("carol", json!({"emails": [{"value": "nope"}]})))).await;
    assert_eq!(scim_error(bad_email).await, (400, Some("invalidValue".into())));
    let not_json =
        app.scim_with(&hr.token, Method::POST, "/Users", None, &[("Content-Type", "application/scim+json")]).await;
    assert_eq!(scim_error(not_json).await, (400, Some("invalidSyntax".into())));

    let deleted = app.scim(&hr, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(scim_error(app.scim(&hr, Method::GET, &format!("/Users/{id}"), None).await).await, (404, None));
    assert_eq!(scim_error(app.scim(&hr, Method::DELETE, &format!("/Users/{id}"), None).await).await, (404, None));
    assert!(app.state.users.find_by_username("bjensen").await.unwrap().is_none());
    app.stop().await;
}

async fn filters_select_users_by_every_kept_attribute_and_refuse_the_rest(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let ann = create(
        &app,
        &hr,
        user(
            "ann.lee",
            json!({"externalId": "E-1", "displayName": "Ann Lee", "name": {"givenName": "Ann", "familyName": "Lee"},
                   "emails": [{"value": "ann@corp.example"}]}),
        ),
    )
    .await;
    create(
        &app,
        &hr,
        user(
            "bob.stone",
            json!({"externalId": "e-1", "name": {"familyName": "Stone"}, "emails": [{"value": "Bob@Other.example"}],
                   "active": false}),
        ),
    )
    .await;
    create(&app, &hr, user("cleo.park", json!({"displayName": "Cleo", "name": {"familyName": "Park"}}))).await;
    let ann_id = ann["id"].as_str().unwrap();

    for (filter, expected) in [
        (r#"userName eq "ANN.LEE""#, vec!["ann.lee"]),
        (r#"UserName Eq "bob.stone""#, vec!["bob.stone"]),
        (r#"emails[type eq "work"].value eq "bob@other.EXAMPLE""#, vec!["bob.stone"]),
        (r#"emails[type eq "work" and value ew "corp.example"]"#, vec!["ann.lee"]),
        (r#"emails[type eq "home"]"#, vec![]),
        (r#"emails.value co "@""#, vec!["ann.lee", "bob.stone"]),
        (r#"name.familyName sw "s""#, vec!["bob.stone"]),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "ann""#, vec!["ann.lee"]),
        (r#"displayName co "LEE""#, vec!["ann.lee"]),
        (r#"externalId eq "E-1""#, vec!["ann.lee"]),
        (r#"externalId sw "e""#, vec!["bob.stone"]),
        (r#"externalId ne "E-1""#, vec!["bob.stone", "cleo.park"]),
        ("active eq false", vec!["bob.stone"]),
        ("not (active eq false)", vec!["ann.lee", "cleo.park"]),
        ("emails pr", vec!["ann.lee", "bob.stone"]),
        ("not (emails pr)", vec!["cleo.park"]),
        ("displayName eq null", vec!["bob.stone"]),
        (r#"(userName sw "a" or userName sw "c") and not (displayName eq "cleo")"#, vec!["ann.lee"]),
        (r#"userName sw "a" or userName sw "c" and displayName eq "Ann Lee""#, vec!["ann.lee"]),
        (r#"userName gt "b""#, vec!["bob.stone", "cleo.park"]),
        (r#"userName co "%""#, vec![]),
        (r#"meta.lastModified gt "2000-01-01T00:00:00Z""#, vec!["ann.lee", "bob.stone", "cleo.park"]),
        (r#"meta.created lt "2000-01-01T00:00:00+02:00""#, vec![]),
        (&format!(r#"id eq "{ann_id}""#), vec!["ann.lee"]),
        (r#"meta.resourceType eq "User" and name pr"#, vec!["ann.lee", "bob.stone", "cleo.park"]),
    ] {
        assert_eq!(selected(&app, &hr, filter).await, expected, "{filter}");
    }

    for filter in [
        r#"userName xx "a""#,
        r#"userName eq "a" and"#,
        r#"title eq "Tour Guide""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
        "active gt true",
        r#"userName eq 5"#,
        r#"meta.created gt "last week""#,
        &format!(r#"userName eq "{}""#, "a".repeat(3000)),
    ] {
        let response = app.scim(&hr, Method::GET, &format!("/Users?filter={}", encoded(filter)), None).await;
        assert_eq!(
            scim_error(response).await,
            (400, Some("invalidFilter".into())),
            "{}",
            &filter[..filter.len().min(60)]
        );
    }
    app.stop().await;
}

async fn lists_sort_paginate_and_show_only_the_attributes_asked_for(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    for (name, family) in [("u1", "Adams"), ("u2", "Baker"), ("u3", "clark"), ("u4", "Davis")] {
        create(
            &app,
            &hr,
            user(name, json!({"name": {"familyName": family}, "emails": [{"value": format!("{name}@x.example")}]})),
        )
        .await;
    }
    create(&app, &hr, user("u5", json!({}))).await;

    let page = list(&app, &hr, "sortBy=name.familyName&sortOrder=descending&startIndex=2&count=2").await;
    assert_eq!(
        (page["totalResults"].clone(), page["itemsPerPage"].clone(), page["startIndex"].clone()),
        (json!(5), json!(2), json!(2))
    );
    let names = |page: &Value| -> Vec<String> {
        page["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&page), ["u3", "u2"], "clark sorts among the others without case");
    let ascending = list(&app, &hr, "sortBy=name.familyName").await;
    assert_eq!(names(&ascending), ["u1", "u2", "u3", "u4", "u5"], "a user without the value comes last");
    let descending = list(&app, &hr, "sortBy=name.familyName&sortOrder=DESCENDING").await;
    assert_eq!(names(&descending), ["u4", "u3", "u2", "u1", "u5"]);

    let mut walked = Vec::new();
    let mut start = 1;
    loop {
        let page = list(&app, &hr, &format!("sortBy=userName&startIndex={start}&count=2")).await;
        let got = names(&page);
        if got.is_empty() {
            break;
        }
        start += got.len();
        walked.extend(got);
    }
    assert_eq!(walked, ["u1", "u2", "u3", "u4", "u5"], "each user on one page");
    let counted = list(&app, &hr, "count=0").await;
    assert_eq!((counted["totalResults"].clone(), counted["Resources"].clone()), (json!(5), json!([])));
    assert_eq!(list(&app, &hr, "count=1000&startIndex=-3").await["startIndex"], 1, "clamped, not refused");

    let only = list(&app, &hr, "filter=userName%20eq%20%22u1%22&attributes=userName,name.familyName").await;
    let shown = &only["Resources"][0];
    let keys: Vec<&str> = shown.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["schemas", "id", "userName", "name"]);
    assert_eq!(shown["name"], json!({"familyName": "Adams"}));
    let without = list(&app, &hr, "filter=userName%20eq%20%22u1%22&excludedAttributes=emails,meta").await;
    assert!(without["Resources"][0].get("emails").is_none() && without["Resources"][0].get("meta").is_none());

    let search = app
        .scim(&hr, Method::POST, "/Users/.search", Some(json!({
            "schemas": [SEARCH], "filter": "emails.value ew \"x.example\"", "sortBy": "userName", "sortOrder": "descending",
            "attributes": ["userName"], "startIndex": 1, "count": 3,
        })))
        .await;
    assert_eq!(search.status(), 200);
    let search: Value = search.json().await.unwrap();
    assert_eq!(search["totalResults"], 4);
    assert_eq!(names(&search), ["u4", "u3", "u2"]);
    assert!(search["Resources"][0].get("emails").is_none());

    for (query, scim_type) in [
        ("count=many", "invalidValue"),
        ("sortBy=title", "invalidValue"),
        ("sortBy=userName&sortOrder=sideways", "invalidValue"),
        ("attributes=userName&excludedAttributes=name", "invalidSyntax"),
    ] {
        let response = app.scim(&hr, Method::GET, &format!("/Users?{query}"), None).await;
        assert_eq!(scim_error(response).await, (400, Some(scim_type.into())), "{query}");
    }
    app.stop().await;
}

async fn put_replaces_the_user_and_a_stale_if_match_changes_nothing(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let dana =
        create(&app, &hr, user("dana", json!({"displayName": "Dana", "externalId": "E-4", "active": false}))).await;
    create(&app, &hr, user("erin", json!({}))).await;
    let path = format!("/Users/{}", dana["id"].as_str().unwrap());
    let etag = dana["meta"]["version"].as_str().unwrap().to_owned();

    let replacement = user(
        "dana.e",
        json!({"name": {"givenName": "Dana"}, "emails": [{"value": "dana@corp.example"}], "id": "ignored"}),
    );
    let put = |body: Value, if_match: Option<String>| {
        let (app, hr, path) = (&app, &hr, path.clone());
        async move {
            let headers: Vec<(&str, &str)> = if_match.as_deref().map(|t| vec![("If-Match", t)]).unwrap_or_default();
            app.scim_with(&hr.token, Method::PUT, &path, Some(body), &headers).await
        }
    };
    let replaced = put(replacement.clone(), Some(etag.clone())).await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["id"], dana["id"], "id is read-only");
    assert_eq!(replaced["userName"], "dana.e");
    assert!(
        replaced.get("displayName").is_none() && replaced.get("externalId").is_none(),
        "what the body leaves out is cleared"
    );
    assert_eq!(replaced["emails"][0]["value"], "dana@corp.example");
    assert_eq!(replaced["active"], false, "active stays as it was when the body leaves it out");

    let stale = put(user("dana.x", json!({})), Some(etag)).await;
    assert_eq!(scim_error(stale).await, (412, None));
    let taken = put(user("ERIN", json!({})), None).await;
    assert_eq!(scim_error(taken).await, (409, Some("uniqueness".into())));
    let now: Value = app.scim(&hr, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(now["userName"], "dana.e", "the refused changes changed nothing");
    let missing = app.scim(&hr, Method::PUT, "/Users/no-such-user", Some(user("zed", json!({})))).await;
    assert_eq!(scim_error(missing).await, (404, None));
    app.stop().await;
}

async fn patch(app: &TestApp, hr: &ScimCaller, path: &str, operations: Value) -> reqwest::Response {
    app.scim(hr, Method::PATCH, path, Some(json!({ "schemas": [PATCH_OP], "Operations": operations }))).await
}

async fn patch_adds_replaces_and_removes_with_and_without_paths(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let fay = create(
        &app,
        &hr,
        user("fay", json!({"name": {"givenName": "Fay", "familyName": "Wray"}, "emails": [{"value": "fay@corp.example", "type": "work"}]})),
    )
    .await;
    let path = format!("/Users/{}", fay["id"].as_str().unwrap());
    // What Microsoft Entra ID and Okta connectors send: capitalised ops, a value-path filter,
    // an object without a path, a boolean as a string.
    let response = patch(
        &app,
        &hr,
        &path,
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "fay.w@corp.example"},
            {"op": "Add", "path": "name.formatted", "value": "Fay Wray"},
            {"op": "Replace", "value": {"displayName": "Fay W.", "externalId": "E-9", "name.givenName": "Faye"}},
            {"op": "Remove", "path": "name.familyName"},
            {"op": "Add", "path": "title", "value": "Actor"},
            {"op": "Replace", "path": "password", "value": "a brand new passphrase"},
        ]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["emails"], json!([{"value": "fay.w@corp.example", "type": "work"}]));
    assert_eq!(patched["name"], json!({"formatted": "Fay Wray", "givenName": "Faye"}));
    assert_eq!((patched["displayName"].clone(), patched["externalId"].clone()), (json!("Fay W."), json!("E-9")));
    assert!(patched.get("title").is_none(), "accepted, not kept");
    assert!(app.state.users.authenticate("fay", "a brand new passphrase").await.unwrap().is_some());
    let stored = app.state.users.find_by_username("fay").await.unwrap().unwrap();
    assert_eq!(stored.given_name.as_deref(), Some("Faye"), "the same user the other edges see");

    let removed = patch(&app, &hr, &path, json!([{"op": "remove", "path": "emails[value ew \"corp.example\"]"}])).await;
    assert!(removed.json::<Value>().await.unwrap().get("emails").is_none());
    let added = patch(
        &app,
        &hr,
        &path,
        json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "f@new.example"}]),
    )
    .await;
    assert_eq!(added.json::<Value>().await.unwrap()["emails"], json!([{"value": "f@new.example", "type": "work"}]));

    let etag = app.scim(&hr, Method::GET, &path, None).await.headers()["etag"].to_str().unwrap().to_owned();
    patch(&app, &hr, &path, json!([{"op": "replace", "path": "displayName", "value": "Someone else"}])).await;
    let body =
        json!({ "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Late"}] });
    let stale = app.scim_with(&hr.token, Method::PATCH, &path, Some(body), &[("If-Match", &etag)]).await;
    assert_eq!(scim_error(stale).await, (412, None));

    for (operations, status, scim_type) in [
        (json!([{"op": "remove"}]), 400, "noTarget"),
        (json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@x.example"}]), 400, "noTarget"),
        (json!([{"op": "replace", "path": "colour", "value": "red"}]), 400, "invalidPath"),
        (json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]), 400, "invalidPath"),
        (json!([{"op": "replace", "path": "id", "value": "x"}]), 400, "mutability"),
        (json!([{"op": "remove", "path": "userName"}]), 400, "invalidValue"),
        (json!([{"op": "remove", "path": "active"}]), 400, "invalidValue"),
        (json!([{"op": "jump", "path": "userName"}]), 400, "invalidSyntax"),
    ] {
        let response = patch(&app, &hr, &path, operations.clone()).await;
        assert_eq!(scim_error(response).await, (status, Some(scim_type.into())), "{operations}");
    }
    let no_schema =
        app.scim(&hr, Method::PATCH, &path, Some(json!({"Operations": [{"op": "remove", "path": "title"}]}))).await;
    assert_eq!(scim_error(no_schema).await, (400, Some("invalidSyntax".into())));
    app.stop().await;
}

async fn a_refused_patch_operation_changes_nothing(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let gus = create(&app, &hr, user("gus", json!({"displayName": "Gus"}))).await;
    let path = format!("/Users/{}", gus["id"].as_str().unwrap());
    let response = patch(
        &app,
        &hr,
        &path,
        json!([
            {"op": "replace", "path": "displayName", "value": "Augustus"},
            {"op": "replace", "path": "emails", "value": [{"value": "not an address"}]},
        ]),
    )
    .await;
    assert_eq!(scim_error(response).await, (400, Some("invalidValue".into())));
    let now: Value = app.scim(&hr, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(now["displayName"], "Gus", "the operations apply together or not at all");
    assert_eq!(now["meta"]["version"], gus["meta"]["version"]);
    app.stop().await;
}

async fn deactivating_a_user_revokes_their_grants_and_stops_sign_in(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    app.register_apis().await;
    let web_app = app
        .register_client(ClientRegistration {
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            ..web_app_registration()
        })
        .await;
    app.create_user("hana").await;
    let code = app.code_for(&web_app, "hana", &[("scope", "openid offline_access read"), ("resource", API)]).await;
    let tokens = token_body(app.exchange(&web_app, &code, &[]).await).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let hana = app.state.users.find_by_username("hana").await.unwrap().unwrap();

    let response = patch(
        &app,
        &hr,
        &format!("/Users/{}", hana.user_id),
        json!([{"op": "replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["active"], false);
    let refresh = app
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
            web_app.basic(),
            &[],
        )
        .await;
    assert_eq!(error_of(refresh).await, (400, "invalid_grant".into()), "the grant is revoked");
    let introspected = app.introspect(&app.introspector().await, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(introspected["active"], false, "and its access token");
    assert!(app.state.users.authenticate("hana", crate::common::browser::PASSWORD).await.unwrap().is_none());
    let update = app.audited("user.update").await;
    assert!(update[0].detail.as_deref().unwrap_or("").contains("enabled"), "{:?}", update[0].detail);

    let put = app
        .scim(&hr, Method::PUT, &format!("/Users/{}", hana.user_id), Some(user("hana", json!({"active": true}))))
        .await;
    assert_eq!(put.json::<Value>().await.unwrap()["active"], true);
    assert!(
        app.state.users.authenticate("hana", crate::common::browser::PASSWORD).await.unwrap().is_some(),
        "active again"
    );
    let filtered = selected(&app, &hr, "active eq true").await;
    assert_eq!(filtered, ["hana"]);
    app.stop().await;
}

async fn tokens_for_another_audience_or_without_a_proof_they_need_are_refused(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let anonymous = app.http.get(app.url("/scim/v2/Users")).send().await.unwrap();
    let challenge = anonymous
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(challenge.iter().any(|c| c.starts_with("Bearer")), "Bearer is offered: {challenge:?}");
    assert_eq!(scim_error(anonymous).await, (401, None));

    app.register_apis().await;
    let service = app.service_client().await;
    let api_token = app.access_token(&service).await;
    let wrong_audience = app.scim_with(&api_token, Method::GET, "/Users", None, &[]).await;
    let challenge = wrong_audience.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(scim_error(wrong_audience).await, (401, None));

    let admin = app.admin_caller("admin:users").await;
    assert_eq!(
        scim_error(app.scim_with(&admin.token, Method::GET, "/Users", None, &[]).await).await.0,
        401,
        "the admin audience is not SCIM's"
    );

    let admin_scope = app.scim_caller("admin:users").await;
    assert_eq!(app.scim(&admin_scope, Method::GET, "/Users", None).await.status(), 200, "admin:users reaches SCIM too");
    assert_eq!(app.scim(&hr, Method::GET, "/Users", None).await.status(), 200);

    // A DPoP-bound token for SCIM is refused as Bearer and accepted with its proof.
    let bound_client: TestClient = app
        .register_client(ClientRegistration {
            client_name: "bound connector".into(),
            grant_types: vec!["client_credentials".into()],
            resources: vec![app.scim_audience()],
            scope: "scim".into(),
            dpop_bound_access_tokens: true,
            ..Default::default()
        })
        .await;
    let key = DpopKey::es256();
    let bound = app.dpop_token_for(&bound_client, &key).await;
    assert_eq!(scim_error(app.scim_with(&bound, Method::GET, "/Users", None, &[]).await).await.0, 401);
    let url = app.url("/scim/v2/Users");
    let proof = key.proof("GET", &url, None, Some(&bound));
    let with_proof =
        app.http.get(&url).header("Authorization", format!("DPoP {bound}")).header("DPoP", proof).send().await.unwrap();
    assert_eq!(with_proof.status(), 200);
    app.stop().await;
}

async fn discovery_documents_are_served_without_a_token_and_describe_what_is_kept(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let get = |path: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/scim/v2{path}")).await;
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()["content-type"], "application/scim+json");
            response.json::<Value>().await.unwrap()
        }
    };
    let config = get("/ServiceProviderConfig").await;
    assert_eq!(config["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]));
    assert_eq!(
        (config["patch"]["supported"].clone(), config["bulk"]["supported"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(config["filter"], json!({"supported": true, "maxResults": 200}));
    assert_eq!((config["sort"]["supported"].clone(), config["etag"]["supported"].clone()), (json!(true), json!(true)));
    assert_eq!(config["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let types = get("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(types["Resources"][1]["endpoint"], "/Groups");
    assert_eq!(get("/ResourceTypes/User").await["schema"], USER);
    assert_eq!(get("/ResourceTypes/Group").await["schema"], GROUP);

    let schemas = get("/Schemas").await;
    let schema = &schemas["Resources"][0];
    assert_eq!(schema["id"], USER);
    let names: Vec<&str> =
        schema["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["userName", "name", "displayName", "emails", "active", "password"]);
    let by_id = app.get(&format!("/scim/v2/Schemas/{USER}")).await;
    assert_eq!(by_id.json::<Value>().await.unwrap(), *schema);
    let group = &schemas["Resources"][1];
    assert_eq!(group["id"], GROUP);
    assert_eq!(group["attributes"][1]["subAttributes"][1]["referenceTypes"], json!(["User"]));

    assert_eq!(scim_error(app.get("/scim/v2/Schemas/urn:example:nothing").await).await, (404, None));
    assert_eq!(scim_error(app.get("/scim/v2/Roles").await).await, (404, None));
    let post = app.http.post(app.url("/scim/v2/ServiceProviderConfig")).send().await.unwrap();
    assert_eq!(scim_error(post).await, (405, None));
    app.stop().await;
}

async fn groups_are_created_with_members_changed_by_patch_filtered_and_deleted(backend: Backend) {
    let (_data, app, hr) = app_with_connector(backend).await;
    let alice = create(&app, &hr, user("alice", json!({}))).await["id"].as_str().unwrap().to_owned();
    let bob = create(&app, &hr, user("bob", json!({}))).await["id"].as_str().unwrap().to_owned();
    let response = app
        .scim(
            &hr,
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP], "displayName": "Engineering", "externalId": "G-7",
                "members": [{ "value": alice, "type": "User" }],
            })),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let path = format!("/Groups/{}", created["id"].as_str().unwrap());
    assert_eq!(location, app.url(&format!("/scim/v2{path}")));
    assert_eq!(created["displayName"], "Engineering");
    assert_eq!(
        created["members"],
        json!([{ "value": alice, "$ref": app.url(&format!("/scim/v2/Users/{alice}")), "type": "User" }])
    );
    assert_eq!(app.state.groups.names_of(&alice).await.unwrap(), ["Engineering"], "the groups claim sees it");
    let audited = app.audited("group.member.add").await;
    assert_eq!(audited[0].actor.as_deref(), Some(format!("client:{}", hr.client.id).as_str()));

    // Microsoft Entra ID's way: add and remove members by value.
    let added = patch(&app, &hr, &path, json!([{ "op": "Add", "path": "members", "value": [{ "value": bob }] }])).await;
    assert_eq!(added.status(), 200);
    // Sorted here: the database orders ids by its collation.
    let members = |group: &Value| -> Vec<String> {
        let mut ids: Vec<String> = group["members"]
            .as_array()
            .map_or_else(Vec::new, |m| m.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect());
        ids.sort();
        ids
    };
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort();
    assert_eq!(members(&added.json().await.unwrap()), expected);
    let removed =
        patch(&app, &hr, &path, json!([{ "op": "Remove", "path": "members", "value": [{ "value": bob }] }])).await;
    assert_eq!(members(&removed.json().await.unwrap()), std::slice::from_ref(&alice));
    // RFC 7644's way: a value filter.
    let filtered = patch(
        &app,
        &hr,
        &path,
        json!([
            { "op": "add", "path": "members", "value": [{ "value": bob }] },
            { "op": "remove", "path": format!("members[value eq \"{alice}\"]") },
            { "op": "replace", "path": "displayName", "value": "Platform" },
        ]),
    )
    .await;
    let filtered: Value = filtered.json().await.unwrap();
    assert_eq!((members(&filtered), filtered["displayName"].clone()), (vec![bob.clone()], json!("Platform")));
    assert!(app.state.groups.names_of(&alice).await.unwrap().is_empty());

    let other =
        app.scim(&hr, Method::POST, "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Sales" }))).await;
    assert_eq!(other.status(), 201);
    let list = |query: String| {
        let (app, hr) = (&app, &hr);
        async move {
            let body: Value = app.scim(hr, Method::GET, &format!("/Groups?{query}"), None).await.json().await.unwrap();
            let mut names: Vec<String> = body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["displayName"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            (names, body)
        }
    };
    assert_eq!(list(format!("filter={}", encoded(r#"displayName eq "platform""#))).await.0, ["Platform"]);
    assert_eq!(list(format!("filter={}", encoded(&format!(r#"members[value eq "{bob}"]"#)))).await.0, ["Platform"]);
    assert_eq!(list(format!("filter={}", encoded("not (members pr)"))).await.0, ["Sales"]);
    assert_eq!(
        list(format!("filter={}", encoded(r#"externalId eq "g-7""#))).await.0,
        Vec::<String>::new(),
        "case-exact"
    );
    let (_, without) = list("excludedAttributes=members&sortBy=displayName&sortOrder=descending".into()).await;
    assert_eq!(without["Resources"][0]["displayName"], "Sales");
    assert!(without["Resources"][1].get("members").is_none());
    let bad = app.scim(&hr, Method::GET, &format!("/Groups?filter={}", encoded(r#"title eq "x""#)), None).await;
    assert_eq!(scim_error(bad).await, (400, Some("invalidFilter".into())));

    for (body, status, scim_type) in [
        (json!({ "schemas": [GROUP], "displayName": "sales" }), 201, None),
        (json!({ "schemas": [GROUP], "displayName": "Sales" }), 409, Some("uniqueness")),
        (
            json!({ "schemas": [GROUP], "displayName": "X", "members": [{ "value": "no-such-user" }] }),
            400,
            Some("invalidValue"),
        ),
        (
            json!({ "schemas": [GROUP], "displayName": "Y", "members": [{ "value": alice, "type": "Group" }] }),
            400,
            Some("invalidValue"),
        ),
        (json!({ "schemas": [GROUP] }), 400, Some("invalidValue")),
    ] {
        let response = app.scim(&hr, Method::POST, "/Groups", Some(body.clone())).await;
        if status == 201 {
            assert_eq!(response.status(), 201, "{body}");
        } else {
            assert_eq!(scim_error(response).await, (status, scim_type.map(str::to_owned)), "{body}");
        }
    }
    let root_search = app.scim(&hr, Method::POST, "/.search", Some(json!({ "schemas": [SEARCH] }))).await;
    assert_eq!(scim_error(root_search).await, (501, None), "one resource type at a time");

    assert_eq!(app.scim(&hr, Method::DELETE, &path, None).await.status(), 204);
    assert_eq!(scim_error(app.scim(&hr, Method::GET, &path, None).await).await, (404, None));
    assert!(app.state.groups.names_of(&bob).await.unwrap().is_empty());
    app.stop().await;
}
