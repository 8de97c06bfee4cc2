//! `GET|POST /login`: the sign-in page of an interaction.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::domain::ClientId;
use crate::http::form::{read_body, FormParams};
use crate::http::pages::{self, LoginPage};
use crate::http::session::{Interaction, Session};
use crate::oauth::authorize::{continue_interaction, AuthorizeError};
use crate::services::registry::Client;
use crate::services::sign_in_limits::{Attempt, SignInGate};
use crate::state::AppState;

#[derive(serde::Deserialize)]
pub struct InteractionQuery {
    pub interaction: String,
}

/// The query of `GET /login` and `GET /consent`, or `None` when it names no single
/// `interaction`: the caller shows its page for a sign-in that cannot go on, never actix's
/// own text/plain deserializer message (issue 10; docs/security.md §5, every page has its CSP).
pub type InteractionParam = Result<web::Query<InteractionQuery>, actix_web::Error>;

/// The page for a sign-in step that cannot go on (expired, or from another browser).
pub fn expired() -> HttpResponse {
    pages::error_page(StatusCode::BAD_REQUEST, pages::EXPIRED_TITLE, pages::EXPIRED_MESSAGE)
}

/// A form POST on a sign-in page that passed what every such POST needs (docs/security.md §4):
/// this provider's origin, a readable form, a live interaction of this browser, and the
/// session's CSRF token.
pub(super) struct Submission {
    pub params: FormParams,
    pub interaction_id: String,
    pub session: Session,
    pub interaction: Interaction,
    pub client: std::sync::Arc<Client>,
}

/// The checks of [`Submission`]; a refusal is an audited 403 that changes nothing.
pub(super) async fn accept_submission(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Submission, HttpResponse> {
    if !pages::is_same_origin_post(state, req) {
        return Err(pages::refuse_form(state, req, "not from this origin"));
    }
    let Ok(params) = async { FormParams::parse(req, &read_body(payload).await?) }.await else {
        return Err(pages::refuse_form(state, req, "not a readable form"));
    };
    let interaction_id = params.get("interaction").unwrap_or_default().to_owned();
    let (session, interaction, client) = match resume(state, req, &interaction_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(pages::refuse_form(state, req, "no such interaction for this browser")),
        Err(e) => return Err(e.into_response(state)),
    };
    if !session.csrf_matches(params.get("csrf_token")) {
        return Err(pages::refuse_form(state, req, "CSRF token missing or wrong"));
    }
    Ok(Submission { params, interaction_id, session, interaction, client })
}

/// The session, the interaction it owns and the interaction's client, or why not.
pub(super) async fn resume(
    state: &AppState,
    req: &HttpRequest,
    interaction_id: &str,
) -> Result<Option<(Session, Interaction, std::sync::Arc<Client>)>, AuthorizeError> {
    let Some(session) = Session::load(state, req).await.map_err(AuthorizeError::unavailable)? else {
        return Ok(None);
    };
    let Some(interaction) =
        Interaction::load(state, interaction_id, &session).await.map_err(AuthorizeError::unavailable)?
    else {
        return Ok(None);
    };
    let Ok(client_id) = ClientId::parse(&interaction.request.client_id) else { return Ok(None) };
    let client = state.registry.client(&client_id).await.map_err(AuthorizeError::unavailable)?.filter(|c| c.enabled);
    Ok(client.map(|client| (session, interaction, client)))
}

fn login_page(
    status: StatusCode,
    session: &Session,
    interaction: &Interaction,
    interaction_id: &str,
    client: &Client,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let page = LoginPage {
        client_name: &client.name,
        csrf_token: &session.data.csrf,
        interaction: interaction_id,
        username,
        error,
    };
    pages::render(status, &page, Some(&interaction.request.redirect_uri))
}

/// `GET /login?interaction=…`.
pub async fn show(req: HttpRequest, query: InteractionParam, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
    let Ok(query) = query else { return expired() };
    match resume(state, &req, &query.interaction).await {
        Ok(Some((session, interaction, client))) => {
            let hint = interaction.request.login_hint.clone().unwrap_or_default();
            login_page(StatusCode::OK, &session, &interaction, &query.interaction, &client, &hint, None)
        }
        Ok(None) => expired(),
        Err(e) => e.into_response(state),
    }
}

/// `POST /login`: CSRF token, same-origin check, password; then the session is replaced and
/// the authorization goes on.
pub async fn submit(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
    let Submission { params, interaction_id, session, mut interaction, client } =
        match accept_submission(state, &req, payload).await {
            Ok(submission) => submission,
            Err(refused) => return refused,
        };
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let normalized = crate::services::users::normalize_username(username).ok();
    let address = crate::http::client_address(&req).map(|a| a.to_string());
    let attempt = Attempt { username: normalized.as_deref(), address: address.as_deref() };
    let (refusal, retry_after) = match state.sign_in_limits.gate(attempt).await {
        Ok(SignInGate::Open) => (None, 0),
        Ok(SignInGate::UsernameLocked) => {
            (Some(("locked", "Too many failed attempts. Try again in 15 minutes.".to_owned())), 900)
        }
        Ok(SignInGate::AddressSlowed(over)) => {
            let wait = over.retry_after_seconds();
            (
                Some(("slowed", format!("Too many failed sign-ins from your network. Try again in {wait} seconds."))),
                wait,
            )
        }
        Err(e) => return AuthorizeError::unavailable(e).into_response(state),
    };
    if let Some((outcome, message)) = refusal {
        let mut event = crate::http::request_meta(&req).event(state.clock.now(), "login", outcome);
        event.client_id = Some(client.id.as_str().to_owned());
        state.audit.record_refusal(event);
        let mut page = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &session,
            &interaction,
            &interaction_id,
            &client,
            username,
            Some(&message),
        );
        page.headers_mut().insert(actix_web::http::header::RETRY_AFTER, retry_after.into());
        return page;
    }
    let user = match state.users.authenticate(username, password).await {
        Ok(user) => user,
        Err(e) => return AuthorizeError::unavailable(e).into_response(state),
    };
    let now = state.clock.now();
    let Some(user) = user else {
        if let Err(e) = state.sign_in_limits.count_failure(attempt).await {
            return AuthorizeError::unavailable(e).into_response(state);
        }
        let mut event = crate::http::request_meta(&req).event(now, "login", "failure");
        event.client_id = Some(client.id.as_str().to_owned());
        event.detail =
            Some(serde_json::json!({ "username": username.chars().take(64).collect::<String>() }).to_string());
        state.audit.record_refusal(event);
        return login_page(
            StatusCode::UNAUTHORIZED,
            &session,
            &interaction,
            &interaction_id,
            &client,
            username,
            Some("The username or password is not right."),
        );
    };
    if let Some(name) = attempt.username {
        let _ = state.sign_in_limits.forget_failures(name).await;
    }
    let session = match session.sign_in(state, &user.user_id).await {
        Ok((session, None)) => session,
        Ok((session, Some((previous, clients)))) => {
            // Another user signed in over this browser's session: that one ended.
            super::logout::notify_clients(state, &clients, &previous.user_id, &previous.sid).await;
            session
        }
        Err(e) => return AuthorizeError::unavailable(e).into_response(state),
    };
    let mut event = crate::http::request_meta(&req).event(now, "login", "success");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(user.user_id);
    state.audit.record(event);
    interaction.needs_login = false;
    continue_interaction(state, &req, &client, session, interaction, Some(&interaction_id))
        .await
        .unwrap_or_else(|e| e.into_response(state))
}
