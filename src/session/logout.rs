//! Logout (OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0):
//! `GET|POST /logout` ends the browser session and tells every client that got a code in it.
//!
//! With a valid `id_token_hint` for the signed-in user the session ends at once; otherwise the
//! user confirms on a form (CSRF token, same-origin POST). `post_logout_redirect_uri` must be
//! registered by the client the hint (or `client_id`) names, matched exactly, or the user stays
//! on the provider's page: no open redirect.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::domain::ClientId;
use crate::http::form::{read_body, FormParams};
use crate::http::pages::{self, LogoutPage};
use crate::http::session::Session;
use crate::oauth::id_token;
use crate::services::registry::Client;
use crate::state::AppState;

/// What a logout request asks for, its parts checked.
struct LogoutRequest {
    hint: Option<Map<String, Value>>,
    client: Option<std::sync::Arc<Client>>,
    /// Registered by `client`, or absent.
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

fn invalid() -> HttpResponse {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-out request not valid",
        "The application sent a sign-out request that cannot be honoured. You are still signed in.",
    )
}

fn signed_out_page() -> HttpResponse {
    pages::render(
        StatusCode::OK,
        &pages::ErrorPage { title: "Signed out", message: "You are signed out. You can close this window." },
        None,
    )
}

async fn parse(state: &AppState, get: impl Fn(&str) -> Option<String>) -> Result<LogoutRequest, HttpResponse> {
    let hint = match get("id_token_hint") {
        Some(token) => Some(id_token::verify_own(state, &token).ok_or_else(invalid)?),
        None => None,
    };
    let hinted_client = hint.as_ref().and_then(|c| c.get("aud")).and_then(Value::as_str).map(str::to_owned);
    let client_id = match (get("client_id"), hinted_client) {
        (Some(given), Some(hinted)) if given != hinted => return Err(invalid()),
        (given, hinted) => hinted.or(given),
    };
    let client = match client_id {
        Some(id) => {
            let id = ClientId::parse(&id).map_err(|_| invalid())?;
            Some(state.registry.client(&id).await.ok().flatten().ok_or_else(invalid)?)
        }
        None => None,
    };
    let post_logout_redirect_uri = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered =
                client.as_ref().is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r.matches(&uri)));
            if !registered {
                return Err(invalid());
            }
            Some(uri)
        }
        None => None,
    };
    Ok(LogoutRequest { hint, client, post_logout_redirect_uri, state: get("state").filter(|s| s.len() <= 2048) })
}

/// `GET /logout` and an RP's form-encoded `POST /logout`.
pub async fn end_session(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .any(|name| query.iter().filter(|(k, _)| k == name).count() > 1)
    {
        return invalid();
    }
    respond(state.get_ref(), &req, get).await
}

/// `POST /logout`: the confirmation form, or an RP's form-encoded request.
pub async fn submit(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
    let Ok(params) = async { FormParams::parse(&req, &read_body(payload).await?) }.await else {
        return invalid();
    };
    let get = |name: &str| params.get(name).map(str::to_owned);
    if params.get("confirm").is_none() {
        // An RP's cross-site POST carries no `SameSite=Lax` cookie, so the session could not
        // be found and the logout would only look done: the same request as a top-level GET
        // carries it.
        if req.cookie(crate::http::session::cookie_name(state)).is_none() {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"]
                        .iter()
                        .filter_map(|name| params.get(name).map(|v| (*name, v))),
                )
                .finish();
            return pages::see_other(&state.settings.issuer.endpoint(&format!("/logout?{query}")));
        }
        return respond(state, &req, get).await;
    }
    if !pages::is_same_origin_post(state, &req) {
        return pages::refuse_form(state, &req, "not from this origin");
    }
    let session = match Session::load(state, &req).await {
        Ok(session) => session,
        Err(e) => return unavailable(e),
    };
    let Some(session) = session.filter(|s| s.csrf_matches(params.get("csrf_token"))) else {
        return pages::refuse_form(state, &req, "CSRF token missing or wrong");
    };
    let request = match parse(state, get).await {
        Ok(request) => request,
        Err(page) => return page,
    };
    log_out(state, &req, session, request).await
}

async fn respond(state: &AppState, req: &HttpRequest, get: impl Fn(&str) -> Option<String>) -> HttpResponse {
    let request = match parse(state, get).await {
        Ok(request) => request,
        Err(page) => return page,
    };
    let session = match Session::load(state, req).await {
        Ok(session) => session,
        Err(e) => return unavailable(e),
    };
    let Some(session) = session.filter(|s| s.data.user.is_some()) else {
        // Nobody is signed in here: nothing to end.
        return finish(&request);
    };
    let hint_is_for_this_user = request.hint.as_ref().is_some_and(|hint| {
        let user = session.data.user.as_ref();
        hint.get("sub").and_then(Value::as_str) == user.map(|u| u.user_id.as_str())
    });
    if hint_is_for_this_user {
        return log_out(state, req, session, request).await;
    }
    let page = LogoutPage {
        csrf_token: &session.data.csrf,
        client_id: request.client.as_ref().map(|c| c.id.as_str()),
        post_logout_redirect_uri: request.post_logout_redirect_uri.as_deref(),
        state: request.state.as_deref(),
    };
    pages::render(StatusCode::OK, &page, request.post_logout_redirect_uri.as_deref())
}

async fn log_out(state: &AppState, req: &HttpRequest, session: Session, request: LogoutRequest) -> HttpResponse {
    if let Err(e) = session.end(state).await {
        return unavailable(e);
    }
    let user = session.data.user.clone();
    let mut event = crate::http::request_meta(req).event(state.clock.now(), "logout", "success");
    event.user_id = user.as_ref().map(|u| u.user_id.clone());
    event.client_id = request.client.as_ref().map(|c| c.id.as_str().to_owned());
    state.audit.record(event);
    if let Some(user) = user {
        notify_clients(state, &session.data.clients, &user.user_id, &user.sid).await;
    }
    let mut response = finish(&request);
    let _ = response.add_cookie(&Session::removal_cookie(state));
    response
}

/// The end of a logout: back to the client's registered URI with `state`, or the page.
fn finish(request: &LogoutRequest) -> HttpResponse {
    let Some(uri) = &request.post_logout_redirect_uri else {
        return signed_out_page();
    };
    let Ok(mut url) = url::Url::parse(uri) else {
        return signed_out_page();
    };
    if let Some(s) = &request.state {
        url.query_pairs_mut().append_pair("state", s);
    }
    pages::see_other(url.as_str())
}

fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "logout could not reach the session store");
    pages::error_page(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Try again in a moment.")
}

/// OIDC Back-Channel Logout §2.4: a logout token to each client of the session that registered
/// a `backchannel_logout_uri`, delivered in the background with retries so the user never
/// waits on a slow or absent client.
pub(crate) async fn notify_clients(state: &AppState, client_ids: &[String], user_id: &str, sid: &str) {
    let now = state.clock.now();
    for client_id in client_ids {
        let Ok(client_id) = ClientId::parse(client_id) else { continue };
        let Ok(Some(client)) = state.registry.client(&client_id).await else { continue };
        let Some(uri) = client.backchannel_logout_uri.clone() else { continue };
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(state.settings.issuer.as_str()));
        claims.insert("aud".into(), json!(client.id.as_str()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 120));
        claims.insert("jti".into(), json!(crate::crypto::random_token()));
        claims.insert("sub".into(), json!(user_id));
        claims.insert("sid".into(), json!(sid));
        claims.insert("events".into(), json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
        let token = match id_token::sign_jwt(state, client.id_token_alg, "logout+jwt", &claims) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(error = %e, client = %client.id, "logout token not signed");
                continue;
            }
        };
        let client_id = client.id.as_str().to_owned();
        tokio::spawn(async move {
            // No redirects: a registered URI must not be a way to reach other addresses.
            let http = match reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
            {
                Ok(http) => http,
                Err(e) => return tracing::error!(error = %e, "no HTTP client for back-channel logout"),
            };
            for attempt in 0..3u32 {
                let sent = http.post(&uri).form(&[("logout_token", token.as_str())]).send().await;
                match sent {
                    Ok(response) if response.status().is_success() => return,
                    Ok(response) => {
                        tracing::warn!(client = %client_id, status = %response.status(), attempt, "back-channel logout refused")
                    }
                    Err(e) => {
                        tracing::warn!(client = %client_id, error = %e, attempt, "back-channel logout not delivered")
                    }
                }
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
            }
            tracing::error!(client = %client_id, "back-channel logout gave up after 3 attempts");
        });
    }
}
