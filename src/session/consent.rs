//! `GET|POST /consent`: the user allows or denies what a client asked for; an allowed request
//! is remembered (durably) so the same request does not ask again.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::login::{accept_submission, expired, resume, InteractionQuery, Submission};
use super::{Interaction, Session};
use crate::http::pages::{self, ConsentPage};
use crate::oauth::authorize::{continue_interaction, is_oidc_scope, AuthorizationRequest, AuthorizeError};
use crate::services::registry::Client;
use crate::state::AppState;
use crate::store::models::{ConsentRow, NewAuditEvent};

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
pub async fn show(req: HttpRequest, query: web::Query<InteractionQuery>, state: web::Data<AppState>) -> HttpResponse {
    let state = state.get_ref();
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

/// What a consent allows: OpenID Connect scopes, and per resource server the scopes at it.
/// Kept per resource so that `read` allowed at one API and `write` at another never add up to
/// `write` at the first (OIDC Core §3.1.2.4, RFC 9700 §4.14.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsentGrant {
    pub scopes: BTreeSet<String>,
    pub resources: BTreeMap<String, BTreeSet<String>>,
}

impl ConsentGrant {
    /// What `request` asks the user to allow.
    pub fn requested(state: &AppState, request: &AuthorizationRequest) -> Self {
        let scopes =
            request.scope.iter().filter(|s| is_oidc_scope(s.as_str())).map(|s| s.as_str().to_owned()).collect();
        let resources = request
            .resources
            .iter()
            .map(|r| {
                let at_resource = match state.registry.resource(r.as_str()) {
                    Some(server) => {
                        request.scope.intersection(&server.scopes).iter().map(|s| s.as_str().to_owned()).collect()
                    }
                    None => BTreeSet::new(),
                };
                (r.as_str().to_owned(), at_resource)
            })
            .collect();
        Self { scopes, resources }
    }

    pub fn from_row(row: &ConsentRow) -> Self {
        Self {
            scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
            resources: serde_json::from_str(&row.resources).unwrap_or_default(),
        }
    }

    /// Whether this grant allows everything `asked` asks for.
    pub fn covers(&self, asked: &ConsentGrant) -> bool {
        asked.scopes.is_subset(&self.scopes)
            && asked
                .resources
                .iter()
                .all(|(resource, scopes)| self.resources.get(resource).is_some_and(|g| scopes.is_subset(g)))
    }

    fn merge(&mut self, other: ConsentGrant) {
        self.scopes.extend(other.scopes);
        for (resource, scopes) in other.resources {
            self.resources.entry(resource).or_default().extend(scopes);
        }
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
    let (user_id, client_id) = (user_id.to_owned(), request.client_id.clone());
    let granted = ConsentGrant::requested(state, request);
    let (db, event, now) = (state.db.clone(), event.clone(), state.clock.now());
    tokio::task::spawn_blocking(move || {
        db.write_audited(&event, |conn| {
            let mut all = ConsentRow::find(conn, &user_id, &client_id)?
                .map(|row| ConsentGrant::from_row(&row))
                .unwrap_or_default();
            all.merge(granted);
            ConsentRow {
                user_id: user_id.clone(),
                client_id: client_id.clone(),
                scopes: serde_json::to_string(&all.scopes).unwrap_or_else(|_| "[]".into()),
                resources: serde_json::to_string(&all.resources).unwrap_or_else(|_| "{}".into()),
                granted_at: now,
            }
            .replace(conn)
        })
    })
    .await
    .map_err(AuthorizeError::unavailable)?
    .map_err(AuthorizeError::unavailable)
}

/// A consent as an operator or the user sees it.
#[derive(Debug, serde::Serialize)]
pub struct GrantedConsent {
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    /// Per resource server, the scopes allowed there.
    pub resources: BTreeMap<String, BTreeSet<String>>,
    pub granted_at: i64,
}

/// The consents a user gave.
pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<GrantedConsent>, crate::store::StoreError> {
    let id = user_id.to_owned();
    let rows = state.db.run(move |conn| ConsentRow::for_user(conn, &id)).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let grant = ConsentGrant::from_row(&row);
            GrantedConsent {
                client_id: row.client_id,
                scopes: grant.scopes,
                resources: grant.resources,
                granted_at: row.granted_at,
            }
        })
        .collect())
}

/// Withdraws a user's consent for a client: the next authorization asks again, and the
/// refresh tokens the consent allowed (with their access tokens) are revoked. Returns whether
/// a consent existed and how many grants were revoked.
pub async fn withdraw(state: &AppState, user_id: &str, client_id: &str) -> Result<(bool, usize), String> {
    let (user, client, now) = (user_id.to_owned(), client_id.to_owned(), state.clock.now());
    let audit = NewAuditEvent {
        user_id: Some(user.clone()),
        client_id: Some(client.clone()),
        ..NewAuditEvent::new(now, "consent.withdraw", "success")
    };
    let db = state.db.clone();
    let (existed, families) = tokio::task::spawn_blocking(move || {
        db.write_audited(&audit, |conn| {
            let existed = ConsentRow::delete(conn, &user, &client)? > 0;
            let families = crate::store::models::RefreshFamilyRow::live_for(conn, &user, &client)?;
            Ok((existed, families))
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    for family in &families {
        crate::oauth::grants::refresh_token::revoke_family(state, family).await.map_err(|e| e.to_string())?;
    }
    Ok((existed, families.len()))
}
