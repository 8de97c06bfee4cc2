//! The shapes the admin API's OpenAPI document names beside the service types: the problem
//! body, pages, and the reusable error responses every path lists.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToSchema;

use crate::services::audit::AuditRecord;
use crate::services::groups::Group;
use crate::services::registry::{ClientMetadata, ResourceServer};
use crate::services::users::User;

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
    ($($name:ident => $description:literal $(, header $header:literal => $header_description:literal)?;)*) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'s> utoipa::ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                let content = Content::new(Some(Ref::from_schema_name("Problem")));
                let response =
                    ResponseBuilder::new().description($description).content("application/problem+json", content);
                $(
                    let header = HeaderBuilder::new()
                        .schema(Object::with_type(Type::String))
                        .description(Some($header_description));
                    let response = response.header($header, header.build());
                )?
                (stringify!($name), response.build().into())
            }
        }
    )*};
}

problem_responses! {
    BadRequest => "The request or a member of its body is invalid; `errors` names the members";
    Unauthorized => "No valid token",
        header "WWW-Authenticate" => "The RFC 6750 §3 / RFC 9449 §7.1 challenges: `DPoP`, and `Bearer` when the admin \
resource server accepts it";
    Forbidden => "The token lacks the scope this call needs",
        header "WWW-Authenticate" => "An `insufficient_scope` challenge naming the scopes that would do";
    NotFound => "No such resource";
    Conflict => "The change conflicts with what is registered";
    PreconditionFailed => "If-Match names a representation that is no longer current";
    PayloadTooLarge => "The body is larger than the API reads";
    UnsupportedMediaType => "The body is not JSON (or JSON Merge Patch for PATCH)";
}

/// A page of users.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserPage {
    items: Vec<User>,
    next: Option<String>,
}

/// A page of groups.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GroupPage {
    items: Vec<Group>,
    next: Option<String>,
}
