//! `GET|POST /consent`: the user allows or denies what a client asked for; an allowed request
//! is remembered (durably) so the same request does not ask again.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::login::{accept_submission, expired, resume, InteractionParam, Submission};
use crate::http::pages::{self, ConsentPage};
use crate::http::session::{Interaction, Session};
use crate::oauth::authorize::{continue_interaction, AuthorizeError};
use crate::services::registry::Client;
use crate::state::AppState;
use crate::store::models::NewAuditEvent;

/// Words a user understands for the OpenID Connect scopes; other scopes are shown as named.
fn describe(scope: &str) -> String {
    match scope {
        "openid" => "know who you are".into(),
        "profile" => "see your name".into(),
        "email" => "see your email address".into(),
        "offline_access" => "keep access while you are away".into(),
        other => format!("use “{other}”"),
    }
}

async fn consent_page(
    state: &AppState,
    session: &Session,
    interaction: &Interaction,
    interaction_id: &str,
    client: &Client,
) -> Result<HttpResponse, AuthorizeError> {
    let user_id = session.data.user.as_ref().map(|u| u.user_id.clone()).unwrap_or_default();
    let user = state.users.find(&user_id).await.map_err(AuthorizeError::unavailable)?;
    let Some(user) = user else {
        return Ok(expired());
    };
    let request = &interaction.request;
    let page = ConsentPage {
        client_name: &client.name,
        username: &user.username,
        scopes: request.scope.iter().map(|s| describe(s.as_str())).collect(),
        audiences: request.resources.iter().map(|r| r.as_str().to_owned()).collect(),
        csrf_token: &session.data.csrf,
        interaction: interaction_id,
    };
    Ok(pages::render(StatusCode::OK, &page, Some(&request.redirect_uri)))
}

/// `GET /consent?interaction=…`.
pub async fn show(req: HttpRequest, query: InteractionParam, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
    let Ok(query) = query else { return expired() };
    let shown = async {
        match resume(state, &req, &query.interaction).await? {
            Some((session, interaction, client)) if session.data.user.is_some() && !interaction.needs_login => {
                consent_page(state, &session, &interaction, &query.interaction, &client).await
            }
            _ => Ok(expired()),
        }
    }
    .await;
    shown.unwrap_or_else(|e| e.into_response(state))
}

/// `POST /consent`: `decision=allow` or `decision=deny`, with the CSRF token.
pub async fn submit(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
    let Submission { params, interaction_id, session, mut interaction, client } =
        match accept_submission(state, &req, payload).await {
            Ok(submission) => submission,
            Err(refused) => return refused,
        };
    let Some(user) = session.data.user.clone().filter(|_| !interaction.needs_login) else {
        return pages::refuse_form(state, &req, "consent before sign-in");
    };
    let now = state.clock.now();
    let mut event = crate::http::request_meta(&req).event(now, "consent", "granted");
    event.client_id = Some(client.id.as_str().to_owned());
    event.user_id = Some(user.user_id.clone());
    match params.get("decision") {
        Some("allow") => {
            let remembered = remember(state, &interaction, &user.user_id, &event).await;
            if let Err(e) = remembered {
                return e.into_response(state);
            }
            interaction.consent_given = true;
            continue_interaction(state, &req, &client, session, interaction, Some(&interaction_id))
                .await
                .unwrap_or_else(|e| e.into_response(state))
        }
        Some("deny") => {
            event.outcome = "denied".into();
            state.audit.record(event);
            match Interaction::finish(state, &interaction_id).await {
                Ok(true) => {}
                Ok(false) => return expired(),
                Err(e) => return AuthorizeError::unavailable(e).into_response(state),
            }
            crate::oauth::authorize::deny(state, &interaction.request)
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "Unknown answer", "Choose Allow or Deny."),
    }
}

/// Stores the consent, merged with what the user allowed this client before, with its audit
/// event in the same transaction.
async fn remember(
    state: &AppState,
    interaction: &Interaction,
    user_id: &str,
    event: &NewAuditEvent,
) -> Result<(), AuthorizeError> {
    let request = &interaction.request;
    let granted = state.consents.requested(&request.scope, &request.resources);
    state
        .consents
        .remember(user_id, &request.client_id, granted, event.clone())
        .await
        .map_err(AuthorizeError::unavailable)
}
