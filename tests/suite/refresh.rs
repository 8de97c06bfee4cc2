//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12.2): rotation on every use,
//! reuse detection that revokes the family, binding to client and (public clients) DPoP key,
//! narrower scope and other resources, lifetimes, revocation.

use crate::common;

use common::browser::{token_body, web_app_registration, VERIFIER, WEB_APP_REDIRECT};
use common::oauth::{claims_of, error_of, TestClient, API, OTHER_API};
use common::{spawn_app_with_env, Backend, TestData};
use idp::services::registry::ClientRegistration;
use serde_json::Value;

fn refreshing_app_registration() -> ClientRegistration {
    ClientRegistration {
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        resources: vec![API.into(), OTHER_API.into()],
        first_party: true,
        ..web_app_registration()
    }
}

const OFFLINE: &str = "openid offline_access read";

async fn refresh(app: &common::TestApp, client: &TestClient, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    app.post_form("/token", &form, client.basic(), &[]).await
}

/// Signs alice in and exchanges the code; returns the token response.
async fn first_tokens(app: &common::TestApp, client: &TestClient, extra: &[(&str, &str)]) -> Value {
    let mut all = vec![("scope", OFFLINE)];
    all.extend_from_slice(extra);
    let code = app.code_for(client, "alice", &all).await;
    token_body(app.exchange(client, &code, &[]).await).await
}

async fn refresh_tokens_rotate_and_a_used_one_revokes_the_whole_family(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, refreshing_app_registration()).await;
    let service = app.introspector().await;
    app.create_user("alice").await;
    let first = first_tokens(&app, &client, &[]).await;
    let rt0 = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(rt0.starts_with("idp_rt_") && rt0.len() >= 7 + 43, "CORE-17");
    let first_id = claims_of(first["id_token"].as_str().unwrap());

    let second = token_body(refresh(&app, &client, &rt0, &[]).await).await;
    let rt1 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt0, "BCP-9: a new refresh token on every use");
    let id = claims_of(second["id_token"].as_str().unwrap());
    for claim in ["iss", "sub", "aud", "auth_time", "sid"] {
        assert_eq!(id[claim], first_id[claim], "OIDC-18 {claim}");
    }
    assert!(id.get("nonce").is_none());
    assert_eq!(claims_of(second["access_token"].as_str().unwrap())["aud"], API);

    // Past the window in which a duplicate counts as concurrent (refused, nothing revoked).
    app.clock.advance(std::time::Duration::from_secs(3));
    let (status, error) = error_of(refresh(&app, &client, &rt0, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "BCP-9: reuse refused");
    let (status, error) = error_of(refresh(&app, &client, &rt1, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "BCP-9: the whole family is revoked");
    for tokens in [&first, &second] {
        let active = app.introspect(&service, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(active["active"], false, "the family's access tokens are revoked");
    }
    assert!(!app.audited("refresh_token.reuse").await.is_empty(), "reuse is audited");
    app.stop().await;
}

/// Issue 10: the concurrency window (`tokens.refresh_token_concurrency_window`) set to 0: any
/// return of a used token is reuse, however soon, and revokes the family (RFC 9700 §4.14.2).
async fn with_the_concurrency_window_off_a_used_token_revokes_the_family_at_once(backend: Backend) {
    let data = TestData::new(backend);
    let window_off = [("IDP_TOKENS__REFRESH_TOKEN_CONCURRENCY_WINDOW", "0")];
    let app = spawn_app_with_env(&data, &window_off).await;
    app.register_apis().await;
    let client = app.register_client(refreshing_app_registration()).await;
    app.create_user("alice").await;
    let rt0 = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
    let rt1 = token_body(refresh(&app, &client, &rt0, &[]).await).await["refresh_token"].as_str().unwrap().to_owned();

    let (status, error) = error_of(refresh(&app, &client, &rt0, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the same second: reuse");
    let (status, error) = error_of(refresh(&app, &client, &rt1, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the family is revoked");
    assert!(!app.audited("refresh_token.reuse").await.is_empty(), "reuse is audited");
    app.stop().await;
}

/// Issue 10: by default (2 s) a used token back within the window is a concurrent duplicate:
/// refused, nothing revoked; past it, reuse. A longer window is honoured.
async fn within_the_concurrency_window_a_duplicate_is_refused_without_revoking(backend: Backend) {
    for (window, inside) in [(None, 1), (Some("10s"), 9)] {
        let data = TestData::new(backend);
        let env: Vec<(&str, &str)> =
            window.map(|w| ("IDP_TOKENS__REFRESH_TOKEN_CONCURRENCY_WINDOW", w)).into_iter().collect();
        let app = spawn_app_with_env(&data, &env).await;
        app.register_apis().await;
        let client = app.register_client(refreshing_app_registration()).await;
        app.create_user("alice").await;
        let rt0 = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
        let second = token_body(refresh(&app, &client, &rt0, &[]).await).await;

        app.clock.advance(std::time::Duration::from_secs(inside));
        let (status, error) = error_of(refresh(&app, &client, &rt0, &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{window:?}: a duplicate is refused");
        let third = token_body(refresh(&app, &client, second["refresh_token"].as_str().unwrap(), &[]).await).await;
        assert!(app.audit_events("refresh_token.reuse", 1).await.is_empty(), "{window:?}: not reuse");

        app.clock.advance(std::time::Duration::from_secs(1));
        let (status, _) = error_of(refresh(&app, &client, &rt0, &[]).await).await;
        assert_eq!(status, 400);
        let (status, error) =
            error_of(refresh(&app, &client, third["refresh_token"].as_str().unwrap(), &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{window:?}: past the window, reuse revokes");
        app.stop().await;
    }
}

async fn refresh_narrows_scope_and_switches_resource_within_the_grant(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, refreshing_app_registration()).await;
    let first = first_tokens(&app, &client, &[("resource", API), ("scope", "openid offline_access read")]).await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    for (name, extra, expected) in [
        ("CORE-14: wider scope", vec![("scope", "openid read write")], "invalid_scope"),
        ("RES: a resource not in the grant", vec![("resource", OTHER_API)], "invalid_target"),
    ] {
        let (status, error) = error_of(refresh(&app, &client, &rt, &extra).await).await;
        assert_eq!((status, error.as_str()), (400, expected), "{name}");
    }
    let other = app.register_client(refreshing_app_registration()).await;
    let (status, error) = error_of(refresh(&app, &other, &rt, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "CORE-15: another client's token");
    // None of the refused requests used the token up.
    let narrowed = token_body(refresh(&app, &client, &rt, &[("scope", "read")]).await).await;
    assert_eq!(claims_of(narrowed["access_token"].as_str().unwrap())["scope"], "read");
    assert!(narrowed.get("id_token").is_none(), "no openid asked, no ID token");

    // A grant for two APIs: one token per API, each with one audience (RFC 8707 §2.2).
    let both = first_tokens(&app, &client, &[("resource", API), ("resource", OTHER_API)]).await;
    let rt = both["refresh_token"].as_str().unwrap().to_owned();
    let other_api = token_body(refresh(&app, &client, &rt, &[("resource", OTHER_API)]).await).await;
    assert_eq!(claims_of(other_api["access_token"].as_str().unwrap())["aud"], OTHER_API);
    // The provider itself by its issuer identifier: a token for userinfo (OIDC-17).
    let rt = other_api["refresh_token"].as_str().unwrap().to_owned();
    let for_userinfo = token_body(refresh(&app, &client, &rt, &[("resource", &app.address)]).await).await;
    let token = for_userinfo["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["aud"], app.address.as_str());
    let response =
        app.http.get(app.url("/userinfo")).header("Authorization", format!("Bearer {token}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}

async fn of_two_concurrent_refreshes_exactly_one_wins(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, refreshing_app_registration()).await;
    let first = first_tokens(&app, &client, &[]).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let attempts = futures_util::future::join_all((0..4).map(|_| refresh(&app, &client, rt, &[]))).await;
    let won: Vec<_> = attempts.into_iter().filter(|r| r.status() == 200).collect();
    assert_eq!(won.len(), 1, "exactly one rotation wins");
    let won_body: Value = won.into_iter().next().unwrap().json().await.unwrap();
    // Right after, the same token is still a concurrent duplicate: refused, nothing revoked.
    let (status, error) = error_of(refresh(&app, &client, rt, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the used token stays used");
    // Later, the same token is reuse: the family is revoked.
    // The winner's token works: nothing was revoked.
    let next = won_body["refresh_token"].as_str().unwrap();
    let newest = token_body(refresh(&app, &client, next, &[]).await).await;
    // Later, the same token is reuse: the family is revoked.
    app.clock.advance(std::time::Duration::from_secs(3));
    let (status, _) = error_of(refresh(&app, &client, rt, &[]).await).await;
    assert_eq!(status, 400);
    let (status, error) = error_of(refresh(&app, &client, newest["refresh_token"].as_str().unwrap(), &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "BCP-9: the family is revoked");
    app.stop().await;
}

async fn refresh_tokens_expire_when_idle_and_without_offline_access_none_is_issued(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::browser::app_with_alice(&data, refreshing_app_registration()).await;
    let no_offline = app.code_for(&client, "alice", &[("scope", "openid read")]).await;
    let body = token_body(app.exchange(&client, &no_offline, &[]).await).await;
    assert!(body.get("refresh_token").is_none(), "BCP-8: only for offline_access");

    let first = first_tokens(&app, &client, &[]).await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(15 * 86_400));
    let (status, error) = error_of(refresh(&app, &client, &rt, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "BCP-10: idle lifetime");

    // A disabled user's grants end (refreshes do not read the user).
    let live = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
    let revoked = app.disable_user("alice").await;
    assert!(revoked >= 1, "disabling a user revokes their grants");
    let (status, error) = error_of(refresh(&app, &client, &live, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "disabled user");
    app.stop().await;
}

async fn within_the_grace_window_the_previous_token_may_be_retried(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_TOKENS__REFRESH_TOKEN_REUSE_GRACE", "30s")]).await;
    app.register_apis().await;
    let client = app.register_client(refreshing_app_registration()).await;
    app.create_user("alice").await;
    let rt0 = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
    let lost = token_body(refresh(&app, &client, &rt0, &[]).await).await;
    let rt1 = lost["refresh_token"].as_str().unwrap().to_owned();
    // A refused retry changes nothing: the retry after it still works.
    let (status, error) = error_of(refresh(&app, &client, &rt0, &[("scope", "openid write")]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_scope"));
    let retried = token_body(refresh(&app, &client, &rt0, &[]).await).await;
    let rt2 = retried["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt1);
    // Only one retry: the window cannot be stretched by retrying again.
    app.clock.advance(std::time::Duration::from_secs(3));
    let (status, error) = error_of(refresh(&app, &client, &rt0, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "a second retry is reuse");
    let (status, _) = error_of(refresh(&app, &client, &rt2, &[]).await).await;
    assert_eq!(status, 400, "and it revoked the family");

    // Another grant: the discarded successor, presented later, is reuse.
    let rt0 = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
    let rt1 = token_body(refresh(&app, &client, &rt0, &[]).await).await["refresh_token"].as_str().unwrap().to_owned();
    let rt2 = token_body(refresh(&app, &client, &rt0, &[]).await).await["refresh_token"].as_str().unwrap().to_owned();
    let (status, error) = error_of(refresh(&app, &client, &rt1, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the discarded successor");
    let (status, _) = error_of(refresh(&app, &client, &rt2, &[]).await).await;
    assert_eq!(status, 400, "revoked with its family");

    // After the window, the previous token is plain reuse.
    let rt0 = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
    let rt1 = token_body(refresh(&app, &client, &rt0, &[]).await).await["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(std::time::Duration::from_secs(31));
    let (status, error) = error_of(refresh(&app, &client, &rt0, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "after the window, reuse");
    let (status, _) = error_of(refresh(&app, &client, &rt1, &[]).await).await;
    assert_eq!(status, 400, "and the family is revoked");
    app.stop().await;
}

async fn revoking_a_refresh_token_revokes_its_grant_and_a_replayed_code_too(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, refreshing_app_registration()).await;
    let service = app.introspector().await;
    app.create_user("alice").await;
    let first = first_tokens(&app, &client, &[]).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let other = app.register_client(refreshing_app_registration()).await;
    let response = app.post_form("/revoke", &[("token", rt)], other.basic(), &[]).await;
    assert_eq!(response.status(), 400, "REV: only the client's own tokens");
    let response = app.post_form("/revoke", &[("token", rt)], client.basic(), &[]).await;
    assert_eq!(response.status(), 200);
    let (status, _) = error_of(refresh(&app, &client, rt, &[]).await).await;
    assert_eq!(status, 400);
    assert_eq!(app.introspect(&service, first["access_token"].as_str().unwrap()).await["active"], false);

    let code = app.code_for(&client, "alice", &[("scope", OFFLINE)]).await;
    let tokens = token_body(app.exchange(&client, &code, &[]).await).await;
    let (status, _) = error_of(app.exchange(&client, &code, &[]).await).await;
    assert_eq!(status, 400);
    let (status, error) = error_of(refresh(&app, &client, tokens["refresh_token"].as_str().unwrap(), &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "BCP-19: a replayed code revokes its refresh tokens");
    app.stop().await;
}

async fn a_public_clients_refresh_token_needs_a_proof_by_its_dpop_key(backend: Backend) {
    let data = TestData::new(backend);
    let app = spawn_app_with_env(&data, &[("IDP_DPOP__REQUIRE_NONCE", "false")]).await;
    app.register_apis().await;
    let client = app
        .register_client(ClientRegistration { client_type: Some("public".into()), ..refreshing_app_registration() })
        .await;
    app.create_user("alice").await;
    let key = common::dpop::DpopKey::es256();
    let other = common::dpop::DpopKey::es256();
    let endpoint = app.token_endpoint();
    let code = app.code_for(&client, "alice", &[("scope", OFFLINE)]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", WEB_APP_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let proof = key.proof("POST", &endpoint, None, None);
    let body = token_body(app.post_form("/token", &form, None, &[("DPoP", &proof)]).await).await;
    assert_eq!(body["token_type"], "DPoP");
    let rt = body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("client_id", client.id.as_str()), ("refresh_token", rt)];
    let (status, error) = error_of(app.post_form("/token", &form, None, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "BCP-7: a proof is needed");
    let proof = other.proof("POST", &endpoint, None, None);
    let (status, error) = error_of(app.post_form("/token", &form, None, &[("DPoP", &proof)]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "another key");
    let proof = key.proof("POST", &endpoint, None, None);
    let body = token_body(app.post_form("/token", &form, None, &[("DPoP", &proof)]).await).await;
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint().as_str());
    app.stop().await;
}

async fn withdrawing_consent_asks_again_and_revokes_the_grants_it_allowed(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(
        &data,
        ClientRegistration { first_party: false, ..refreshing_app_registration() },
    )
    .await;
    let service = app.introspector().await;
    let alice = app.create_user("alice").await;
    let mut browser = common::browser::Browser::new(&app);
    let query = common::browser::authorize_query(&client, &[("scope", OFFLINE)]);
    let to = browser.authorize(&query, "alice").await;
    let code = common::browser::query_param(&to, "code").unwrap();
    let tokens = token_body(app.exchange(&client, &code, &[]).await).await;
    let consents = app.consents_of(&alice.user_id).await;
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].client_id, client.id);

    let (existed, grants) = app.withdraw_consent(&alice.user_id, &client.id).await;
    assert_eq!((existed, grants), (true, 1));
    let (status, error) = error_of(refresh(&app, &client, tokens["refresh_token"].as_str().unwrap(), &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(app.introspect(&service, tokens["access_token"].as_str().unwrap()).await["active"], false);
    let response = browser.get(&format!("/authorize?{query}")).await;
    assert!(common::browser::location(&response).starts_with("consent?"), "asked again");
    app.stop().await;
}

async fn on_the_embedded_store_a_revocation_by_another_process_is_honoured(backend: Backend) {
    let data = TestData::new(backend);
    let (app, client) = common::oauth::app_with_client(&data, refreshing_app_registration()).await;
    let alice = app.create_user("alice").await;
    let rt = first_tokens(&app, &client, &[]).await["refresh_token"].as_str().unwrap().to_owned();
    // What `idp users disable` in another process does: only the database is shared.
    let (db, user_id) = (app.state.db.clone(), alice.user_id.clone());
    db.run(move |conn| {
        let families = idp::store::models::RefreshFamilyRow::live_of_user(conn, &user_id)?;
        for family in families {
            idp::store::models::RefreshFamilyRow::revoke(conn, &family, 1)?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let response = refresh(&app, &client, &rt, &[]).await;
    if backend == Backend::SqliteMemory {
        let (status, error) = error_of(response).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the durable mark is read");
    } else {
        // With Redis the CLI writes the shared flags itself; the database alone is not read.
        assert_eq!(response.status(), 200);
    }
    app.stop().await;
}

crate::suite_tests! {
    on_each_backend:
        on_the_embedded_store_a_revocation_by_another_process_is_honoured,
        withdrawing_consent_asks_again_and_revokes_the_grants_it_allowed,
        refresh_tokens_rotate_and_a_used_one_revokes_the_whole_family,
        refresh_narrows_scope_and_switches_resource_within_the_grant,
        of_two_concurrent_refreshes_exactly_one_wins,
        with_the_concurrency_window_off_a_used_token_revokes_the_family_at_once,
        within_the_concurrency_window_a_duplicate_is_refused_without_revoking,
        refresh_tokens_expire_when_idle_and_without_offline_access_none_is_issued,
        within_the_grace_window_the_previous_token_may_be_retried,
        revoking_a_refresh_token_revokes_its_grant_and_a_replayed_code_too,
        a_public_clients_refresh_token_needs_a_proof_by_its_dpop_key;
}
