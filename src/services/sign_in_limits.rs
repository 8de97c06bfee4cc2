//! Sign-in limits (docs/security.md §7): failed sign-ins are counted per username (known or
//! not, so a lock tells nothing about which exist) and per address; at a limit within
//! [`LOCK_WINDOW`] the identity is locked, checked before the password.

use std::sync::Arc;
use std::time::Duration;

use crate::store::hot::{keyspaces, Counter, Keyspace, Marker};
use crate::store::{HotStore, HotStoreError};

const MAX_FAILURES_PER_USERNAME: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 50;
pub const LOCK_WINDOW: Duration = Duration::from_secs(900);

const FAILURES_BY_USERNAME: Keyspace<Counter> = Keyspace::of(&keyspaces::FAILED_SIGN_INS_BY_USERNAME);
const FAILURES_BY_ADDRESS: Keyspace<Counter> = Keyspace::of(&keyspaces::FAILED_SIGN_INS_BY_ADDRESS);
const LOCKED_USERNAME: Keyspace<Marker> = Keyspace::of(&keyspaces::LOCKED_USERNAME);
const LOCKED_ADDRESS: Keyspace<Marker> = Keyspace::of(&keyspaces::LOCKED_ADDRESS);

/// Who a sign-in attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempter {
    /// A normalized username.
    Username(String),
    /// The peer address.
    Address(String),
}

impl Attempter {
    fn spaces(&self) -> (&'static Keyspace<Counter>, &'static Keyspace<Marker>, i64, &str) {
        match self {
            Self::Username(name) => (&FAILURES_BY_USERNAME, &LOCKED_USERNAME, MAX_FAILURES_PER_USERNAME, name),
            Self::Address(ip) => (&FAILURES_BY_ADDRESS, &LOCKED_ADDRESS, MAX_FAILURES_PER_ADDRESS, ip),
        }
    }
}

/// The sign-in limits.
#[derive(Debug, Clone)]
pub struct SignInLimits {
    hot: Arc<dyn HotStore>,
}

impl SignInLimits {
    pub fn new(hot: Arc<dyn HotStore>) -> Self {
        Self { hot }
    }

    /// Whether any of `attempters` is locked.
    pub async fn is_locked(&self, attempters: &[Attempter]) -> Result<bool, HotStoreError> {
        for attempter in attempters {
            let (_, lock, _, id) = attempter.spaces();
            if lock.is_marked(self.hot.as_ref(), id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts a failure against each; one at its limit is locked for [`LOCK_WINDOW`].
    pub async fn count_failure(&self, attempters: &[Attempter]) -> Result<(), HotStoreError> {
        for attempter in attempters {
            let (failures, lock, limit, id) = attempter.spaces();
            if failures.increment(self.hot.as_ref(), id, LOCK_WINDOW).await? >= limit {
                lock.mark(self.hot.as_ref(), id, LOCK_WINDOW).await?;
            }
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
}
