//! `GET|POST /authorize` (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636, RFC 9207, RFC 9449 §10):
//! the request is parsed into an [`AuthorizationRequest`] that cannot hold an invalid value;
//! the browser then signs in and consents as needed (`session::login`, `session::consent`), and
//! [`continue_interaction`] ends the flow with a code sent back to the client.
//!
//! An unknown client or a redirect URI that is not registered gets an error page and is never
//! redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2); every other error goes back to the
//! client's redirect URI with `state` and `iss`.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AuthorizationRequest, CodeChallenge, GrantType, Prompt, ResourceIndicator, ResponseMode, ScopeSet,
};
use crate::error::ErrorCode;
use crate::http::pages;
use crate::http::session::{Interaction, Session, SignedIn};
use crate::services::codes::CodeGrant;
use crate::services::registry::client::OIDC_SCOPES;
use crate::services::registry::Client;
use crate::services::users::User;
use crate::state::AppState;
use crate::store::hot::HotStoreError;

/// Longest `nonce` and `state` accepted (FAPI 2.0 asks for at least 64 characters of nonce).
const MAX_NONCE: usize = 512;
const MAX_STATE: usize = 2048;

impl AuthorizationRequest {
    pub fn reply(&self) -> Reply {
        Reply { redirect_uri: self.redirect_uri.clone(), mode: self.response_mode, state: self.state.clone() }
    }
}

/// Where an authorization response goes.
#[derive(Debug, Clone)]
pub struct Reply {
    redirect_uri: String,
    mode: ResponseMode,
    state: Option<String>,
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown to the user; the client is not trusted with a redirect.
    Page { status: StatusCode, title: &'static str, message: &'static str },
    /// Sent to the client's redirect URI.
    Redirect { reply: Reply, code: ErrorCode, description: &'static str },
}

impl AuthorizeError {
    pub fn unknown_client() -> Self {
        Self::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Unknown application",
            message: "The application that sent you here is not registered with this sign-in service.",
        }
    }

    fn bad_redirect_uri() -> Self {
        Self::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Unknown return address",
            message:
                "The application asked to return you to an address it has not registered. You were not redirected.",
        }
    }

    pub fn expired() -> Self {
        Self::Page { status: StatusCode::BAD_REQUEST, title: pages::EXPIRED_TITLE, message: pages::EXPIRED_MESSAGE }
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "authorization step failed");
        Self::Page {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Temporarily unavailable",
            message: "The sign-in service cannot finish this request right now. Try again in a moment.",
        }
    }

    pub fn into_response(self, state: &AppState) -> HttpResponse {
        match self {
            Self::Page { status, title, message } => pages::error_page(status, title, message),
            Self::Redirect { reply, code, description } => {
                let mut fields = vec![("error", code.as_str()), ("error_description", description)];
                if let Some(s) = reply.state.as_deref() {
                    fields.push(("state", s));
                }
                respond(state, &reply, &fields)
            }
        }
    }
}

/// The parameters as sent, each name with all its values (RFC 6749 §3.1: none may repeat,
/// empty ones count as absent).
pub struct RawParams(HashMap<String, Vec<String>>);

/// A parameter that was sent more than once.
struct Repeated;

impl RawParams {
    pub fn parse(encoded: &[u8]) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(encoded) {
            if !value.is_empty() {
                map.entry(name.into_owned()).or_default().push(value.into_owned());
            }
        }
        Self(map)
    }

    /// Sets `name` when the request did not carry it.
    pub fn set_default(&mut self, name: &str, value: &str) {
        self.0.entry(name.to_owned()).or_insert_with(|| vec![value.to_owned()]);
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    fn get(&self, name: &str) -> Result<Option<&str>, Repeated> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(_) => Err(Repeated),
        }
    }

    fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Parses and checks an authorization request: first the client and its redirect URI (errors
/// shown as a page), then everything else (errors sent back to the client).
pub async fn parse_request(
    state: &AppState,
    raw: &RawParams,
) -> Result<(Arc<Client>, AuthorizationRequest), AuthorizeError> {
    let client_id = raw.get("client_id").ok().flatten().ok_or_else(AuthorizeError::unknown_client)?;
    let client = state
        .registry
        .client(client_id)
        .await
        .map_err(AuthorizeError::unavailable)?
        .filter(|c| c.enabled)
        .ok_or_else(AuthorizeError::unknown_client)?;
    let presented_redirect = raw.get("redirect_uri").map_err(|Repeated| AuthorizeError::bad_redirect_uri())?;
    let registered = client.redirect_uri(presented_redirect).ok_or_else(AuthorizeError::bad_redirect_uri)?;
    let redirect_uri = presented_redirect.unwrap_or(registered.as_str()).to_owned();

    // From here on the redirect URI is trusted; errors go back to it.
    let mut reply = Reply { redirect_uri: redirect_uri.clone(), mode: ResponseMode::Query, state: None };
    let fail = |reply: &Reply, code, description| AuthorizeError::Redirect { reply: reply.clone(), code, description };
    let invalid = |reply: &Reply, description| fail(reply, ErrorCode::InvalidRequest, description);

    reply.state = match raw.get("state") {
        Ok(Some(s)) if s.len() > MAX_STATE => return Err(invalid(&reply, "state is too long")),
        Ok(s) => s.map(str::to_owned),
        Err(Repeated) => return Err(invalid(&reply, "a parameter is repeated")),
    };
    reply.mode = match raw.get("response_mode") {
        Ok(None | Some("query")) => ResponseMode::Query,
        Ok(Some("form_post")) => ResponseMode::FormPost,
        Ok(Some(_)) => return Err(invalid(&reply, "response_mode must be query or form_post")),
        Err(Repeated) => return Err(invalid(&reply, "a parameter is repeated")),
    };
    let single = |name: &str| raw.get(name).map_err(|Repeated| invalid(&reply, "a parameter is repeated"));

    if single("request")?.is_some() {
        return Err(fail(&reply, ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    match single("response_type")? {
        None => return Err(invalid(&reply, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(&reply, ErrorCode::UnsupportedResponseType, "only response_type=code is supported"))
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(&reply, ErrorCode::UnauthorizedClient, "the client may not use the authorization code grant"));
    }
    let scope = match single("scope")? {
        Some(text) => {
            ScopeSet::parse(text).map_err(|_| fail(&reply, ErrorCode::InvalidScope, "the scope is malformed"))?
        }
        None => ScopeSet::empty(),
    };
    if !scope.is_subset(&client.scopes) {
        return Err(fail(&reply, ErrorCode::InvalidScope, "a requested scope is not allowed"));
    }
    let mut resources = Vec::new();
    for text in raw.all("resource") {
        let resource = ResourceIndicator::parse(text)
            .map_err(|_| fail(&reply, ErrorCode::InvalidTarget, "the resource is not a valid absolute URI"))?;
        if !client.allows_resource(&resource) || state.registry.resource(resource.as_str()).is_none() {
            return Err(fail(&reply, ErrorCode::InvalidTarget, "the resource is not allowed for this client"));
        }
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    if resources.is_empty() {
        resources.extend(client.default_resource.clone());
    }
    // OIDC Core §3.1.2.1: an OpenID request always names its redirect URI.
    if scope.contains("openid") && presented_redirect.is_none() {
        return Err(invalid(&reply, "redirect_uri is required for an OpenID Connect request"));
    }
    let challenge =
        single("code_challenge")?.ok_or_else(|| invalid(&reply, "code_challenge is required (PKCE with S256)"))?;
    let code_challenge = CodeChallenge::parse(challenge, single("code_challenge_method")?)
        .map_err(|e| invalid(&reply, e.description()))?;
    let nonce = match single("nonce")? {
        Some(n) if n.len() > MAX_NONCE => return Err(invalid(&reply, "nonce is too long")),
        n => n.map(str::to_owned),
    };
    let prompt = parse_prompt(single("prompt")?).ok_or_else(|| invalid(&reply, "prompt is not valid"))?;
    let max_age = match single("max_age")? {
        Some(text) => {
            Some(text.parse::<u32>().map_err(|_| invalid(&reply, "max_age must be a non-negative integer"))? as i64)
        }
        None => None,
    };
    let login_hint = match single("login_hint")? {
        Some(hint) if hint.chars().count() > 256 => return Err(invalid(&reply, "login_hint is too long")),
        hint => hint.map(str::to_owned),
    };
    let dpop_jkt = match single("dpop_jkt")? {
        Some(jkt) if !is_thumbprint(jkt) => return Err(invalid(&reply, "dpop_jkt must be a JWK SHA-256 thumbprint")),
        jkt => jkt.map(str::to_owned),
    };
    let request = AuthorizationRequest {
        client_id: client.id.as_str().to_owned(),
        redirect_uri,
        redirect_uri_sent: presented_redirect.is_some(),
        response_mode: reply.mode,
        state: reply.state.clone(),
        scope,
        resources,
        code_challenge,
        nonce,
        prompt,
        max_age,
        login_hint,
        dpop_jkt,
        pushed: None,
    };
    Ok((client, request))
}

fn parse_prompt(text: Option<&str>) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    for value in text.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // Offered by nobody here: there is one account per session.
            "select_account" => {}
            _ => return None,
        }
    }
    let others = prompt.login || prompt.consent || text.is_some_and(|t| t.contains("select_account"));
    (!(prompt.none && others)).then_some(prompt)
}

/// An RFC 7638 SHA-256 thumbprint: 43 base64url characters.
fn is_thumbprint(text: &str) -> bool {
    text.len() == 43 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /authorize`.
pub async fn authorize_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let raw = RawParams::parse(req.query_string().as_bytes());
    authorize(&req, state.get_ref(), raw).await
}

/// `POST /authorize` (form-encoded, OIDC Core §3.1.2.1).
pub async fn authorize_post(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let is_form = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !is_form {
        return pages::error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported request",
            "An authorization request sent by POST must be form-encoded.",
        );
    }
    // SECURITY.md §6: the same body limit as every other form here.
    let Ok(body) = crate::http::form::read_body(payload).await else {
        return pages::error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "This authorization request is too large to be accepted.",
        );
    };
    // A cross-site POST carries no `SameSite=Lax` cookie: answering it would start a new
    // session over the user's own. The same request as a top-level GET carries the cookie.
    if req.cookie(crate::http::session::cookie_name(&state)).is_none() {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(url::form_urlencoded::parse(&body))
            .finish();
        return pages::see_other(&state.settings.issuer.endpoint(&format!("/authorize?{query}")));
    }
    authorize(&req, state.get_ref(), RawParams::parse(&body)).await
}

async fn authorize(req: &HttpRequest, state: &AppState, raw: RawParams) -> HttpResponse {
    let outcome = async {
        let (client, request) = match raw.get("request_uri") {
            Ok(None) => {
                let (client, request) = parse_request(state, &raw).await?;
                if client.require_pushed_authorization_requests {
                    return Err(AuthorizeError::Redirect {
                        reply: request.reply(),
                        code: ErrorCode::InvalidRequest,
                        description: "this client sends authorization requests through PAR only",
                    });
                }
                (client, request)
            }
            Ok(Some(request_uri)) => {
                let client_id = raw.get("client_id").ok().flatten().ok_or_else(AuthorizeError::unknown_client)?;
                pushed_request(state, client_id, request_uri).await?
            }
            Err(Repeated) => return Err(AuthorizeError::unknown_client()),
        };
        let existing = Session::load(state, req).await.map_err(AuthorizeError::unavailable)?;
        let now = state.clock.now();
        let needs_login = match existing.as_ref().and_then(|s| s.data.user.as_ref()) {
            None => true,
            // OIDC Core §3.1.2.1: max_age=0 asks for a fresh sign-in, like prompt=login.
            Some(user) => {
                request.prompt.login || request.max_age.is_some_and(|max| max == 0 || now - user.auth_time > max)
            }
        };
        // A session is stored only for a browser that goes on to a page: a silent request
        // that fails writes nothing.
        if needs_login && request.prompt.none {
            return Err(AuthorizeError::Redirect {
                reply: request.reply(),
                code: ErrorCode::LoginRequired,
                description: "the user is not signed in",
            });
        }
        let session = match existing {
            Some(session) => session,
            None => Session::start(state).await.map_err(AuthorizeError::unavailable)?,
        };
        let interaction =
            Interaction { request, binding: session.data.binding.clone(), needs_login, consent_given: false };
        continue_interaction(state, req, &client, session, interaction, None).await
    }
    .await;
    outcome.unwrap_or_else(|e| e.into_response(state))
}

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
                if !state.hot.delete(pushed).await.map_err(AuthorizeError::unavailable)? {
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

/// An authorization response (RFC 6749 §4.1.2) with `iss` (RFC 9207): a 303 to the redirect
/// URI with the fields in its query, or the `form_post` page.
fn respond(state: &AppState, reply: &Reply, fields: &[(&str, &str)]) -> HttpResponse {
    let issuer = state.settings.issuer.as_str();
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.push(("iss", issuer));
    match reply.mode {
        ResponseMode::FormPost => pages::form_post(&reply.redirect_uri, &all),
        ResponseMode::Query => match url::Url::parse(&reply.redirect_uri) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(all.iter());
                pages::see_other(url.as_str())
            }
            Err(_) => {
                pages::error_page(StatusCode::BAD_REQUEST, "Unknown return address", "The return address is not valid.")
            }
        },
    }
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

/// The user said no (RFC 6749 §4.1.2.1 `access_denied`).
pub fn deny(state: &AppState, request: &AuthorizationRequest) -> HttpResponse {
    AuthorizeError::Redirect {
        reply: request.reply(),
        code: ErrorCode::AccessDenied,
        description: "the user denied the request",
    }
    .into_response(state)
}

/// RFC 9126 §2.2: the `request_uri` of a pushed request.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A pushed authorization request, kept in the hot store under its `request_uri`'s hash.
#[derive(Serialize, Deserialize)]
pub struct Pushed {
    pub request: AuthorizationRequest,
    pub expires_at: i64,
}

/// Hot-store key of a pushed request.
pub fn pushed_key(request_uri: &str) -> String {
    crate::store::hot::key("par", &crate::crypto::b64url(&crate::crypto::sha256(request_uri.as_bytes())))
}

/// The pushed request a `request_uri` names, for `client_id`. Unknown, expired or another
/// client's: an error page (there is no checked redirect URI to send an error to).
pub async fn pushed_request(
    state: &AppState,
    client_id: &str,
    request_uri: &str,
) -> Result<(std::sync::Arc<Client>, AuthorizationRequest), AuthorizeError> {
    let expired = AuthorizeError::expired;
    if !request_uri.starts_with(URN_PREFIX) {
        return Err(expired());
    }
    let bytes =
        state.hot.get(&pushed_key(request_uri)).await.map_err(AuthorizeError::unavailable)?.ok_or_else(expired)?;
    let pushed: Pushed = serde_json::from_slice(&bytes).map_err(AuthorizeError::unavailable)?;
    if pushed.request.client_id != client_id || pushed.expires_at <= state.clock.now() {
        return Err(expired());
    }
    let client = state
        .registry
        .client(client_id)
        .await
        .map_err(AuthorizeError::unavailable)?
        .filter(|c| c.enabled)
        .ok_or_else(AuthorizeError::unknown_client)?;
    Ok((client, pushed.request))
}
