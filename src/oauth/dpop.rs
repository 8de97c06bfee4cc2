//! DPoP at this server's endpoints (RFC 9449 §4.3, §8): one proof header, every check of the
//! proof, a server nonce valid on every node, and each `jti` accepted once across the cluster.

use std::time::Duration;

use actix_web::HttpRequest;

use idp_verify::dpop::{verify_proof, DpopError, ProofCheck, VerifiedProof, MAX_FUTURE};

use crate::error::OAuthError;
use crate::state::AppState;
use crate::store::hot::{keyspaces, HashedKey, HotStoreError, Keyspace, Marker};

const PROOF_IDS: Keyspace<Marker> = Keyspace::of(&keyspaces::DPOP_PROOF_ID);

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

/// Every check of RFC 9449 §4.3 on a proof for `method` `htu` (and `access_token`'s `ath`),
/// with this provider's window for `iat`. Nonce and replay are the caller's next steps.
pub fn verify(
    state: &AppState,
    proof: &str,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
) -> Result<VerifiedProof, DpopError> {
    let check = ProofCheck {
        method,
        expected_htu: htu,
        now: state.clock.now(),
        max_age: state.settings.dpop.proof_max_age.as_secs() as i64,
        max_future: MAX_FUTURE,
        access_token,
    };
    verify_proof(proof, &check)
}

/// RFC 9449 §11.1: `true` the first time a proof `jti` is seen for `htu` on any node; it is
/// remembered for as long as its proof could be accepted.
pub async fn first_use(state: &AppState, htu: &str, jti: &str) -> Result<bool, HotStoreError> {
    let ttl = Duration::from_secs((state.settings.dpop.proof_max_age.as_secs() as i64 + MAX_FUTURE) as u64);
    PROOF_IDS.first_use(state.hot.as_ref(), &HashedKey::of_parts(&[htu, jti]), ttl).await
}
