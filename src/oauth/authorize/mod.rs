//! `GET|POST /authorize` (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636, RFC 9207, RFC 9449 §10):
//! the request is parsed into an [`AuthorizationRequest`] that cannot hold an invalid value;
//! the browser then signs in and consents as needed (`session::login`, `session::consent`), and
//! [`continue_interaction`] ends the flow with a code sent back to the client.
//!
//! An unknown client or a redirect URI that is not registered gets an error page and is never
//! redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2); every other error goes back to the
//! client's redirect URI with `state` and `iss`.

mod flow;
mod request;
mod response;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub use self::flow::{continue_interaction, is_oidc_scope};
use self::request::Repeated;
pub use self::request::{parse_request, pushed_request, Pushed, RawParams, PUSHED, URN_PREFIX};
pub use self::response::{deny, AuthorizeError, Reply};
use crate::error::ErrorCode;
use crate::http::pages;
use crate::http::session::{Interaction, Session};
use crate::state::AppState;

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
    // docs/security.md §6: the same body limit as every other form here.
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
