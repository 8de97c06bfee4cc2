//! Parsing an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 8707,
//! RFC 9449 §10) into an [`AuthorizationRequest`], as named steps in the order they run: first
//! the client and its redirect URI (errors shown as a page, never redirected), then the reply
//! (`state`, `response_mode`), then everything else (errors sent back to the client). A pushed
//! request (RFC 9126) is read back here too.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::response::{AuthorizeError, Reply};
use crate::domain::{
    AuthorizationRequest, ClientId, CodeChallenge, GrantType, Prompt, ResourceIndicator, ResponseMode, ScopeSet,
};
use crate::error::ErrorCode;
use crate::services::registry::Client;
use crate::state::AppState;
use crate::store::hot::{keyspaces, HashedKey, Keyspace};
use idp_verify::Jkt;

/// Longest `nonce` and `state` accepted (FAPI 2.0 asks for at least 64 characters of nonce).
const MAX_NONCE: usize = 512;
const MAX_STATE: usize = 2048;
const MAX_LOGIN_HINT_CHARS: usize = 256;

/// The parameters as sent, each name with all its values (RFC 6749 §3.1: none may repeat,
/// empty ones count as absent).
pub struct RawParams(HashMap<String, Vec<String>>);

/// A parameter that was sent more than once.
pub(super) struct Repeated;

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

    pub(super) fn get(&self, name: &str) -> Result<Option<&str>, Repeated> {
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

/// Parses and checks an authorization request, step by step.
pub async fn parse_request(
    state: &AppState,
    raw: &RawParams,
) -> Result<(Arc<Client>, AuthorizationRequest), AuthorizeError> {
    let client = known_client(state, raw).await?;
    let (redirect_uri, redirect_uri_sent) = registered_redirect_uri(&client, raw)?;
    // From here on the redirect URI is trusted; errors go back to it.
    let steps = Steps { raw, reply: reply_to(raw, redirect_uri.clone())? };
    steps.refuse_request_objects()?;
    steps.require_code_response()?;
    steps.require_grant_allowed(&client)?;
    let scope = steps.requested_scope(&client)?;
    let resources = steps.requested_resources(state, &client)?;
    steps.require_redirect_uri_for_openid(&scope, redirect_uri_sent)?;
    let code_challenge = steps.pkce_challenge()?;
    let nonce = steps.nonce()?;
    let prompt = steps.prompt()?;
    let max_age = steps.max_age()?;
    let login_hint = steps.login_hint()?;
    let dpop_jkt = steps.dpop_jkt()?;
    let request = AuthorizationRequest {
        client_id: client.id.as_str().to_owned(),
        redirect_uri,
        redirect_uri_sent,
        response_mode: steps.reply.mode,
        state: steps.reply.state.clone(),
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

/// The enabled client `client_id` names; anything else is a page (no redirect URI to trust).
async fn known_client(state: &AppState, raw: &RawParams) -> Result<Arc<Client>, AuthorizeError> {
    let client_id = raw.get("client_id").ok().flatten().ok_or_else(AuthorizeError::unknown_client)?;
    enabled_client(state, client_id).await
}

/// The enabled client with this id. Text that cannot be a client id is an unknown client and
/// never reaches the store (docs/security.md §6; a NUL byte made PostgreSQL fail, issue 10).
async fn enabled_client(state: &AppState, client_id: &str) -> Result<Arc<Client>, AuthorizeError> {
    let client_id = ClientId::parse(client_id).map_err(|_| AuthorizeError::unknown_client())?;
    state
        .registry
        .client(&client_id)
        .await
        .map_err(AuthorizeError::unavailable)?
        .filter(|c| c.enabled)
        .ok_or_else(AuthorizeError::unknown_client)
}

/// The redirect URI as sent (a loopback port may differ from the registered one), or the only
/// registered one when none was sent; and whether one was sent. Unregistered: a page.
fn registered_redirect_uri(client: &Client, raw: &RawParams) -> Result<(String, bool), AuthorizeError> {
    let presented = raw.get("redirect_uri").map_err(|Repeated| AuthorizeError::bad_redirect_uri())?;
    let registered = client.redirect_uri(presented).ok_or_else(AuthorizeError::bad_redirect_uri)?;
    Ok((presented.unwrap_or(registered.as_str()).to_owned(), presented.is_some()))
}

/// Where errors and the response go from here: the redirect URI, `state`, `response_mode`.
fn reply_to(raw: &RawParams, redirect_uri: String) -> Result<Reply, AuthorizeError> {
    let mut reply = Reply { redirect_uri, mode: ResponseMode::Query, state: None };
    let invalid = |reply: &Reply, description| AuthorizeError::Redirect {
        reply: reply.clone(),
        code: ErrorCode::InvalidRequest,
        description,
    };
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
    Ok(reply)
}

/// The checks that answer to the client's redirect URI.
struct Steps<'a> {
    raw: &'a RawParams,
    reply: Reply,
}

impl Steps<'_> {
    fn fail(&self, code: ErrorCode, description: &'static str) -> AuthorizeError {
        AuthorizeError::Redirect { reply: self.reply.clone(), code, description }
    }

    fn invalid(&self, description: &'static str) -> AuthorizeError {
        self.fail(ErrorCode::InvalidRequest, description)
    }

    fn single(&self, name: &str) -> Result<Option<&str>, AuthorizeError> {
        self.raw.get(name).map_err(|Repeated| self.invalid("a parameter is repeated"))
    }

    fn refuse_request_objects(&self) -> Result<(), AuthorizeError> {
        match self.single("request")? {
            Some(_) => Err(self.fail(ErrorCode::RequestNotSupported, "request objects are not supported")),
            None => Ok(()),
        }
    }

    fn require_code_response(&self) -> Result<(), AuthorizeError> {
        match self.single("response_type")? {
            None => Err(self.invalid("response_type is required")),
            Some("code") => Ok(()),
            Some(_) => Err(self.fail(ErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
        }
    }

    fn require_grant_allowed(&self, client: &Client) -> Result<(), AuthorizeError> {
        if client.allows_grant(GrantType::AuthorizationCode) {
            return Ok(());
        }
        Err(self.fail(ErrorCode::UnauthorizedClient, "the client may not use the authorization code grant"))
    }

    fn requested_scope(&self, client: &Client) -> Result<ScopeSet, AuthorizeError> {
        let scope = match self.single("scope")? {
            Some(text) => {
                ScopeSet::parse(text).map_err(|_| self.fail(ErrorCode::InvalidScope, "the scope is malformed"))?
            }
            None => ScopeSet::empty(),
        };
        if !scope.is_subset(&client.scopes) {
            return Err(self.fail(ErrorCode::InvalidScope, "a requested scope is not allowed"));
        }
        Ok(scope)
    }

    /// RFC 8707: each `resource` the client may use and the provider knows, or its default.
    fn requested_resources(&self, state: &AppState, client: &Client) -> Result<Vec<ResourceIndicator>, AuthorizeError> {
        let mut resources = Vec::new();
        for text in self.raw.all("resource") {
            let resource = ResourceIndicator::parse(text)
                .map_err(|_| self.fail(ErrorCode::InvalidTarget, "the resource is not a valid absolute URI"))?;
            if !client.allows_resource(&resource) || state.registry.resource(resource.as_str()).is_none() {
                return Err(self.fail(ErrorCode::InvalidTarget, "the resource is not allowed for this client"));
            }
            if !resources.contains(&resource) {
                resources.push(resource);
            }
        }
        if resources.is_empty() {
            resources.extend(client.default_resource.clone());
        }
        Ok(resources)
    }

    /// OIDC Core §3.1.2.1: an OpenID request always names its redirect URI.
    fn require_redirect_uri_for_openid(&self, scope: &ScopeSet, sent: bool) -> Result<(), AuthorizeError> {
        if scope.contains("openid") && !sent {
            return Err(self.invalid("redirect_uri is required for an OpenID Connect request"));
        }
        Ok(())
    }

    /// RFC 7636 with S256 only: a missing method means `plain`, which is refused.
    fn pkce_challenge(&self) -> Result<CodeChallenge, AuthorizeError> {
        let challenge = self
            .single("code_challenge")?
            .ok_or_else(|| self.invalid("code_challenge is required (PKCE with S256)"))?;
        CodeChallenge::parse(challenge, self.single("code_challenge_method")?)
            .map_err(|e| self.invalid(e.description()))
    }

    fn nonce(&self) -> Result<Option<String>, AuthorizeError> {
        match self.single("nonce")? {
            Some(n) if n.len() > MAX_NONCE => Err(self.invalid("nonce is too long")),
            n => Ok(n.map(str::to_owned)),
        }
    }

    fn prompt(&self) -> Result<Prompt, AuthorizeError> {
        parse_prompt(self.single("prompt")?).ok_or_else(|| self.invalid("prompt is not valid"))
    }

    fn max_age(&self) -> Result<Option<i64>, AuthorizeError> {
        match self.single("max_age")? {
            Some(text) => Ok(Some(
                text.parse::<u32>().map_err(|_| self.invalid("max_age must be a non-negative integer"))? as i64,
            )),
            None => Ok(None),
        }
    }

    fn login_hint(&self) -> Result<Option<String>, AuthorizeError> {
        match self.single("login_hint")? {
            Some(hint) if hint.chars().count() > MAX_LOGIN_HINT_CHARS => Err(self.invalid("login_hint is too long")),
            hint => Ok(hint.map(str::to_owned)),
        }
    }

    /// RFC 9449 §10: the thumbprint of the DPoP key the code is to be bound to.
    fn dpop_jkt(&self) -> Result<Option<Jkt>, AuthorizeError> {
        self.single("dpop_jkt")?
            .map(Jkt::parse)
            .transpose()
            .map_err(|_| self.invalid("dpop_jkt must be a JWK SHA-256 thumbprint"))
    }
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

/// RFC 9126 §2.2: the `request_uri` of a pushed request.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A pushed authorization request, kept in the hot store under its `request_uri`'s hash.
#[derive(Serialize, Deserialize)]
pub struct Pushed {
    pub request: AuthorizationRequest,
    pub expires_at: i64,
}

/// Pushed requests, keyed by their `request_uri`'s hash.
pub const PUSHED: Keyspace<Pushed> = Keyspace::of(&keyspaces::PUSHED_REQUEST);

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
    let pushed = PUSHED
        .get(state.hot.as_ref(), &HashedKey::of(request_uri))
        .await
        .map_err(AuthorizeError::unavailable)?
        .ok_or_else(expired)?;
    if pushed.request.client_id != client_id || pushed.expires_at <= state.clock.now() {
        return Err(expired());
    }
    let client = enabled_client(state, client_id).await?;
    Ok((client, pushed.request))
}
