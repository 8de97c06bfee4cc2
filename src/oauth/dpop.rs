//! DPoP at this server's endpoints (RFC 9449 §4.3, §8): one proof header, every check of the
//! proof, a server nonce valid on every node, and each `jti` accepted once across the cluster.

use actix_web::HttpRequest;

use idp_verify::dpop::VerifiedProof;

use crate::error::OAuthError;
pub use crate::http::dpop::{first_use, verify};
use crate::state::AppState;

/// Checks the `DPoP` header of a request to `htu` with `method`. `None` when there is no proof
/// and none is `required`.
pub async fn check_proof(
    state: &AppState,
    req: &HttpRequest,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
    required: bool,
) -> Result<Option<VerifiedProof>, OAuthError> {
    let mut values = req.headers().get_all("dpop");
    let Some(value) = values.next() else {
        return match required {
            true => Err(OAuthError::invalid_dpop_proof("a DPoP proof is required")),
            false => Ok(None),
        };
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_dpop_proof("more than one DPoP header"));
    }
    let proof = value.to_str().map_err(|_| OAuthError::invalid_dpop_proof("the DPoP proof is not a JWS"))?;
    let now = state.clock.now();
    let verified = verify(state, proof, method, htu, access_token)
        .map_err(|e| OAuthError::invalid_dpop_proof(e.description()).caused_by(e))?;

    let nonce_ok = match &verified.nonce {
        Some(nonce) => state.nonces.is_valid(nonce, now),
        None => !state.settings.dpop.require_nonce,
    };
    if !nonce_ok {
        return Err(
            OAuthError::use_dpop_nonce("a fresh DPoP nonce is required").with_dpop_nonce(state.nonces.current(now))
        );
    }
    if !first_use(state, htu, &verified.jti).await.map_err(OAuthError::unavailable)? {
        return Err(OAuthError::invalid_dpop_proof("the DPoP proof was already used"));
    }
    Ok(Some(verified))
}
