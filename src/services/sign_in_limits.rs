//! Sign-in limits (docs/security.md §7), checked before the password:
//!
//! - per username (known or not, so a lock tells nothing about which exist): at
//!   [`MAX_FAILURES_PER_USERNAME`] failures within [`LOCK_WINDOW`] the username is locked for
//!   that long, until it passes or an operator unlocks it;
//! - per client address: failures are counted against the `rate_limits.sign_in_failures_per_address`
//!   rate limit, which slows the address down to its refill rate and never locks it. Behind a
//!   proxy that is not in `trusted_proxies` every user shares one address, and a lock would
//!   let anyone lock the whole company out by typing wrong passwords.

use std::sync::Arc;
use std::time::Duration;

use super::rate_limits::{Limit, OverLimit, RateLimits};
use crate::store::hot::{keyspaces, Counter, Keyspace, Marker};
use crate::store::{HotStore, HotStoreError};

const MAX_FAILURES_PER_USERNAME: i64 = 5;
pub const LOCK_WINDOW: Duration = Duration::from_secs(900);

const FAILURES_BY_USERNAME: Keyspace<Counter> = Keyspace::of(&keyspaces::FAILED_SIGN_INS_BY_USERNAME);
const LOCKED_USERNAME: Keyspace<Marker> = Keyspace::of(&keyspaces::LOCKED_USERNAME);

/// Who a sign-in attempt counts against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt<'a> {
    /// The normalized username, when the one typed is a username at all.
    pub username: Option<&'a str>,
    /// The client address.
    pub address: Option<&'a str>,
}

/// Whether an attempt may go on to the password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInGate {
    Open,
    /// Too many failures for this username: locked for [`LOCK_WINDOW`] from the last one.
    UsernameLocked,
    /// Too many failures from this address: wait for the next slot.
    AddressSlowed(OverLimit),
}

/// The sign-in limits.
#[derive(Debug, Clone)]
pub struct SignInLimits {
    hot: Arc<dyn HotStore>,
    rates: RateLimits,
}

impl SignInLimits {
    pub fn new(hot: Arc<dyn HotStore>, rates: RateLimits) -> Self {
        Self { hot, rates }
    }

    /// Whether `attempt` may be checked at all; counts nothing.
    pub async fn gate(&self, attempt: Attempt<'_>) -> Result<SignInGate, HotStoreError> {
        if let Some(username) = attempt.username {
            if LOCKED_USERNAME.is_marked(self.hot.as_ref(), username).await? {
                return Ok(SignInGate::UsernameLocked);
            }
        }
        if let Some(address) = attempt.address {
            if let Some(over) = self.rates.exhausted(Limit::SignInFailuresPerAddress, address).await? {
                return Ok(SignInGate::AddressSlowed(over));
            }
        }
        Ok(SignInGate::Open)
    }

    /// Counts a failed attempt against its username (locked at the limit) and its address.
    pub async fn count_failure(&self, attempt: Attempt<'_>) -> Result<(), HotStoreError> {
        if let Some(username) = attempt.username {
            let failures = FAILURES_BY_USERNAME.increment(self.hot.as_ref(), username, LOCK_WINDOW).await?;
            if failures >= MAX_FAILURES_PER_USERNAME {
                LOCKED_USERNAME.mark(self.hot.as_ref(), username, LOCK_WINDOW).await?;
            }
        }
        if let Some(address) = attempt.address {
            self.rates.admit(Limit::SignInFailuresPerAddress, address).await?;
        }
        Ok(())
    }

    /// A successful sign-in starts the username's count afresh.
    pub async fn forget_failures(&self, username: &str) -> Result<(), HotStoreError> {
        FAILURES_BY_USERNAME.delete(self.hot.as_ref(), username).await.map(drop)
    }

    /// Lets a locked-out username sign in again (an operator's unlock).
    pub async fn unlock(&self, username: &str) -> Result<(), HotStoreError> {
        LOCKED_USERNAME.delete(self.hot.as_ref(), username).await?;
        FAILURES_BY_USERNAME.delete(self.hot.as_ref(), username).await.map(drop)
    }

    /// Gives an address its sign-in and client-authentication failure allowances and its page
    /// quota back (an operator's unlock, e.g. for an office that shares one address).
    pub async fn unlock_address(&self, address: &str) -> Result<(), HotStoreError> {
        for limit in [Limit::SignInFailuresPerAddress, Limit::ClientAuthFailuresPerAddress, Limit::Pages] {
            self.rates.clear(limit, address).await?;
        }
        Ok(())
    }
}
