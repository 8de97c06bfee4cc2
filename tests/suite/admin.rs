//! The admin API (`/admin/v1`): who may call it, and the conventions every resource keeps
//! (docs/admin-api.md): JSON bodies that refuse unknown members, RFC 9457 problems naming
//! fields, ETag / If-Match, cursor pagination, Location on 201, and an audit event per change.

use std::collections::HashSet;
use std::process::Command;

use idp::clock::Clock;
use idp::services::audit::Actor;
use idp::services::registry::ClientRegistration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::admin::AdminCaller;
use crate::common::dpop::DpopKey;
use crate::common::oauth::{service_registration, API};
use crate::common::{spawn_app, Backend, TestApp, TestData};

crate::suite_tests! {
    on_each_backend:
        a_client_is_created_read_listed_replaced_patched_disabled_and_deleted,
        a_stale_if_match_is_refused_with_412_and_changes_nothing,
        an_unknown_member_or_invalid_value_is_a_problem_naming_the_field,
        a_listing_is_stable_under_concurrent_inserts,
        a_resource_server_is_managed_by_its_encoded_identifier,
        a_secret_rotation_keeps_the_old_secret_for_the_overlap,
        tokens_of_the_wrong_audience_scope_or_binding_are_refused_with_a_challenge,
        every_change_is_audited_with_its_actor_and_changed_fields,
        the_openapi_document_names_every_route_and_needs_no_token,
        with_admin_listen_the_api_is_served_there_only,
        a_person_reaches_the_admin_api_only_as_an_enabled_member_of_the_admin_group,
        every_refusal_is_a_problem_with_its_challenge_or_allow_header,
        query_parameters_are_refused_as_problems_naming_them,
        a_body_is_a_json_object_with_members_of_the_documented_types,
        an_if_match_that_is_not_text_is_a_failed_precondition;
    sync_test:
        the_cli_and_the_api_refuse_the_same_input_with_the_same_message;
}

fn new_client() -> Value {
    json!({
        "client_name": "Billing service",
        "grant_types": ["client_credentials"],
        "resources": [API],
        "scope": "read",
    })
}

async fn app_with_admin(backend: Backend) -> (TestData, TestApp, AdminCaller) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    app.register_apis().await;
    let admin = app.admin_caller("admin:write").await;
    (data, app, admin)
}

fn etag_of(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

async fn a_client_is_created_read_listed_replaced_patched_disabled_and_deleted(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;

    let created = app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let created_etag = etag_of(&created);
    let body: Value = created.json().await.unwrap();
    let id = body["client_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/admin/v1/clients/{id}"));
    assert!(body["client_secret"].as_str().unwrap().starts_with("idp_cs_"), "the secret, this once");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");

    let read = app.admin(&admin, Method::GET, &format!("/clients/{id}"), None, &[]).await;
    assert_eq!(read.status(), 200);
    assert_eq!(etag_of(&read), created_etag, "the ETag of what was created");
    let shown: Value = read.json().await.unwrap();
    assert!(shown.get("client_secret").is_none(), "a secret is never shown again");

    let listed: Value = app.admin(&admin, Method::GET, "/clients", None, &[]).await.json().await.unwrap();
    assert!(listed["items"].as_array().unwrap().iter().any(|c| c["client_id"] == id.as_str()));

    let mut replacement = new_client();
    replacement["client_name"] = json!("Billing service v2");
    replacement["allowed_origins"] = json!(["https://billing.test"]);
    let replaced = app
        .admin(&admin, Method::PUT, &format!("/clients/{id}"), Some(replacement), &[("If-Match", &created_etag)])
        .await;
    assert_eq!(replaced.status(), 200);
    assert_ne!(etag_of(&replaced), created_etag);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["client_name"], "Billing service v2");
    assert_eq!(replaced["client_id"], id.as_str(), "the id stays");
    assert!(replaced.get("client_secret").is_none(), "the secret stays; no new one");

    let patch = json!({ "allowed_origins": null, "access_token_lifetime": 120 });
    let url = app.url(&format!("/admin/v1/clients/{id}"));
    let proof = admin.key.proof("PATCH", &url, None, Some(&admin.token));
    let patched = app
        .http
        .patch(&url)
        .header("Authorization", format!("DPoP {}", admin.token))
        .header("DPoP", proof)
        .header("Content-Type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["allowed_origins"], json!([]), "null removes (RFC 7396)");
    assert_eq!(patched["access_token_lifetime"], 120);
    assert_eq!(patched["client_name"], "Billing service v2", "what the patch does not name stays");

    let disabled = app.admin(&admin, Method::POST, &format!("/clients/{id}/disable"), None, &[]).await;
    assert_eq!(disabled.json::<Value>().await.unwrap()["enabled"], false);
    assert!(!app.state.registry.load_client(&id).await.unwrap().enabled, "the store holds it");

    assert_eq!(app.admin(&admin, Method::DELETE, &format!("/clients/{id}"), None, &[]).await.status(), 204);
    let gone = app.admin(&admin, Method::GET, &format!("/clients/{id}"), None, &[]).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

async fn a_stale_if_match_is_refused_with_412_and_changes_nothing(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let created = app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await;
    let first_etag = etag_of(&created);
    let id = created.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned();
    let mut first_change = new_client();
    first_change["client_name"] = json!("changed by one operator");
    let ok = app
        .admin(&admin, Method::PUT, &format!("/clients/{id}"), Some(first_change), &[("If-Match", &first_etag)])
        .await;
    assert_eq!(ok.status(), 200);

    let mut stale_change = new_client();
    stale_change["client_name"] = json!("changed by another from an old read");
    let stale = app
        .admin(&admin, Method::PUT, &format!("/clients/{id}"), Some(stale_change), &[("If-Match", &first_etag)])
        .await;
    assert_eq!(stale.status(), 412);
    assert_eq!(stale.headers()["content-type"], "application/problem+json");
    assert_eq!(app.state.registry.load_client(&id).await.unwrap().name, "changed by one operator");
    app.stop().await;
}

async fn an_unknown_member_or_invalid_value_is_a_problem_naming_the_field(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let before = app.state.registry.list_clients().await.unwrap().len();
    let mut unknown = new_client();
    unknown["colour"] = json!("red");
    let refused = app.admin(&admin, Method::POST, "/clients", Some(unknown), &[]).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    assert_eq!(problem["errors"][0]["field"], "colour");

    let mut bad_grant = new_client();
    bad_grant["grant_types"] = json!(["password"]);
    let problem: Value = app.admin(&admin, Method::POST, "/clients", Some(bad_grant), &[]).await.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "grant_types");
    assert_eq!(
        problem["errors"][0]["message"], "must be one of authorization_code, refresh_token, client_credentials",
        "the valid values are listed"
    );

    let mut wrong_type = new_client();
    wrong_type["redirect_uris"] = json!("https://one.test/cb");
    let problem: Value = app.admin(&admin, Method::POST, "/clients", Some(wrong_type), &[]).await.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "redirect_uris");

    let url = app.url("/admin/v1/clients");
    let proof = admin.key.proof("POST", &url, None, Some(&admin.token));
    let form = app
        .http
        .post(&url)
        .header("Authorization", format!("DPoP {}", admin.token))
        .header("DPoP", proof)
        .form(&[("client_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    assert_eq!(app.state.registry.list_clients().await.unwrap().len(), before, "nothing was registered");
    app.stop().await;
}

async fn a_listing_is_stable_under_concurrent_inserts(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let mut originals = HashSet::new();
    for _ in 0..7 {
        let created = app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await;
        originals.insert(created.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut next = Some("/clients?limit=3".to_owned());
    while let Some(path) = next {
        let page = app.admin(&admin, Method::GET, &path, None, &[]).await;
        assert_eq!(page.status(), 200);
        let link = page.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
        let body: Value = page.json().await.unwrap();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|c| c["client_id"].as_str().unwrap().to_owned()));
        // Another operator registers a client between two pages.
        app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await;
        next = body["next"].as_str().map(|n| n.trim_start_matches("/admin/v1").to_owned());
        if let Some(next) = &next {
            assert_eq!(link.unwrap(), format!("</admin/v1{next}>; rel=\"next\""));
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no client on two pages");
    assert!(originals.is_subset(&unique), "every client there at the start is listed");
    let bad = app.admin(&admin, Method::GET, "/clients?cursor=not-a-cursor", None, &[]).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["errors"][0]["field"], "cursor");
    app.stop().await;
}

async fn a_resource_server_is_managed_by_its_encoded_identifier(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let body = json!({ "identifier": "https://ledger.test/api", "scopes": ["read"], "require_dpop": true });
    let created = app.admin(&admin, Method::POST, "/resource-servers", Some(body), &[]).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/admin/v1/resource-servers/https%3A%2F%2Fledger%2Etest%2Fapi");
    let path = location.trim_start_matches("/admin/v1").to_owned();
    let read = app.admin(&admin, Method::GET, &path, None, &[]).await;
    assert_eq!(read.status(), 200);
    let etag = etag_of(&read);
    let replaced = app
        .admin(&admin, Method::PUT, &path, Some(json!({ "scopes": ["read", "write"] })), &[("If-Match", &etag)])
        .await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["scopes"], json!(["read", "write"]));
    assert_eq!(replaced["require_dpop"], false, "a replace sets every member");
    assert!(app.state.registry.resource("https://ledger.test/api").unwrap().scopes.contains("write"));

    let mut user = new_client();
    user["resources"] = json!(["https://ledger.test/api"]);
    assert_eq!(app.admin(&admin, Method::POST, "/clients", Some(user), &[]).await.status(), 201);
    let in_use = app.admin(&admin, Method::DELETE, &path, None, &[]).await;
    assert_eq!(in_use.status(), 409, "a client still names it");
    let own = format!("/resource-servers/{}", percent(&app.admin_audience()));
    assert_eq!(app.admin(&admin, Method::DELETE, &own, None, &[]).await.status(), 409, "the admin API's own");

    let renamed = json!({ "identifier": "https://elsewhere.test" });
    let refused = app.admin(&admin, Method::PUT, &path, Some(renamed), &[]).await;
    assert_eq!(refused.json::<Value>().await.unwrap()["errors"][0]["field"], "identifier");
    app.stop().await;
}

fn percent(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn a_secret_rotation_keeps_the_old_secret_for_the_overlap(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let created: Value =
        app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let old = created["client_secret"].as_str().unwrap().to_owned();
    let bad = app
        .admin(&admin, Method::POST, &format!("/clients/{id}/secrets"), Some(json!({ "overlap": "soon" })), &[])
        .await;
    assert_eq!(bad.json::<Value>().await.unwrap()["errors"][0]["field"], "overlap");
    let rotated =
        app.admin(&admin, Method::POST, &format!("/clients/{id}/secrets"), Some(json!({ "overlap": "1h" })), &[]).await;
    assert_eq!(rotated.status(), 201);
    let rotated: Value = rotated.json().await.unwrap();
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    let now = app.clock.now();
    assert_eq!(rotated["previous_secrets_expire_at"], now + 3600);
    let works = |secret: String| {
        let app = &app;
        let id = id.clone();
        async move {
            let client = crate::common::oauth::TestClient { id, secret: Some(secret) };
            app.token_for(&client, &[], &[]).await.status().as_u16()
        }
    };
    assert_eq!(works(old.clone()).await, 200, "the old secret during the overlap");
    assert_eq!(works(new.clone()).await, 200);
    app.clock.advance(std::time::Duration::from_secs(3601));
    assert_eq!(works(old).await, 401, "the old secret after the overlap");
    assert_eq!(works(new).await, 200);
    app.stop().await;
}

async fn tokens_of_the_wrong_audience_scope_or_binding_are_refused_with_a_challenge(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let url = app.url("/admin/v1/clients");

    let none = app.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let challenge = none.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("DPoP"), "RFC 9449 §7.1 challenge: {challenge}");

    // A token for another audience (a resource server's), DPoP-bound and with a good proof.
    let service =
        app.register_client(ClientRegistration { dpop_bound_access_tokens: true, ..service_registration() }).await;
    let key = DpopKey::es256();
    let other_audience = app.dpop_token_for(&service, &key).await;
    let proof = key.proof("GET", &url, None, Some(&other_audience));
    let wrong_audience = app
        .http
        .get(&url)
        .header("Authorization", format!("DPoP {other_audience}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_audience.status(), 401);
    assert!(wrong_audience.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    // The admin token as a Bearer token: a bound token without its proof.
    let as_bearer = app.http.get(&url).bearer_auth(&admin.token).send().await.unwrap();
    assert_eq!(as_bearer.status(), 401);

    // A proof for another URL.
    let proof = admin.key.proof("GET", &app.url("/admin/v1/resource-servers"), None, Some(&admin.token));
    let wrong_htu = app
        .http
        .get(&url)
        .header("Authorization", format!("DPoP {}", admin.token))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_htu.status(), 401);
    assert!(wrong_htu.headers()["www-authenticate"].to_str().unwrap().contains("invalid_dpop_proof"));

    // Another key than the token's.
    let thief = AdminCaller { client: admin.client.clone(), key: DpopKey::es256(), token: admin.token.clone() };
    assert_eq!(app.admin(&thief, Method::GET, "/clients", None, &[]).await.status(), 401);

    // A reader may read and not write.
    let reader = app.admin_caller("admin:read").await;
    assert_eq!(app.admin(&reader, Method::GET, "/clients", None, &[]).await.status(), 200);
    let write = app.admin(&reader, Method::POST, "/clients", Some(new_client()), &[]).await;
    assert_eq!(write.status(), 403);
    assert!(write.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    // An area scope reaches its area only.
    let hr = app.admin_caller("admin:users").await;
    assert_eq!(app.admin(&hr, Method::GET, "/clients", None, &[]).await.status(), 403);

    // A disabled admin client loses the API at once.
    app.state.registry.set_enabled(&admin.client.id, false, &Actor::cli()).await.unwrap();
    assert_eq!(app.admin(&admin, Method::GET, "/clients", None, &[]).await.status(), 401);
    app.stop().await;
}

async fn every_change_is_audited_with_its_actor_and_changed_fields(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let created: Value =
        app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let mut change = new_client();
    change["client_name"] = json!("renamed");
    change["access_token_lifetime"] = json!(300);
    assert_eq!(app.admin(&admin, Method::PUT, &format!("/clients/{id}"), Some(change), &[]).await.status(), 200);
    let events = app
        .state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use idp::store::schema::audit_events::dsl::*;
            audit_events
                .filter(target.eq(format!("client:{id}")))
                .order(at.asc())
                .select((action, actor, detail, request_id))
                .load::<(String, Option<String>, Option<String>, Option<String>)>(conn)
        })
        .await
        .unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["client.create", "client.update"]);
    for (_, who, _, request) in &events {
        assert_eq!(who.as_deref(), Some(format!("client:{}", admin.client.id).as_str()));
        assert!(request.is_some(), "the request id is recorded");
    }
    let detail: Value = serde_json::from_str(events[1].2.as_deref().unwrap()).unwrap();
    assert_eq!(detail["changed"], json!(["access_token_lifetime", "client_name"]));
    assert!(!events.iter().any(|e| e.2.as_deref().unwrap_or("").contains("idp_cs_")), "no secret in the trail");
    app.stop().await;
}

async fn the_openapi_document_names_every_route_and_needs_no_token(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let response = app.get("/admin/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(document["servers"][0]["url"], app.url("/admin/v1"));
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/clients", &["get", "post"][..]),
        ("/clients/{client_id}", &["get", "put", "patch", "delete"]),
        ("/clients/{client_id}/enable", &["post"]),
        ("/clients/{client_id}/disable", &["post"]),
        ("/clients/{client_id}/secrets", &["post"]),
        ("/resource-servers", &["get", "post"]),
        ("/resource-servers/{identifier}", &["get", "put", "patch", "delete"]),
        ("/users", &["get", "post"]),
        ("/users/{user_id}", &["get", "patch", "delete"]),
        ("/users/{user_id}/password", &["put"]),
        ("/users/{user_id}/enable", &["post"]),
        ("/users/{user_id}/disable", &["post"]),
        ("/users/{user_id}/unlock", &["post"]),
        ("/addresses/{address}/unlock", &["post"]),
        ("/users/{user_id}/consents", &["get"]),
        ("/users/{user_id}/consents/{client_id}", &["delete"]),
        ("/groups", &["get", "post"]),
        ("/groups/{group_id}", &["get", "patch", "delete"]),
        ("/groups/{group_id}/members", &["get", "post"]),
        ("/groups/{group_id}/members/{user_id}", &["delete"]),
        ("/keys", &["get"]),
        ("/keys/rotate", &["post"]),
        ("/keys/{kid}/retire", &["post"]),
        ("/refresh-families/{family_id}", &["delete"]),
        ("/users/{user_id}/revoke-grants", &["post"]),
        ("/clients/{client_id}/revoke-grants", &["post"]),
        ("/access-tokens/revoke", &["post"]),
        ("/audit-events", &["get"]),
    ] {
        for method in methods {
            assert!(paths[path].get(*method).is_some(), "{method} {path} is documented");
        }
    }
    let scheme = &document["components"]["securitySchemes"]["oauth2"];
    assert_eq!(scheme["flows"]["clientCredentials"]["tokenUrl"], app.url("/token"));

    // OpenAPI 3.1 §4.8.10.1: an operationId is unique in the document.
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|methods| methods.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "unique operation ids: {ids:?}");
    let responses = &document["components"]["responses"];
    assert!(responses["Unauthorized"]["headers"].get("WWW-Authenticate").is_some());
    assert!(responses["Unauthorized"]["content"].get("application/problem+json").is_some());
    // What the handlers take: a body that may be left out, and seconds or text for `overlap`.
    let rotation = &paths["/clients/{client_id}/secrets"]["post"]["requestBody"];
    assert_ne!(rotation["required"], true, "the rotation body is optional");
    let overlap = &document["components"]["schemas"]["SecretRotation"]["properties"]["overlap"]["oneOf"];
    let types: Vec<&str> = overlap.as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["integer", "string", "null"]);
    let limit = &paths["/clients"]["get"]["parameters"][0];
    assert_eq!(
        (limit["name"].as_str(), &limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (Some("limit"), &json!(1), &json!(200))
    );
    app.stop().await;
}

/// Sends `body` as it is, with the caller's token and proof and any `headers`.
async fn send_raw(
    app: &TestApp,
    admin: &AdminCaller,
    method: Method,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, reqwest::header::HeaderValue)],
) -> reqwest::Response {
    let url = app.url(&format!("/admin/v1{path}"));
    let proof = admin.key.proof(method.as_str(), &url, None, Some(&admin.token));
    let mut request = app
        .http
        .request(method, &url)
        .header("Authorization", format!("DPoP {}", admin.token))
        .header("DPoP", proof)
        .header("Content-Type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    request.send().await.unwrap()
}

async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json", "a {status} is a problem");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], status);
    assert_eq!(problem["type"], "about:blank");
    problem
}

async fn every_refusal_is_a_problem_with_its_challenge_or_allow_header(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let url = app.url("/admin/v1/clients");

    // A refused token: the resource server's challenge, and a problem as every admin error.
    let none = app.http.get(&url).send().await.unwrap();
    assert!(none.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP"));
    let problem = assert_problem(none, 401).await;
    assert_eq!(problem["detail"], "an access token is required");
    let as_bearer = app.http.get(&url).bearer_auth(&admin.token).send().await.unwrap();
    assert!(as_bearer.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_problem(as_bearer, 401).await;
    let reader = app.admin_caller("admin:read").await;
    let write = app.admin(&reader, Method::POST, "/clients", Some(new_client()), &[]).await;
    assert!(write.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    assert_problem(write, 403).await;

    // What actix answers itself: a method the path does not take (with `Allow`), a body over
    // the limit, a path that is not there.
    let wrong_method = app.admin(&admin, Method::PUT, "/clients/anyone/disable", None, &[]).await;
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert_problem(wrong_method, 405).await;
    let huge = json!({ "client_name": "x".repeat(300 * 1024) }).to_string().into_bytes();
    assert_problem(send_raw(&app, &admin, Method::POST, "/clients", huge, &[]).await, 413).await;
    assert_problem(app.admin(&admin, Method::GET, "/nothing-here", None, &[]).await, 404).await;
    app.stop().await;
}

async fn query_parameters_are_refused_as_problems_naming_them(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    for query in ["limit=abc", "limit=9223372036854775808", "limit=0", "limit=201", "limit=2&limit=3"] {
        for listing in ["/clients", "/resource-servers"] {
            let refused = app.admin(&admin, Method::GET, &format!("{listing}?{query}"), None, &[]).await;
            let problem = assert_problem(refused, 400).await;
            assert_eq!(problem["errors"][0]["field"], "limit", "{listing}?{query}");
        }
    }
    let ok = app.admin(&admin, Method::GET, "/clients?limit=200&unrelated=1", None, &[]).await;
    assert_eq!(ok.status(), 200, "other parameters are ignored");
    app.stop().await;
}

async fn a_body_is_a_json_object_with_members_of_the_documented_types(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let before = app.state.registry.list_clients().await.unwrap().len();
    // serde would read an array as the struct's members in order; the API does not.
    let array = json!(["Billing service", null, null, ["client_credentials"]]).to_string().into_bytes();
    let problem = assert_problem(send_raw(&app, &admin, Method::POST, "/clients", array, &[]).await, 400).await;
    assert_eq!(problem["detail"], "the body must be a JSON object");
    assert_eq!(app.state.registry.list_clients().await.unwrap().len(), before, "nothing was registered");

    let created = app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await;
    let id = created.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned();
    let secrets = format!("/clients/{id}/secrets");
    let refused = send_raw(&app, &admin, Method::POST, &secrets, b"[null]".to_vec(), &[]).await;
    assert_problem(refused, 400).await;
    for optional in [&b"null"[..], b""] {
        let rotated = send_raw(&app, &admin, Method::POST, &secrets, optional.to_vec(), &[]).await;
        assert_eq!(rotated.status(), 201, "{:?} asks for the defaults", String::from_utf8_lossy(optional));
    }

    // `jwks` of the wrong JSON type is refused as it is read, like any other member, so before
    // the precondition (which would be 412 here).
    let mut wrong_type = new_client();
    wrong_type["jwks"] = json!([null, null]);
    let stale = reqwest::header::HeaderValue::from_static("\"stale\"");
    let body = wrong_type.to_string().into_bytes();
    let refused = send_raw(&app, &admin, Method::PUT, &format!("/clients/{id}"), body, &[("If-Match", stale)]).await;
    assert_eq!(assert_problem(refused, 400).await["errors"][0]["field"], "jwks");
    app.stop().await;
}

async fn an_if_match_that_is_not_text_is_a_failed_precondition(backend: Backend) {
    let (_data, app, admin) = app_with_admin(backend).await;
    let created = app.admin(&admin, Method::POST, "/clients", Some(new_client()), &[]).await;
    let id = created.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned();
    let mut change = new_client();
    change["client_name"] = json!("changed without a readable precondition");
    let opaque = reqwest::header::HeaderValue::from_bytes(b"\"\xff\"").unwrap();
    let body = change.to_string().into_bytes();
    let refused = send_raw(&app, &admin, Method::PUT, &format!("/clients/{id}"), body, &[("If-Match", opaque)]).await;
    assert_problem(refused, 412).await;
    assert_eq!(app.state.registry.load_client(&id).await.unwrap().name, "Billing service", "nothing changed");
    app.stop().await;
}

fn the_cli_and_the_api_refuse_the_same_input_with_the_same_message() {
    let data = TestData::new(Backend::SqliteMemory);
    let output = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["clients", "create", "--name", "x", "--grant", "password"])
        .env_clear()
        .envs(data.env())
        .output()
        .expect("run idp");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let api_message = "must be one of authorization_code, refresh_token, client_credentials";
    assert!(stderr.contains(&format!("--grant (grant_types: {api_message})")), "{stderr}");
    assert!(!stderr.contains("cannot start"), "{stderr}");
}

async fn with_admin_listen_the_api_is_served_there_only(backend: Backend) {
    let data = TestData::new(backend);
    let app = crate::common::spawn_app_with_env(&data, &[("IDP_ADMIN_LISTEN", "127.0.0.1:0")]).await;
    let admin_origin = format!("http://127.0.0.1:{}", app.admin_port.expect("an admin listener"));
    assert_eq!(app.get("/admin/v1/openapi.json").await.status(), 404, "not on the public listener");
    assert_eq!(app.get("/healthz").await.status(), 200);
    let document = app.http.get(format!("{admin_origin}/admin/v1/openapi.json")).send().await.unwrap();
    assert_eq!(document.status(), 200);
    assert_eq!(app.http.get(format!("{admin_origin}/jwks")).send().await.unwrap().status(), 404, "the admin API only");

    let admin = app.admin_caller("admin:read").await;
    let url = format!("{admin_origin}/admin/v1/clients");
    let call = |htu: String| {
        let (app, admin, url) = (&app, &admin, url.clone());
        async move {
            let proof = admin.key.proof("GET", &htu, None, Some(&admin.token));
            let response = app
                .http
                .get(&url)
                .header("Authorization", format!("DPoP {}", admin.token))
                .header("DPoP", proof)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(call(url.clone()).await, 200, "a proof for the admin listener's URL");
    assert_eq!(call(app.url("/admin/v1/clients")).await, 401, "a proof for the public URL is for another server");
    app.stop().await;
}

async fn a_person_reaches_the_admin_api_only_as_an_enabled_member_of_the_admin_group(backend: Backend) {
    use crate::common::browser::{token_body, web_app_registration};
    let data = TestData::new(backend);
    let app = spawn_app(&data).await;
    let audience = app.admin_audience();
    // An operator console: a web app for the admin audience. Bearer here, to keep to the point.
    let admin_api = app.state.registry.resource(&audience).unwrap();
    let relaxed = idp::services::registry::ResourceRegistration { require_dpop: false, ..admin_api.registration() };
    app.state.registry.update_resource(&audience, relaxed, None, &Actor::cli()).await.unwrap();
    let console = app
        .register_client(ClientRegistration {
            resources: vec![audience.clone()],
            scope: "openid admin:read".into(),
            ..web_app_registration()
        })
        .await;
    let alice = app.create_user("alice").await;
    let person_token = {
        let code = app.code_for(&console, "alice", &[("scope", "openid admin:read"), ("resource", &audience)]).await;
        let body = token_body(app.exchange(&console, &code, &[("resource", &audience)]).await).await;
        body["access_token"].as_str().unwrap().to_owned()
    };
    let call = || app.http.get(app.url("/admin/v1/clients")).bearer_auth(&person_token).send();
    let outsider = call().await.unwrap();
    assert_eq!(outsider.status(), 403, "consenting to admin scopes is not enough");
    assert_eq!(outsider.headers()["content-type"], "application/problem+json");

    let admins = app.state.groups.create("idp-admins", &Actor::cli()).await.unwrap();
    app.state.groups.add_member(&admins.group_id, &alice.user_id, &Actor::cli()).await.unwrap();
    assert_eq!(call().await.unwrap().status(), 200, "a member of the admin group");

    app.state.users.set_enabled(&alice.user_id, false, &Actor::cli()).await.unwrap();
    assert_eq!(call().await.unwrap().status(), 401, "a disabled person's token stops at once");
    app.stop().await;
}
