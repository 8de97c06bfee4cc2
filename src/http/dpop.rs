//! The DPoP proof checks every edge of this server shares (RFC 9449 §4.3, §11.1): a proof's
//! checks for a request, and each proof `jti` accepted once across the cluster. The token
//! endpoint's nonce handling is in `oauth::dpop`.

use std::time::Duration;

use idp_verify::dpop::{verify_proof, DpopError, ProofCheck, VerifiedProof, MAX_FUTURE};

use crate::state::AppState;
use crate::store::hot::{keyspaces, HashedKey, HotStoreError, Keyspace, Marker};

const PROOF_IDS: Keyspace<Marker> = Keyspace::of(&keyspaces::DPOP_PROOF_ID);

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
