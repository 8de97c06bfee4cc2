//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3,
//! RFC 7523 `private_key_jwt`): exactly one method per request, the one the client registered.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::domain::{ClientId, TokenEndpointAuthMethod};
use crate::error::{ErrorCode, OAuthError};
use crate::http::form::FormParams;
use crate::http::rate_limit;
use crate::services::rate_limits::Limit;
use crate::services::registry::client::ASSERTION_ALGS;
use crate::services::registry::Client;
use crate::state::AppState;
use crate::store::hot::{keyspaces, HashedKey, Keyspace, Marker};
use idp_verify::jws::CompactJws;

const ASSERTION_IDS: Keyspace<Marker> = Keyspace::of(&keyspaces::ASSERTION_ID);

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The skew allowed on a client assertion's times (its lifetime cap is the setting
/// `client_auth.assertion_max_lifetime`).
const SKEW: i64 = 10;
/// Client assertions are small; a longer value is refused unread.
const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// How the caller tried to authenticate.
#[derive(Debug)]
pub enum Presented {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    /// A public client names itself and proves nothing (it uses DPoP instead).
    Public {
        client_id: String,
    },
}

impl Presented {
    /// The client id the request names outright (an assertion's is only known once read).
    fn claimed_client_id(&self) -> Option<&str> {
        match self {
            Presented::Basic { client_id, .. }
            | Presented::Post { client_id, .. }
            | Presented::Public { client_id } => Some(client_id),
            Presented::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }

    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Presented::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Presented::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Presented::Assertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
            Presented::Public { .. } => TokenEndpointAuthMethod::None,
        }
    }

    /// Reads the credentials of a request; more than one method is `invalid_request`.
    pub fn from_request(req: &HttpRequest, params: &FormParams) -> Result<Self, OAuthError> {
        let basic = basic_credentials(req)?;
        let post_secret = params.get("client_secret");
        let assertion = params.get("client_assertion");
        let body_client_id = params.get("client_id");
        let methods = basic.is_some() as u8 + post_secret.is_some() as u8 + assertion.is_some() as u8;
        if methods > 1 {
            return Err(OAuthError::invalid_request("more than one client authentication method"));
        }
        if let Some((client_id, secret)) = basic {
            if body_client_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request("client_id does not match the credentials"));
            }
            return Ok(Presented::Basic { client_id, secret });
        }
        if let Some(secret) = post_secret {
            let client_id = body_client_id.ok_or(OAuthError::invalid_client("client authentication failed"))?;
            return Ok(Presented::Post { client_id: client_id.to_owned(), secret: secret.to_owned() });
        }
        if let Some(assertion) = assertion {
            if params.get("client_assertion_type") != Some(JWT_BEARER) {
                return Err(OAuthError::invalid_request("unsupported client_assertion_type"));
            }
            return Ok(Presented::Assertion {
                client_id: body_client_id.map(str::to_owned),
                assertion: assertion.to_owned(),
            });
        }
        match body_client_id {
            Some(client_id) => Ok(Presented::Public { client_id: client_id.to_owned() }),
            // No credentials at all: the challenge names the scheme to use (RFC 6749 §5.2).
            None => Err(OAuthError::invalid_client("client authentication required").with_basic_challenge()),
        }
    }
}

/// `Authorization: Basic` with form-urlencoded id and secret (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(OAuthError::invalid_request("more than one Authorization header"));
    }
    // RFC 6749 §5.2: a client that tried the Authorization header gets a challenge.
    let malformed = || OAuthError::invalid_client("malformed Basic credentials").with_basic_challenge();
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = text.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client("unsupported authentication scheme").with_basic_challenge());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let (id, secret) = (form_decode(id).ok_or_else(malformed)?, form_decode(secret).ok_or_else(malformed)?);
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, then `%XX`.
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|decoded| decoded.into_owned())
}

/// The one generic answer to any failed authentication, so callers learn nothing about which
/// part was wrong; the reason goes to the log.
fn failed(reason: &'static str) -> OAuthError {
    OAuthError::invalid_client("client authentication failed").caused_by(reason)
}

/// Authenticates the caller as one registered, enabled client using its registered method.
/// `endpoint` is this endpoint's URL, accepted as an assertion audience beside the issuer and
/// the token endpoint. A refusal carries a `Basic` challenge only when the client tried HTTP
/// Basic (RFC 6749 §5.2); it would not fit a client that authenticates in the body.
pub async fn authenticate(state: &AppState, presented: Presented, endpoint: &str) -> Result<Arc<Client>, OAuthError> {
    let tried_basic = matches!(presented, Presented::Basic { .. });
    authenticate_as_registered(state, presented, endpoint).await.map_err(|e| {
        if tried_basic {
            e.with_basic_challenge()
        } else {
            e
        }
    })
}

async fn authenticate_as_registered(
    state: &AppState,
    presented: Presented,
    endpoint: &str,
) -> Result<Arc<Client>, OAuthError> {
    let client_id = presented_client_id(&presented)?;
    let now = state.clock.now();
    let client = match enabled_client(state, &client_id).await? {
        Ok(client) => client,
        Err(reason) => {
            // Same work as for a known client, so timing does not reveal which ids exist.
            if let Presented::Basic { secret, .. } | Presented::Post { secret, .. } = &presented {
                std::hint::black_box(state.registry.hash_secret(secret));
            }
            return Err(failed(reason));
        }
    };
    if presented.method() != client.auth_method {
        return Err(failed("not the client's registered authentication method"));
    }
    match presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            if !client.secret_matches(&state.registry.hash_secret(&secret), now) {
                return Err(failed("wrong secret"));
            }
        }
        Presented::Assertion { assertion, .. } => verify_assertion(state, &client, &assertion, endpoint, now).await?,
        Presented::Public { .. } => {}
    }
    Ok(client)
}

/// The client id the caller names: its credentials' or, for an assertion, the unverified
/// subject, which a `client_id` sent beside it must equal.
fn presented_client_id(presented: &Presented) -> Result<String, OAuthError> {
    match presented {
        Presented::Basic { client_id, .. } | Presented::Post { client_id, .. } | Presented::Public { client_id } => {
            Ok(client_id.clone())
        }
        Presented::Assertion { client_id, assertion } => {
            let subject = unverified_assertion_subject(assertion).ok_or_else(|| failed("unreadable assertion"))?;
            if client_id.as_ref().is_some_and(|id| *id != subject) {
                return Err(failed("client_id differs from the assertion subject"));
            }
            Ok(subject)
        }
    }
}

/// The enabled client `client_id` names, or why there is none (the outer error: the registry
/// could not answer). Text that cannot be a client id (docs/security.md §6) is an unknown client
/// and never reaches the store: a NUL byte made PostgreSQL fail (issue 10).
async fn enabled_client(state: &AppState, client_id: &str) -> Result<Result<Arc<Client>, &'static str>, OAuthError> {
    let Ok(client_id) = ClientId::parse(client_id) else {
        return Ok(Err("client_id is not a client identifier"));
    };
    let client = state.registry.client(&client_id).await.map_err(OAuthError::unavailable)?;
    Ok(client.filter(|c| c.enabled).ok_or("unknown or disabled client"))
}

#[derive(Deserialize)]
struct UnverifiedHeader {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

fn unverified_assertion_subject(assertion: &str) -> Option<String> {
    CompactJws::split(assertion, MAX_ASSERTION_LEN)?.payload_json::<AssertionClaims>()?.sub
}

/// RFC 7523 §3 and RFC 7521 §5.2: signature by one of the client's registered keys, `iss` and
/// `sub` the client, `aud` this server, a bounded `exp`, and a `jti` never seen before.
async fn verify_assertion(
    state: &AppState,
    client: &Client,
    assertion: &str,
    endpoint: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let jws =
        CompactJws::split(assertion, MAX_ASSERTION_LEN).ok_or_else(|| failed("assertion is not a compact JWS"))?;
    let unverified_header = assertion_header(&jws)?;
    let signature = jws.signature_bytes().ok_or_else(|| failed("assertion signature unreadable"))?;
    let verified = client
        .keys
        .iter()
        .filter(|k| k.alg == unverified_header.alg)
        .filter(|k| unverified_header.kid.is_none() || k.kid == unverified_header.kid)
        .any(|k| k.verifier.verify(jws.signing_input.as_bytes(), &signature).is_ok());
    if !verified {
        return Err(failed("assertion signature does not verify with a registered key"));
    }
    let claims: AssertionClaims = jws.payload_json().ok_or_else(|| failed("assertion claims unreadable"))?;
    let id = client.id.as_str();
    if claims.iss.as_deref() != Some(id) || claims.sub.as_deref() != Some(id) {
        return Err(failed("assertion iss and sub must be the client"));
    }
    let issuer = state.settings.issuer.as_str();
    let token_endpoint = state.endpoints.token.as_str();
    let audience_ok = |aud: &str| aud == issuer || aud == token_endpoint || aud == endpoint;
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(aud)) => audience_ok(aud),
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(|v| v.as_str()).any(audience_ok),
        _ => false,
    };
    if !aud_ok {
        return Err(failed("assertion audience is not this server"));
    }
    let exp = assertion_expiry(state, &claims, now)?;
    let jti = claims.jti.filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(|| failed("assertion without jti"))?;
    let ttl = Duration::from_secs((exp - now + SKEW).max(1) as u64);
    let first_use = ASSERTION_IDS
        .first_use(state.hot.as_ref(), &HashedKey::of_parts(&[id, &jti]), ttl)
        .await
        .map_err(OAuthError::unavailable)?;
    if !first_use {
        return Err(failed("assertion jti already used"));
    }
    Ok(())
}

/// The assertion's header, read before its signature is checked: an accepted `alg` and no
/// `crit`. RFC 7515 §4.1.11: a recipient must refuse a JWS whose `crit` names an extension it
/// does not understand, and this server understands none in client assertions (DPoP proofs and
/// access tokens are refused the same way, in `idp_verify`).
fn assertion_header(jws: &CompactJws<'_>) -> Result<UnverifiedHeader, OAuthError> {
    let unreadable = || failed("assertion header unreadable");
    let unverified_header: serde_json::Map<String, serde_json::Value> = jws.header_json().ok_or_else(unreadable)?;
    if unverified_header.contains_key("crit") {
        return Err(failed("assertion header names a critical extension"));
    }
    let unverified_header: UnverifiedHeader =
        serde_json::from_value(serde_json::Value::Object(unverified_header)).map_err(|_| unreadable())?;
    if !ASSERTION_ALGS.contains(&unverified_header.alg.as_str()) {
        return Err(failed("assertion algorithm not accepted"));
    }
    Ok(unverified_header)
}

/// The assertion's `exp`, checked: not past, not beyond `client_auth.assertion_max_lifetime`
/// from now (RFC 7523 §3 lets a server bound it; docs/security.md "Client authentication"),
/// and `iat` / `nbf` not ahead of now.
fn assertion_expiry(state: &AppState, claims: &AssertionClaims, now: i64) -> Result<i64, OAuthError> {
    let exp = claims.exp.ok_or_else(|| failed("assertion without exp"))?;
    if exp <= now - SKEW {
        return Err(failed("assertion expired"));
    }
    let max_lifetime = i64::try_from(state.settings.client_auth.assertion_max_lifetime.as_secs()).unwrap_or(i64::MAX);
    if exp > now.saturating_add(max_lifetime).saturating_add(SKEW) {
        // The one refusal that says why: it comes after the signature check, so only the
        // holder of the client's key learns the server's cap, and a client library signing
        // long-lived assertions by default (Authlib: 1 h) needs to be told what to change.
        return Err(OAuthError::invalid_client("the client assertion is valid for longer than this server accepts")
            .caused_by("assertion lives too long"));
    }
    if claims.iat.is_some_and(|iat| iat > now + 60) || claims.nbf.is_some_and(|nbf| nbf > now + SKEW) {
        return Err(failed("assertion not valid yet"));
    }
    Ok(exp)
}

/// A request to a client-authenticated endpoint after its shared first steps.
pub struct AuthenticatedRequest {
    pub client: Arc<Client>,
    pub params: FormParams,
    pub origin: Option<crate::domain::Origin>,
    /// The `Access-Control-Allow-Origin` value to send, when a registered browser origin asked.
    pub cors: Option<actix_web::http::header::HeaderValue>,
}

/// The first steps of the token, PAR, introspection and revocation endpoints, in order: the
/// request's origin, its form, the client address's allowance of failed authentications, the
/// client's credentials and their check, whether the client registered that origin, and the
/// client's rate limit at this endpoint (`limit`). Refusals an operator must see are audited.
pub async fn authenticated_request(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    endpoint: &str,
    limit: Limit,
) -> Result<AuthenticatedRequest, OAuthError> {
    let origin = crate::http::cors::request_origin(req)?;
    let params = FormParams::parse(req, body)?;
    let presented = Presented::from_request(req, &params)?;
    let ip = crate::http::client_address(req);
    if let Some(over) = ip.and_then(|ip| state.rate_limits.penalty(Limit::ClientAuthFailuresPerAddress, ip)) {
        // An address that kept failing waits before its next attempt is even checked.
        rate_limit::audit(state, req, &over, None);
        return Err(OAuthError::rate_limited(rate_limit::fields(&over)));
    }
    let claimed = presented.claimed_client_id().filter(|id| ClientId::parse(id).is_ok()).map(str::to_owned);
    let client = match authenticate(state, presented, endpoint).await {
        Ok(client) => client,
        Err(e) => {
            refused(state, req, None, &e);
            let address = ip.map(|ip| ip.to_string());
            return Err(count_failure(state, req, address.as_deref(), claimed.as_deref(), e).await);
        }
    };
    let cors = crate::http::cors::allowed_origin(&client, origin.as_ref())
        .and_then(|cors| crate::http::cors::check_referer(&client, req).map(|()| cors))
        .inspect_err(|e| refused(state, req, Some(client.id.as_str()), e))?;
    rate_limit::admit_client(state, req, limit, client.id.as_str()).await.map_err(|e| e.with_cors(cors.as_ref()))?;
    Ok(AuthenticatedRequest { client, params, origin, cors })
}

/// Counts a failed client authentication against the address and the client id it claimed.
/// Over the client's allowance the failure is answered 429 instead: the client's real
/// credentials keep working, and whoever is guessing is told to slow down.
async fn count_failure(
    state: &AppState,
    req: &HttpRequest,
    address: Option<&str>,
    client_id: Option<&str>,
    error: OAuthError,
) -> OAuthError {
    if error.code != ErrorCode::InvalidClient {
        return error;
    }
    let counted = async {
        let by_address = match address {
            Some(address) => state.rate_limits.count_failure(Limit::ClientAuthFailuresPerAddress, address).await?,
            None => None,
        };
        let by_client = match client_id {
            Some(client_id) => state.rate_limits.count_failure(Limit::ClientAuthFailuresPerClient, client_id).await?,
            None => None,
        };
        Ok::<_, crate::store::HotStoreError>(by_client.or(by_address))
    };
    match counted.await {
        Ok(None) => error,
        Ok(Some(over)) => {
            rate_limit::audit(state, req, &over, client_id);
            OAuthError::rate_limited(rate_limit::fields(&over))
        }
        Err(e) => OAuthError::unavailable(e),
    }
}

/// Audits the refusals an operator must be able to see (docs/security.md §7).
pub fn refused(state: &AppState, req: &HttpRequest, client_id: Option<&str>, error: &OAuthError) {
    let action = match (error.code, error.status().as_u16()) {
        (_, 403) => "origin.refused",
        (ErrorCode::InvalidClient, _) => "client.authentication.failed",
        (ErrorCode::InvalidDpopProof, _) => "dpop.refused",
        _ => return,
    };
    let mut event = crate::http::request_meta(req).event(state.clock.now(), action, "refused");
    event.client_id = client_id.map(str::to_owned);
    event.detail = Some(
        serde_json::json!({ "endpoint": req.path(), "error": error.code.as_str(), "reason": error.to_string() })
            .to_string(),
    );
    state.audit.record_refusal(event);
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c%2B").as_deref(), Some("a:b c+"));
        assert_eq!(form_decode("idp_cs_plain-_").as_deref(), Some("idp_cs_plain-_"));
        assert_eq!(form_decode("%FF"), None, "not UTF-8");
    }
}
