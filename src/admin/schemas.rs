//! The shapes the admin API's OpenAPI document names beside the service types: the problem
//! body, pages, and the reusable error responses every path lists.

use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToSchema;

use crate::services::audit::AuditRecord;
use crate::services::registry::{ClientMetadata, ResourceServer};

/// An RFC 9457 problem, as every admin error answers.
#[derive(ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct Problem {
    /// `about:blank`: the status says what kind of problem it is.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: Option<String>,
    /// The members of the body that were refused.
    errors: Option<Vec<FieldErrorDocument>>,
}

#[derive(ToSchema)]
#[schema(as = FieldError)]
#[allow(dead_code)]
pub struct FieldErrorDocument {
    /// The member, as the body names it (`grant_types`, `tags[1]`).
    field: String,
    message: String,
}

/// A page of clients.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClientPage {
    items: Vec<ClientMetadata>,
    /// A relative link to the next page; absent on the last.
    next: Option<String>,
}

/// A page of resource servers.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ResourceServerPage {
    items: Vec<ResourceServer>,
    next: Option<String>,
}

/// A page of audit events, newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuditEventPage {
    items: Vec<AuditRecord>,
    /// A relative link to the next (older) page; absent on the last.
    next: Option<String>,
}

macro_rules! problem_responses {
    ($($name:ident => $description:literal),* $(,)?) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'s> utoipa::ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                let content = Content::new(Some(Ref::from_schema_name("Problem")));
                let response =
                    ResponseBuilder::new().description($description).content("application/problem+json", content);
                (stringify!($name), response.build().into())
            }
        }
    )*};
}

problem_responses! {
    BadRequest => "The request or a member of its body is invalid; `errors` names the members",
    Unauthorized => "No valid token (RFC 6750 / RFC 9449 challenge in WWW-Authenticate)",
    Forbidden => "The token lacks the scope this call needs (insufficient_scope)",
    NotFound => "No such resource",
    Conflict => "The change conflicts with what is registered",
    PreconditionFailed => "If-Match names a representation that is no longer current",
    UnsupportedMediaType => "The body is not JSON (or JSON Merge Patch for PATCH)",
}
