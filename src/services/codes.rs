//! Authorization codes (RFC 6749 §4.1.2, §4.1.3, RFC 7636 §4.6): issued for 60 s under their
//! SHA-256, checked against everything they were bound to before they are taken (so a wrong
//! verifier or redirect URI changes nothing), taken atomically (of two concurrent exchanges one
//! wins), and remembered after use so that a replay revokes what the first exchange issued.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::access_tokens::Revocations;
use super::audit::{AuditLog, RequestMeta};
use super::refresh_families::{RefreshError, RefreshFamilies};
use super::users::User;
use crate::clock::SharedClock;
use crate::crypto::random_token;
use crate::domain::{CodeChallenge, CodeVerifier, ResourceIndicator, ScopeSet};
use crate::store::hot::{keyspaces, HashedKey, Keyspace};
use crate::store::{HotStore, HotStoreError};
use idp_verify::Jkt;

/// Authorization codes live this long (FAPI 2.0 §5.3.2.1: at most 60 s).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

const CODES: Keyspace<CodeGrant> = Keyspace::of(&keyspaces::AUTHORIZATION_CODE);
const REDEEMED: Keyspace<Redeemed> = Keyspace::of(&keyspaces::REDEEMED_CODE);

/// What a code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: CodeChallenge,
    pub dpop_jkt: Option<Jkt>,
    pub nonce: Option<String>,
    pub scope: ScopeSet,
    pub resources: Vec<ResourceIndicator>,
    pub auth_time: i64,
    pub sid: String,
    /// Checked against the provider's clock too, not only left to the store's expiry.
    pub expires_at: i64,
    /// The user's claims as read when the code was issued (at most 60 s ago), so the exchange
    /// needs no database read.
    pub user: User,
}

/// What a redeemed code issued, kept while those tokens live so a replay can revoke them.
#[derive(Debug, Serialize, Deserialize)]
struct Redeemed {
    /// The client the code was issued to: only it presenting the code again is a replay. A
    /// record written before this field existed names none.
    #[serde(default)]
    client_id: Option<String>,
    access_tokens: Vec<(String, i64)>,
    #[serde(default)]
    refresh_family: Option<String>,
    /// Set by a replay, for an exchange still running to see.
    #[serde(default)]
    replayed: bool,
}

/// Why a code exchange was refused or could not run.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("the code is invalid, expired or already used")]
    Invalid,
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    #[error("PKCE verification failed")]
    PkceFailed,
    #[error("the code is bound to another DPoP key")]
    OtherKey,
    #[error("code state unavailable: {0}")]
    Hot(#[from] HotStoreError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

impl CodeError {
    /// The public `error_description` of a refusal.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Invalid | Self::Hot(_) | Self::Refresh(_) => "the code is invalid, expired or already used",
            Self::RedirectUriMismatch => "redirect_uri does not match the authorization request",
            Self::PkceFailed => "PKCE verification failed",
            Self::OtherKey => "the code is bound to another DPoP key",
        }
    }
}

/// What the token request presents with a code.
#[derive(Debug)]
pub struct Presentation<'a> {
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    /// `None` when absent or malformed: either way PKCE fails.
    pub code_verifier: Option<&'a CodeVerifier>,
    /// The DPoP key of the request, if it came with a proof.
    pub jkt: Option<&'a Jkt>,
}

/// A code checked for its presenter, not yet used up.
#[derive(Debug)]
pub struct CheckedCode {
    hash: HashedKey,
    pub grant: CodeGrant,
}

/// The authorization codes.
#[derive(Debug, Clone)]
pub struct Codes {
    hot: Arc<dyn HotStore>,
    revocations: Revocations,
    families: RefreshFamilies,
    audit: AuditLog,
    clock: SharedClock,
}

impl Codes {
    pub fn new(
        hot: Arc<dyn HotStore>,
        revocations: Revocations,
        families: RefreshFamilies,
        audit: AuditLog,
        clock: SharedClock,
    ) -> Self {
        Self { hot, revocations, families, audit, clock }
    }

    /// Stores `grant` (its `expires_at` is set here) and returns the code.
    pub async fn issue(&self, mut grant: CodeGrant) -> Result<String, HotStoreError> {
        let code = random_token();
        grant.expires_at = self.clock.now() + CODE_LIFETIME.as_secs() as i64;
        CODES.put(self.hot.as_ref(), &HashedKey::of(&code), &grant, CODE_LIFETIME).await?;
        Ok(code)
    }

    /// Reads the code and checks it against what the token request presents, without using it
    /// up. A code already used is a replay: what its first exchange issued is revoked.
    pub async fn check(
        &self,
        code: &str,
        presented: &Presentation<'_>,
        request: &RequestMeta,
    ) -> Result<CheckedCode, CodeError> {
        let hash = HashedKey::of(code);
        let Some(grant) = CODES.get(self.hot.as_ref(), &hash).await? else {
            self.revoke_if_replayed(&hash, presented.client_id, request).await?;
            return Err(CodeError::Invalid);
        };
        if grant.client_id != presented.client_id || grant.expires_at <= self.clock.now() {
            return Err(CodeError::Invalid);
        }
        // RFC 6749 §4.1.3: identical to the authorization request's, when it had one.
        let redirect_ok = match (presented.redirect_uri, grant.redirect_uri_sent) {
            (Some(uri), _) => uri == grant.redirect_uri,
            (None, sent) => !sent,
        };
        if !redirect_ok {
            return Err(CodeError::RedirectUriMismatch);
        }
        let verifier = presented.code_verifier.ok_or(CodeError::PkceFailed)?;
        if !grant.code_challenge.is_satisfied_by(verifier) {
            return Err(CodeError::PkceFailed);
        }
        if let Some(bound) = &grant.dpop_jkt {
            if presented.jkt != Some(bound) {
                return Err(CodeError::OtherKey);
            }
        }
        Ok(CheckedCode { hash, grant })
    }

    /// Uses the code up. The redemption is claimed first, naming what this exchange will issue
    /// (the access token `(jti, exp)` and the refresh family, if any), so a replay at any moment
    /// from here on can revoke it (RFC 6749 §4.1.2).
    pub async fn redeem(
        &self,
        checked: &CheckedCode,
        access: (String, i64),
        refresh_family: Option<String>,
        request: &RequestMeta,
    ) -> Result<(), CodeError> {
        let now = self.clock.now();
        let ttl = Duration::from_secs((access.1 - now).max(CODE_LIFETIME.as_secs() as i64) as u64);
        let claim = Redeemed {
            client_id: Some(checked.grant.client_id.clone()),
            access_tokens: vec![access],
            refresh_family,
            replayed: false,
        };
        if !REDEEMED.put_if_absent(self.hot.as_ref(), &checked.hash, &claim, ttl).await? {
            self.revoke_if_replayed(&checked.hash, &checked.grant.client_id, request).await?;
            return Err(CodeError::Invalid);
        }
        // Of two concurrent exchanges, one removes the code; the grant was read by `check`, so
        // it is not decoded again here.
        if !CODES.delete(self.hot.as_ref(), &checked.hash).await? {
            return Err(CodeError::Invalid);
        }
        Ok(())
    }

    /// Whether a replay came while this exchange ran: it revoked the access token already, but
    /// found the family not yet written, so `refresh_family` is revoked here.
    pub async fn replayed_meanwhile(
        &self,
        checked: &CheckedCode,
        refresh_family: Option<&str>,
    ) -> Result<bool, CodeError> {
        let record = REDEEMED.get_readable(self.hot.as_ref(), &checked.hash).await?;
        if !record.is_some_and(|r| r.replayed) {
            return Ok(false);
        }
        if let Some(family) = refresh_family {
            self.families.revoke(family).await?;
        }
        Ok(true)
    }

    /// RFC 6749 §4.1.2, RFC 9700 §4.2.4: a code presented again by its own client revokes the
    /// tokens its first use issued, and the attempt is audited. Another client presenting it is
    /// no replay of the code's grant: it gets `invalid_grant` and revokes nothing, or any client
    /// holding a leaked code could revoke another client's tokens (issue 10).
    async fn revoke_if_replayed(
        &self,
        hash: &HashedKey,
        client_id: &str,
        request: &RequestMeta,
    ) -> Result<(), CodeError> {
        let Some(mut redeemed) = REDEEMED.get_readable(self.hot.as_ref(), hash).await? else {
            return Ok(());
        };
        if let Some(owner) = redeemed.client_id.as_deref().filter(|owner| *owner != client_id) {
            tracing::warn!(client.id = client_id, code.client_id = owner, "a used code presented by another client");
            return Ok(());
        }
        let now = self.clock.now();
        let latest_exp = redeemed.access_tokens.iter().map(|(_, exp)| *exp).max().unwrap_or(now);
        redeemed.replayed = true;
        let ttl = Duration::from_secs((latest_exp - now).max(CODE_LIFETIME.as_secs() as i64) as u64);
        REDEEMED.put(self.hot.as_ref(), hash, &redeemed, ttl).await?;
        for (jti, exp) in &redeemed.access_tokens {
            self.revocations.revoke(jti, *exp, now).await?;
        }
        if let Some(family) = &redeemed.refresh_family {
            self.families.revoke(family).await?;
        }
        let mut event = request.event(now, "authorization.code.replayed", "refused");
        event.client_id = Some(client_id.to_owned());
        event.detail = Some(serde_json::json!({ "revoked_access_tokens": redeemed.access_tokens.len() }).to_string());
        self.audit.record(event);
        Ok(())
    }
}
