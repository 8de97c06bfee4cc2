//! The answers of the authorization endpoint: the response to the client's redirect URI (RFC
//! 6749 §4.1.2, with `iss` from RFC 9207), as a 303 or a `form_post` page, and its errors: a
//! page when the client or redirect URI cannot be trusted, a redirect otherwise.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::domain::{AuthorizationRequest, ResponseMode};
use crate::error::ErrorCode;
use crate::http::pages;
use crate::state::AppState;

impl AuthorizationRequest {
    pub fn reply(&self) -> Reply {
        Reply { redirect_uri: self.redirect_uri.clone(), mode: self.response_mode, state: self.state.clone() }
    }
}

/// Where an authorization response goes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub(super) redirect_uri: String,
    pub(super) mode: ResponseMode,
    pub(super) state: Option<String>,
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

    pub(super) fn bad_redirect_uri() -> Self {
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
            title: pages::UNAVAILABLE_TITLE,
            message: pages::UNAVAILABLE_MESSAGE,
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

/// An authorization response (RFC 6749 §4.1.2) with `iss` (RFC 9207): a 303 to the redirect
/// URI with the fields in its query, or the `form_post` page.
pub(super) fn respond(state: &AppState, reply: &Reply, fields: &[(&str, &str)]) -> HttpResponse {
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

/// The user said no (RFC 6749 §4.1.2.1 `access_denied`).
pub fn deny(state: &AppState, request: &AuthorizationRequest) -> HttpResponse {
    AuthorizeError::Redirect {
        reply: request.reply(),
        code: ErrorCode::AccessDenied,
        description: "the user denied the request",
    }
    .into_response(state)
}
