//! The admin API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the bodies' schemas, and served at `/admin/v1/openapi.json` (it names no
//! secret, so it needs no token). A test checks that every route is in it.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::openapi::Server;
use utoipa::OpenApi;

use super::schemas::{
    AuditEventPage, BadRequest, ClientPage, Conflict, FieldErrorDocument, Forbidden, GroupPage, NotFound,
    PayloadTooLarge, PreconditionFailed, Problem, ResourceServerPage, Unauthorized, UnsupportedMediaType, UserPage,
};
use super::{audit, auth, clients, grants, groups, keys, registration, resources, users};
use crate::services::audit::AuditRecord;
use crate::services::consents::GrantedConsent;
use crate::services::grants::RevokedToken;
use crate::services::groups::Group;
use crate::services::keys::{PublishedKey, ReplacedKey, Retirement, RotationOutcome};
use crate::services::refresh_families::Revoked;
use crate::services::registry::{ClientMetadata, ClientRegistration, ResourceRegistration, ResourceServer};
use crate::services::users::{NewUser, User, UserProfile};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "idp admin API", version = "1",
        description = "The operator API of the identity provider. Every call needs an access token for the \
audience `<issuer>/admin` with an `admin:*` scope, DPoP-bound (RFC 9449) unless that resource server \
is registered otherwise. Errors are RFC 9457 problems (`application/problem+json`)."),
    paths(
        clients::create, clients::list, clients::read, clients::replace, clients::patch, clients::delete,
        clients::enable, clients::disable, clients::rotate_secret,
        resources::create, resources::list, resources::read, resources::replace, resources::patch,
        resources::delete,
        users::create, users::list, users::read, users::patch, users::delete, users::set_password,
        users::enable, users::disable, users::unlock, users::unlock_address, users::consents,
        users::withdraw_consent,
        groups::create, groups::list, groups::read, groups::rename, groups::delete, groups::members,
        groups::add_member, groups::remove_member,
        registration::mint,
        keys::list, keys::rotate, keys::retire,
        grants::revoke_family, grants::revoke_user, grants::revoke_client, grants::revoke_access_token,
        audit::list,
    ),
    components(
        schemas(Problem, FieldErrorDocument, ClientRegistration, ClientMetadata, ClientPage,
            clients::SecretRotation, clients::IssuedSecret, ResourceRegistration, ResourceServer,
            ResourceServerPage, NewUser, User, UserProfile, UserPage, users::NewPassword,
            users::EnabledChange, users::ConsentWithdrawal, GrantedConsent, Group, GroupPage,
            groups::GroupName, groups::NewMember, groups::Member, groups::MemberPage,
            registration::InitialTokenRequest, registration::InitialToken,
            PublishedKey, keys::KeyList, keys::RotationRequest, keys::RotationResult,
            RotationOutcome, ReplacedKey, keys::RetireRequest, Retirement, Revoked, grants::TokenRevocation, RevokedToken, AuditRecord, AuditEventPage),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
            PayloadTooLarge, UnsupportedMediaType),
    ),
    security(("oauth2" = [])),
    tags(
        (name = "clients", description = "Who may ask for tokens"),
        (name = "resource servers", description = "The audiences tokens are issued for"),
        (name = "users", description = "People who sign in, their consents and sign-in locks"),
        (name = "groups", description = "Named sets of users, released to apps as the groups claim"),
        (name = "registration", description = "Dynamic client registration (RFC 7591): initial access tokens"),
        (name = "keys", description = "The signing keys: next, active, retired"),
        (name = "grants", description = "Refresh families (what users allowed clients) and access tokens"),
        (name = "audit", description = "The audit trail: who changed what, and security decisions"),
    )
)]
pub struct AdminApi;

/// The security scheme: OAuth 2.0 client credentials at this provider's token endpoint, with
/// the admin scopes (and DPoP, which OpenAPI cannot express, in the description).
fn security_scheme(token_url: &str) -> SecurityScheme {
    let scopes = Scopes::from_iter(auth::SCOPES.iter().map(|s| (*s, scope_description(s))));
    let flow = Flow::ClientCredentials(ClientCredentials::new(token_url, scopes));
    SecurityScheme::OAuth2(OAuth2::with_description(
        [flow],
        "Access tokens for the audience `<issuer>/admin` (RFC 8707 `resource`), sent with the `DPoP` \
         scheme and a DPoP proof (RFC 9449) unless the admin resource server allows Bearer.",
    ))
}

fn scope_description(scope: &str) -> &'static str {
    match scope {
        "admin:read" => "Read everything",
        "admin:write" => "Read and change everything",
        "admin:clients" => "Clients and resource servers",
        "admin:users" => "Users, their sessions and consents",
        "admin:keys" => "Signing keys",
        "admin:grants" => "Refresh families and access tokens",
        _ => "The audit trail",
    }
}

/// The document for this provider: paths under its admin base URL, tokens from its token
/// endpoint.
pub fn document_for(base_url: &str, token_url: &str) -> utoipa::openapi::OpenApi {
    let mut document = AdminApi::openapi();
    document.servers = Some(vec![Server::new(base_url)]);
    document.components.get_or_insert_with(Default::default).add_security_scheme("oauth2", security_scheme(token_url));
    document
}

/// `GET /admin/v1/openapi.json`.
pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    let base = state.settings.issuer.endpoint(super::BASE_PATH);
    HttpResponse::Ok().insert_header(("cache-control", "no-cache")).json(document_for(&base, &state.endpoints.token))
}
