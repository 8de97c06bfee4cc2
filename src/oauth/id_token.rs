//! OpenID Connect ID tokens (OIDC Core §2, §3.1.3.6): signed with the client's
//! `id_token_signed_response_alg` (RS256 unless it asked for ES256 or EdDSA).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::crypto::SigningAlg;
use crate::domain::ScopeSet;
use crate::services::registry::Client;
use crate::services::users::User;
use crate::state::AppState;

/// What the ID token says about one authentication.
pub struct Authentication<'a> {
    pub auth_time: i64,
    pub sid: &'a str,
    pub nonce: Option<&'a str>,
    /// The user's groups, when the grant's scope released them.
    pub groups: Option<&'a [String]>,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// OIDC Core §3.1.3.6: base64url of the left half of the hash of the access token, with the
/// hash of the ID token's algorithm (SHA-512 for Ed25519, per the EdDSA errata).
pub fn token_hash(alg: SigningAlg, token: &str) -> String {
    let digest = match alg {
        SigningAlg::EdDsa => ring::digest::digest(&ring::digest::SHA512, token.as_bytes()),
        SigningAlg::Es256 | SigningAlg::Rs256 => ring::digest::digest(&ring::digest::SHA256, token.as_bytes()),
    };
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// The claims the granted scopes release (OIDC Core §5.4), from the user's record.
pub fn user_claims(user: &User, scope: &ScopeSet, groups: Option<&[String]>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(user.user_id.clone()));
    if scope.contains("profile") {
        claims.insert("preferred_username".into(), Value::String(user.username.clone()));
        for (name, value) in
            [("name", &user.name), ("given_name", &user.given_name), ("family_name", &user.family_name)]
        {
            if let Some(value) = value {
                claims.insert(name.into(), Value::String(value.clone()));
            }
        }
        claims.insert("updated_at".into(), Value::from(user.updated_at));
    }
    if scope.contains("email") {
        if let Some(email) = &user.email {
            claims.insert("email".into(), Value::String(email.clone()));
            claims.insert("email_verified".into(), Value::Bool(user.email_verified));
        }
    }
    if let Some(groups) = groups.filter(|_| scope.contains("groups")) {
        claims.insert("groups".into(), Value::Array(groups.iter().cloned().map(Value::String).collect()));
    }
    claims
}

/// Signs the ID token for `client` about `user`.
pub fn sign(
    state: &AppState,
    client: &Client,
    user: &User,
    scope: &ScopeSet,
    authentication: &Authentication<'_>,
    access_token: Option<&str>,
) -> Result<String, String> {
    let alg = client.id_token_alg;
    let now = state.clock.now();
    let mut claims = user_claims(user, scope, authentication.groups);
    let issuer = state.settings.issuer.as_str();
    claims.insert("iss".into(), Value::String(issuer.to_owned()));
    claims.insert("aud".into(), Value::String(client.id.as_str().to_owned()));
    claims.insert("azp".into(), Value::String(client.id.as_str().to_owned()));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + state.settings.tokens.id_token_lifetime.as_secs() as i64));
    claims.insert("auth_time".into(), Value::from(authentication.auth_time));
    claims.insert("sid".into(), Value::String(authentication.sid.to_owned()));
    claims.insert("amr".into(), Value::Array(vec![Value::String("pwd".into())]));
    if let Some(nonce) = authentication.nonce {
        claims.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    if let Some(token) = access_token {
        claims.insert("at_hash".into(), Value::String(token_hash(alg, token)));
    }
    sign_jwt(state, alg, "JWT", &claims)
}

/// Signs `claims` with the active key of `alg`, header `typ` and `kid`.
pub fn sign_jwt(
    state: &AppState,
    alg: SigningAlg,
    typ: &'static str,
    claims: &Map<String, Value>,
) -> Result<String, String> {
    let key = state.keyring.signing_key(alg).ok_or_else(|| format!("no active {alg} signing key"))?;
    let header = serde_json::to_vec(&Header { alg: alg.as_str(), typ, kid: &key.kid }).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let mut token = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    // ES256 through ring, as for access tokens (OpenSSL 3 costs several times more per call).
    let signature = match &key.es256 {
        Some(es256) => es256.sign(token.as_bytes())?,
        None => key.signer.sign(token.as_bytes()).map_err(|e| e.to_string())?,
    };
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// The claims of a JWT this provider signed (an ID token given back as `id_token_hint`): a
/// published key by `kid` with the header's `alg`, and `iss`. Expiry is not checked (OIDC
/// RP-Initiated Logout §2: an expired hint still says who the user was).
pub fn verify_own(state: &AppState, token: &str) -> Option<Map<String, Value>> {
    let header_part = token.split('.').next()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_part).ok()?).ok()?;
    // An ID token: not a logout token (`logout+jwt`) nor an access token (`at+jwt`).
    if header.get("typ").and_then(Value::as_str) != Some("JWT") {
        return None;
    }
    let kid = header.get("kid")?.as_str()?;
    let alg: SigningAlg = header.get("alg")?.as_str()?.parse().ok()?;
    let key = state.keyring.verification_key(kid)?;
    if key.alg != alg {
        return None;
    }
    let jwk = josekit::jwk::Jwk::from_map(key.public_jwk.clone()).ok()?;
    let verifier = alg.verifier_from_jwk(&jwk).ok()?;
    let (payload, _) = josekit::jwt::decode_with_verifier(token, verifier.as_ref()).ok()?;
    let claims = payload.claims_set().clone();
    if claims.contains_key("events") {
        return None;
    }
    (claims.get("iss").and_then(Value::as_str) == Some(state.settings.issuer.as_str())).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_16_at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OIDC Core §A.3 example: access token and its at_hash for an RS256 ID token.
        assert_eq!(
            token_hash(SigningAlg::Rs256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(token_hash(SigningAlg::EdDsa, "x").len(), 43, "half of SHA-512 is 32 bytes");
    }
}
