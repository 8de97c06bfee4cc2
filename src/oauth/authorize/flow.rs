//! How an authorization goes on after the request is parsed: sign-in, consent, then the code.

use actix_web::{HttpRequest, HttpResponse};

use super::request::PUSHED;
use super::response::{respond, AuthorizeError};
use crate::domain::AuthorizationRequest;
use crate::error::ErrorCode;
use crate::http::pages;
use crate::http::session::{Interaction, Session, SignedIn};
use crate::services::codes::CodeGrant;
use crate::services::registry::client::OIDC_SCOPES;
use crate::services::registry::Client;
use crate::services::users::User;
use crate::state::AppState;
use crate::store::hot::HotStoreError;

/// The next step of an authorization: sign-in, consent, or the code. `interaction_id` names
/// the stored interaction when a page already worked on it.
pub async fn continue_interaction(
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    mut session: Session,
    interaction: Interaction,
    interaction_id: Option<&str>,
) -> Result<HttpResponse, AuthorizeError> {
    let reply = interaction.request.reply();
    let prompt = interaction.request.prompt;
    let user = match (&session.data.user, interaction.needs_login) {
        (Some(user), false) => state
            .users
            .find(&user.user_id)
            .await
            .map_err(AuthorizeError::unavailable)?
            .filter(|u| u.enabled)
            .map(|record| (user.clone(), record)),
        _ => None,
    };
    let next_page = match &user {
        None if prompt.none => {
            return Err(AuthorizeError::Redirect {
                reply,
                code: ErrorCode::LoginRequired,
                description: "the user is not signed in",
            })
        }
        None => Some("login"),
        Some((user, _)) if !interaction.consent_given && needs_consent(state, client, &interaction, user).await? => {
            if prompt.none {
                return Err(AuthorizeError::Redirect {
                    reply,
                    code: ErrorCode::ConsentRequired,
                    description: "the user has not consented",
                });
            }
            Some("consent")
        }
        Some(_) => None,
    };
    let mut response = match (next_page, user) {
        (Some(page), _) => {
            let id = match interaction_id {
                Some(id) => {
                    interaction.save(state, id).await.map_err(AuthorizeError::unavailable)?;
                    id.to_owned()
                }
                None => interaction.start(state).await.map_err(AuthorizeError::unavailable)?,
            };
            // Absolute, from the configured issuer (WEB-10), never from the request's Host.
            pages::see_other(&state.settings.issuer.endpoint(&format!("/{page}?interaction={id}")))
        }
        (None, Some((user, record))) => {
            // Used up once: of two submissions of the same page (two tabs, a double click) only
            // one gets a code.
            if let Some(id) = interaction_id {
                if !Interaction::finish(state, id).await.map_err(AuthorizeError::unavailable)? {
                    return Err(AuthorizeError::expired());
                }
            }
            if let Some(pushed) = &interaction.request.pushed {
                if !PUSHED.delete(state.hot.as_ref(), pushed).await.map_err(AuthorizeError::unavailable)? {
                    return Err(AuthorizeError::expired());
                }
            }
            let code =
                issue_code(state, &interaction.request, &user, record).await.map_err(AuthorizeError::unavailable)?;
            session.remember_client(state, client.id.as_str()).await.map_err(AuthorizeError::unavailable)?;
            let mut event =
                crate::http::request_meta(req).event(state.clock.now(), "authorization.code.issued", "success");
            event.client_id = Some(client.id.as_str().to_owned());
            event.user_id = Some(user.user_id.clone());
            state.audit.record(event);
            let mut fields = vec![("code", code.as_str())];
            if let Some(s) = reply.state.as_deref() {
                fields.push(("state", s));
            }
            respond(state, &reply, &fields)
        }
        (None, None) => unreachable!("no page is only chosen for a signed-in user"),
    };
    if session.is_new {
        let _ = response.add_cookie(&session.cookie(state));
    }
    Ok(response)
}

/// Whether the user must be asked: not for first-party clients, nor when a remembered consent
/// covers every scope and audience asked for, unless `prompt=consent`.
async fn needs_consent(
    state: &AppState,
    client: &Client,
    interaction: &Interaction,
    user: &SignedIn,
) -> Result<bool, AuthorizeError> {
    let request = &interaction.request;
    if request.prompt.consent {
        return Ok(true);
    }
    if client.first_party {
        return Ok(false);
    }
    let asked = state.consents.requested(&request.scope, &request.resources);
    let covered =
        state.consents.covers(&user.user_id, client.id.as_str(), &asked).await.map_err(AuthorizeError::unavailable)?;
    Ok(!covered)
}

async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    user: &SignedIn,
    record: User,
) -> Result<String, HotStoreError> {
    let grant = CodeGrant {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_sent: request.redirect_uri_sent,
        code_challenge: request.code_challenge.clone(),
        dpop_jkt: request.dpop_jkt.clone(),
        nonce: request.nonce.clone(),
        scope: request.scope.clone(),
        resources: request.resources.clone(),
        auth_time: user.auth_time,
        sid: user.sid.clone(),
        expires_at: 0,
        user: record,
    };
    state.codes.issue(grant).await
}

/// Scopes of OpenID Connect (never a resource server's).
pub fn is_oidc_scope(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope)
}
