//! Browser sessions on the provider's own pages: a random id in a `__Host-` cookie, the state in
//! the hot store with idle and absolute lifetimes, a CSRF token per session, and the pending
//! authorization request ("interaction") a sign-in or consent page works on.
//!
//! A session exists before sign-in (it carries the CSRF token and binds interactions to this
//! browser); signing in replaces it with a new id, so an id planted before sign-in is worthless
//! after (session fixation).

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use crate::crypto::random_token;
use crate::domain::AuthorizationRequest;
use crate::state::AppState;
use crate::store::hot::{keyspaces, HashedKey, HotStoreError, Keyspace};

/// How long a started sign-in or consent may take.
pub const INTERACTION_LIFETIME: Duration = Duration::from_secs(600);

/// The signed-in user of a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: String,
    /// When the user last entered a password (OIDC `auth_time`).
    pub auth_time: i64,
    /// The OIDC session id (`sid`) of this sign-in.
    pub sid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// Synchronizer token of every form this session shows.
    pub csrf: String,
    /// Stays the same when the id is replaced at sign-in; interactions are bound to it.
    pub binding: String,
    pub user: Option<SignedIn>,
    /// Clients that got a code in this session: told at logout (back-channel).
    #[serde(default)]
    pub clients: Vec<String>,
    /// Absolute end of the session (Unix seconds).
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub data: SessionData,
    /// Whether the browser does not have this id yet (a cookie must be set).
    pub is_new: bool,
}

/// The session cookie's name: `__Host-` (and `Secure`) when the issuer is https, so local http
/// development works with the plain name.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.issuer.is_https() {
        "__Host-idp_session"
    } else {
        "idp_session"
    }
}

/// docs/security.md §4: `HttpOnly`, `SameSite=Lax`, host-only (no `Domain`), `Secure` on https.
fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(cookie_name(state), value);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(state.settings.issuer.is_https());
    cookie
}

// The session id itself never reaches the store (it is keyed by its hash): a read of Redis
// does not yield usable cookies.
const SESSIONS: Keyspace<SessionData> = Keyspace::of(&keyspaces::BROWSER_SESSION);
const INTERACTIONS: Keyspace<Interaction> = Keyspace::of(&keyspaces::INTERACTION);

impl Session {
    /// The live session named by the request's cookie, its idle timer renewed.
    pub async fn load(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, HotStoreError> {
        let Some(cookie) = req.cookie(cookie_name(state)) else {
            return Ok(None);
        };
        let id = cookie.value().to_owned();
        if id.len() != 43 {
            return Ok(None);
        }
        let Some(data) = SESSIONS.get_readable(state.hot.as_ref(), &HashedKey::of(&id)).await? else {
            return Ok(None);
        };
        let now = state.clock.now();
        if data.expires_at <= now {
            SESSIONS.delete(state.hot.as_ref(), &HashedKey::of(&id)).await?;
            return Ok(None);
        }
        let session = Session { id, data, is_new: false };
        session.save(state).await?;
        Ok(Some(session))
    }

    /// A new anonymous session (before sign-in: it carries the CSRF token and the binding).
    pub async fn start(state: &AppState) -> Result<Session, HotStoreError> {
        let now = state.clock.now();
        let data = SessionData {
            csrf: random_token(),
            binding: random_token(),
            user: None,
            clients: Vec::new(),
            expires_at: now + state.settings.sessions.absolute_lifetime.as_secs() as i64,
        };
        let session = Session { id: random_token(), data, is_new: true };
        session.save(state).await?;
        Ok(session)
    }

    async fn save(&self, state: &AppState) -> Result<(), HotStoreError> {
        let remaining = (self.data.expires_at - state.clock.now()).max(1) as u64;
        let mut ttl = state.settings.sessions.idle_lifetime.min(Duration::from_secs(remaining));
        if self.data.user.is_none() {
            // Before sign-in a session only serves its interactions.
            ttl = ttl.min(INTERACTION_LIFETIME);
        }
        SESSIONS.put(state.hot.as_ref(), &HashedKey::of(&self.id), &self.data, ttl).await
    }

    /// Signs `user_id` in now: a new id and CSRF token replace the old ones, the binding stays.
    /// The same user signing in again keeps the OIDC session (`sid`) and the clients to tell
    /// at logout; another user ends the previous user's session, which is returned (with its
    /// clients) so they can be told.
    pub async fn sign_in(
        self,
        state: &AppState,
        user_id: &str,
    ) -> Result<(Session, Option<(SignedIn, Vec<String>)>), HotStoreError> {
        SESSIONS.delete(state.hot.as_ref(), &HashedKey::of(&self.id)).await?;
        let now = state.clock.now();
        let (user, clients, ended) = match self.data.user {
            Some(previous) if previous.user_id == user_id => {
                (SignedIn { auth_time: now, ..previous }, self.data.clients, None)
            }
            previous => (
                SignedIn { user_id: user_id.to_owned(), auth_time: now, sid: random_token() },
                Vec::new(),
                previous.map(|p| (p, self.data.clients)),
            ),
        };
        let data = SessionData {
            csrf: random_token(),
            binding: self.data.binding,
            user: Some(user),
            clients,
            expires_at: now + state.settings.sessions.absolute_lifetime.as_secs() as i64,
        };
        let session = Session { id: random_token(), data, is_new: true };
        session.save(state).await?;
        Ok((session, ended))
    }

    /// Notes that `client_id` got a code in this session.
    pub async fn remember_client(&mut self, state: &AppState, client_id: &str) -> Result<(), HotStoreError> {
        if self.data.clients.iter().any(|c| c == client_id) {
            return Ok(());
        }
        self.data.clients.push(client_id.to_owned());
        self.save(state).await
    }

    /// Ends the session (logout).
    pub async fn end(&self, state: &AppState) -> Result<(), HotStoreError> {
        SESSIONS.delete(state.hot.as_ref(), &HashedKey::of(&self.id)).await.map(drop)
    }

    pub fn cookie(&self, state: &AppState) -> Cookie<'static> {
        session_cookie(state, self.id.clone())
    }

    /// A cookie that removes the session cookie from the browser.
    pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
        let mut cookie = session_cookie(state, String::new());
        cookie.make_removal();
        cookie
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| crate::crypto::constant_time_eq(p.as_bytes(), self.data.csrf.as_bytes()))
    }
}

/// An authorization request waiting for the user to sign in or consent, bound to the browser
/// that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub request: AuthorizationRequest,
    pub binding: String,
    /// `prompt=login` or an exceeded `max_age`: the password must be entered again.
    pub needs_login: bool,
    /// The user allowed this request on the consent page.
    pub consent_given: bool,
}

impl Interaction {
    /// Stores a new interaction; returns its id.
    pub async fn start(&self, state: &AppState) -> Result<String, HotStoreError> {
        let id = random_token();
        self.save(state, &id).await?;
        Ok(id)
    }

    pub async fn save(&self, state: &AppState, id: &str) -> Result<(), HotStoreError> {
        INTERACTIONS.put(state.hot.as_ref(), id, self, INTERACTION_LIFETIME).await
    }

    /// The interaction `id`, if it is live and belongs to `session`'s browser.
    pub async fn load(state: &AppState, id: &str, session: &Session) -> Result<Option<Interaction>, HotStoreError> {
        if id.len() != 43 {
            return Ok(None);
        }
        let interaction = INTERACTIONS.get_readable(state.hot.as_ref(), id).await?;
        Ok(interaction
            .filter(|i| crate::crypto::constant_time_eq(i.binding.as_bytes(), session.data.binding.as_bytes())))
    }

    /// Ends the interaction; `false` when it was already ended (used by a concurrent request).
    pub async fn finish(state: &AppState, id: &str) -> Result<bool, HotStoreError> {
        INTERACTIONS.delete(state.hot.as_ref(), id).await
    }
}
