//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3): the code
//! service checks the code against what it was bound to and uses it up (a replay revokes what
//! the first exchange issued); this grant signs the tokens and starts a refresh family when
//! the user granted `offline_access`.

use super::{
    access_token_lifetime, grant_audience, mint_access_token, new_jti, released_groups, token_scope, Audience,
    GrantContext, Issued, Subject, TokenResponse,
};
use crate::domain::{ClientType, CodeVerifier, GrantType, ResourceIndicator};
use crate::error::OAuthError;
use crate::oauth::id_token::{self, Authentication};
use crate::services::codes::{CodeError, Presentation};
use crate::services::refresh_families::NewFamily;

#[derive(Debug)]
pub struct AuthorizationCodeRequest {
    pub code: String,
    /// Compared as sent with the authorization request's (RFC 6749 §4.1.3), so kept as sent.
    pub redirect_uri: Option<String>,
    /// `None` when absent or malformed: either way PKCE fails, at the same step.
    pub code_verifier: Option<CodeVerifier>,
    pub resource: Option<ResourceIndicator>,
}

impl From<CodeError> for OAuthError {
    fn from(error: CodeError) -> Self {
        match error {
            CodeError::Hot(e) => super::hot_store_error(e),
            CodeError::Refresh(e) => e.into(),
            refused => OAuthError::invalid_grant(refused.description()),
        }
    }
}

pub async fn issue(cx: &GrantContext<'_>, request: AuthorizationCodeRequest) -> Result<Issued, OAuthError> {
    let (state, client) = (cx.state, cx.client);
    let presentation = Presentation {
        client_id: client.id.as_str(),
        redirect_uri: request.redirect_uri.as_deref(),
        code_verifier: request.code_verifier.as_ref(),
        jkt: cx.binding.jkt.as_ref(),
    };
    let checked = state.codes.check(&request.code, &presentation, &cx.request).await?;
    let grant = &checked.grant;
    let server = grant_audience(state, &grant.resources, &grant.scope, request.resource.as_ref())?;
    let user = grant.user.clone();
    let audience = match &server {
        Some(server) => Audience::Resource(server),
        None => Audience::Provider,
    };
    // BCP-8: refresh tokens only when the user granted offline_access to a client allowed them.
    let offline = grant.scope.contains("offline_access") && client.allows_grant(GrantType::RefreshToken);

    let jti = new_jti();
    let exp = state.clock.now() + access_token_lifetime(state, client, &audience);
    let family_id = offline.then(|| uuid::Uuid::new_v4().to_string());
    state.codes.redeem(&checked, (jti.clone(), exp), family_id.clone(), &cx.request).await?;

    let scope = token_scope(&grant.scope, server.as_deref());
    let groups = released_groups(state, &user.user_id, &grant.scope).await?;
    let subject = Subject { id: &user.user_id, groups: groups.as_deref() };
    let (access_token, claims) = mint_access_token(state, client, subject, audience, &scope, cx.binding.clone(), jti)?;
    let refresh_token = match &family_id {
        Some(family_id) => {
            let family = NewFamily {
                family_id: family_id.clone(),
                client_id: client.id.as_str(),
                user_id: &user.user_id,
                scope: &grant.scope,
                resources: &grant.resources,
                // BCP-7: a public client's refresh tokens are sender-constrained (RFC 9449 §5).
                jkt: (client.client_type == ClientType::Public)
                    .then(|| claims.cnf.as_ref().map(|c| c.jkt.clone()))
                    .flatten(),
                auth_time: grant.auth_time,
                sid: &grant.sid,
            };
            Some(
                state
                    .refresh_families
                    .start(family, (claims.jti.clone(), claims.exp))
                    .await
                    .map_err(OAuthError::from)?,
            )
        }
        None => None,
    };
    if state.codes.replayed_meanwhile(&checked, family_id.as_deref()).await? {
        return Err(CodeError::Invalid.into());
    }

    let mut response = TokenResponse::bearer_or_dpop(access_token, &claims);
    response.refresh_token = refresh_token.map(|t| t.into_string());
    if grant.scope.contains("openid") {
        let authentication = Authentication {
            auth_time: grant.auth_time,
            sid: &grant.sid,
            nonce: grant.nonce.as_deref(),
            groups: groups.as_deref(),
        };
        let id_token =
            id_token::sign(state, client, &user, &grant.scope, &authentication, Some(&response.access_token))
                .map_err(OAuthError::server_error)?;
        response.id_token = Some(id_token);
    }
    Ok(Issued { response, user_id: Some(user.user_id), jti: claims.jti, family_id })
}
