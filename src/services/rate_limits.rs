//! Abuse limits (docs/security.md "Rate limits"), shared by every node through the hot store:
//! a generic cell rate algorithm (GCRA) per limit and subject, one store round trip per check.
//!
//! A limit with a high rate (per-client limits on the token and introspection endpoints) is
//! checked against a small local lease instead: the node takes several units in one round trip
//! and spends them locally, so the token path does not pay a Redis round trip per request. The
//! units were charged to the shared limit when leased, so a node admits at most one lease more
//! than the limit (spent after the limit ran dry), and nothing is wasted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::config::{RateLimitSettings, RateQuota};
use crate::store::hot::{keyspaces, Keyspace, RateCell, RateCells, RateTaken};
use crate::store::{HotStore, HotStoreError};

const RATES: Keyspace<RateCell> = Keyspace::of(&keyspaces::RATE_LIMIT);

/// A lease spent faster than this makes the next one larger; a slower one, smaller.
const LEASE_PACE: Duration = Duration::from_millis(200);
/// Leases only for limits at least this fast (units per second) and this large.
const LEASE_MIN_RATE: f64 = 50.0;
const LEASE_MIN_QUOTA: u32 = 500;
/// The largest lease, and its share of the quota: a node overshoots a limit by at most that.
const LEASE_MAX: u32 = 256;
const LEASE_SHARE: u32 = 50;

/// What is limited; the name is the `RateLimit-Policy` name and part of the store key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Per client.
    Token,
    Par,
    Introspection,
    Revocation,
    /// Per client address: `/authorize`, `/login`, `/consent`, `/logout`.
    Pages,
    ClientAuthFailuresPerClient,
    ClientAuthFailuresPerAddress,
    SignInFailuresPerAddress,
}

impl Limit {
    const COUNT: usize = 8;

    pub fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Par => "par",
            Self::Introspection => "introspection",
            Self::Revocation => "revocation",
            Self::Pages => "pages",
            Self::ClientAuthFailuresPerClient => "client-auth-failures",
            Self::ClientAuthFailuresPerAddress => "client-auth-failures-by-address",
            Self::SignInFailuresPerAddress => "sign-in-failures-by-address",
        }
    }

    fn quota(self, settings: &RateLimitSettings) -> Option<RateQuota> {
        match self {
            Self::Token => settings.token,
            Self::Par => settings.par,
            Self::Introspection => settings.introspection,
            Self::Revocation => settings.revocation,
            Self::Pages => settings.pages,
            Self::ClientAuthFailuresPerClient => settings.client_auth_failures_per_client,
            Self::ClientAuthFailuresPerAddress => settings.client_auth_failures_per_address,
            Self::SignInFailuresPerAddress => settings.sign_in_failures_per_address,
        }
    }
}

/// A request over its limit: what to tell the caller (RFC 9110 `Retry-After`, and the
/// `RateLimit` / `RateLimit-Policy` fields of draft-ietf-httpapi-ratelimit-headers-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    pub limit: Limit,
    pub quota: RateQuota,
    /// Until one more request would be admitted.
    pub retry_after: Duration,
    /// Until the whole quota is back.
    pub full_after: Duration,
}

impl OverLimit {
    /// Whole seconds, rounded up and at least 1: a client that waits this long gets in.
    pub fn retry_after_seconds(&self) -> u64 {
        seconds_up(self.retry_after).max(1)
    }

    /// `"token";q=6000;w=60`.
    pub fn policy_field(&self) -> String {
        format!("\"{}\";q={};w={}", self.limit.name(), self.quota.quota(), self.quota.window().as_secs())
    }

    /// `"token";r=0;t=12`.
    pub fn limit_field(&self) -> String {
        format!("\"{}\";r=0;t={}", self.limit.name(), seconds_up(self.full_after))
    }
}

fn seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Units a node took from a shared limit and spends locally: spending one is an atomic
/// decrement, so the requests of one client do not queue on a lock.
#[derive(Debug)]
struct Lease {
    units: AtomicU32,
    /// How many units the next lease asks for: doubled when one is spent within [`LEASE_PACE`],
    /// halved when it took longer, so a slow client holds few units and a fast one few round
    /// trips. Locked only to take a new lease.
    pace: Mutex<(Instant, u32)>,
}

impl Lease {
    fn spend_one(&self) -> bool {
        self.units.fetch_update(Ordering::AcqRel, Ordering::Acquire, |units| units.checked_sub(1)).is_ok()
    }
}

/// A limit and whom it counts (a client id, an address).
type Subject = (Limit, String);

/// The abuse limits of this node.
#[derive(Debug, Clone)]
pub struct RateLimits {
    hot: Arc<dyn HotStore>,
    settings: RateLimitSettings,
    /// One map per limit, so a lookup by subject needs no key of its own (no allocation).
    leases: Arc<[DashMap<String, Arc<Lease>>; Limit::COUNT]>,
    /// Subjects this node saw go over a failure limit, until their next unit is back: checked
    /// before an attempt without a round trip, so a request that succeeds pays nothing for the
    /// failure limits.
    penalties: Arc<DashMap<Subject, (Instant, OverLimit)>>,
}

/// Past this many penalised subjects, expired ones are swept on the next insert.
const PENALTIES_SWEEP_AT: usize = 10_000;

impl RateLimits {
    pub fn new(hot: Arc<dyn HotStore>, settings: RateLimitSettings) -> Self {
        Self { hot, settings, leases: Arc::new(std::array::from_fn(|_| DashMap::new())), penalties: Arc::default() }
    }

    /// Counts a failed attempt of `subject` against the failure limit `limit`; `Some` when it
    /// went over, and then [`RateLimits::penalty`] says so on this node until a unit is back.
    pub async fn count_failure(&self, limit: Limit, subject: &str) -> Result<Option<OverLimit>, HotStoreError> {
        let over = self.admit(limit, subject).await?;
        if let Some(over) = &over {
            if self.penalties.len() >= PENALTIES_SWEEP_AT {
                let now = Instant::now();
                self.penalties.retain(|_, (until, _)| *until > now);
            }
            let until = Instant::now() + over.retry_after;
            self.penalties.insert((limit, subject.to_owned()), (until, over.clone()));
        }
        Ok(over)
    }

    /// Whether this node saw `subject` go over the failure limit `limit` and its next unit is
    /// not back yet; no round trip. Another node that has not seen it fail lets one more
    /// attempt through, whose failure it then counts against the shared limit.
    /// The subject is written out only when some subject is penalised: on the success path
    /// this costs no allocation.
    pub fn penalty(&self, limit: Limit, subject: impl std::fmt::Display) -> Option<OverLimit> {
        if self.penalties.is_empty() {
            return None;
        }
        let key = (limit, subject.to_string());
        let (until, over) = self.penalties.get(&key).map(|entry| entry.value().clone())?;
        let now = Instant::now();
        if until <= now {
            self.penalties.remove_if(&key, |_, (until, _)| *until <= now);
            return None;
        }
        Some(OverLimit { retry_after: until - now, ..over })
    }

    /// Counts one request of `subject` against `limit`; `Some` when it is over (and then
    /// nothing was counted). A limit set to `off` admits everything without a round trip.
    pub async fn admit(&self, limit: Limit, subject: &str) -> Result<Option<OverLimit>, HotStoreError> {
        let Some(quota) = limit.quota(&self.settings) else { return Ok(None) };
        if self.hot.is_shared() && leased(quota) {
            return self.admit_leased(limit, quota, subject).await;
        }
        let taken = RATES.take(self.hot.as_ref(), &key(limit, subject), cells(quota), 1).await?;
        Ok((taken.granted == 0).then(|| over(limit, quota, taken)))
    }

    /// Whether `subject` has nothing left under `limit`, counting nothing: the check before an
    /// attempt whose failure alone is counted ([`RateLimits::admit`] after it failed).
    pub async fn exhausted(&self, limit: Limit, subject: &str) -> Result<Option<OverLimit>, HotStoreError> {
        let Some(quota) = limit.quota(&self.settings) else { return Ok(None) };
        let taken = RATES.take(self.hot.as_ref(), &key(limit, subject), cells(quota), 0).await?;
        Ok((taken.remaining == 0).then(|| over(limit, quota, taken)))
    }

    /// Gives `subject` its whole quota back (an operator's unlock).
    pub async fn clear(&self, limit: Limit, subject: &str) -> Result<(), HotStoreError> {
        self.leases[limit as usize].remove(subject);
        self.penalties.remove(&(limit, subject.to_owned()));
        RATES.delete(self.hot.as_ref(), &key(limit, subject)).await.map(drop)
    }

    async fn admit_leased(
        &self,
        limit: Limit,
        quota: RateQuota,
        subject: &str,
    ) -> Result<Option<OverLimit>, HotStoreError> {
        let leases = &self.leases[limit as usize];
        if leases.get(subject).is_some_and(|lease| lease.spend_one()) {
            return Ok(None);
        }
        let lease = leases
            .entry(subject.to_owned())
            .or_insert_with(|| Arc::new(Lease { units: AtomicU32::new(0), pace: Mutex::new((Instant::now(), 1)) }))
            .clone();
        if lease.spend_one() {
            return Ok(None);
        }
        let ask = {
            let mut pace = lease.pace.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (taken_at, next) = *pace;
            let largest = (quota.quota() / LEASE_SHARE).clamp(1, LEASE_MAX);
            let next = if taken_at.elapsed() < LEASE_PACE { (next * 2).min(largest) } else { (next / 2).max(1) };
            *pace = (Instant::now(), next);
            next
        };
        let taken = RATES.take(self.hot.as_ref(), &key(limit, subject), cells(quota), ask).await?;
        if taken.granted == 0 {
            return Ok(Some(over(limit, quota, taken)));
        }
        lease.units.fetch_add(taken.granted - 1, Ordering::AcqRel);
        Ok(None)
    }
}

fn leased(quota: RateQuota) -> bool {
    quota.quota() >= LEASE_MIN_QUOTA && f64::from(quota.quota()) / quota.window().as_secs_f64() >= LEASE_MIN_RATE
}

fn cells(quota: RateQuota) -> RateCells {
    RateCells { interval_micros: quota.interval_micros(), quota: quota.quota() }
}

fn key(limit: Limit, subject: &str) -> String {
    format!("{}:{subject}", limit.name())
}

fn over(limit: Limit, quota: RateQuota, taken: RateTaken) -> OverLimit {
    OverLimit { limit, quota, retry_after: taken.retry_after, full_after: taken.full_after }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::hot::MemoryStore;

    fn limits(pages: &str) -> RateLimits {
        let sources = crate::config::Sources { file: None, env: Vec::new() };
        let mut settings = crate::config::Settings::from_sources(sources).unwrap().rate_limits;
        settings.pages = RateQuota::parse(pages).unwrap();
        RateLimits::new(Arc::new(MemoryStore::new()), settings)
    }

    #[tokio::test]
    async fn a_burst_of_the_quota_is_admitted_and_the_next_request_told_when_to_retry() {
        let limits = limits("3/1m");
        for _ in 0..3 {
            assert_eq!(limits.admit(Limit::Pages, "192.0.2.1").await.unwrap(), None);
        }
        let over = limits.admit(Limit::Pages, "192.0.2.1").await.unwrap().expect("the fourth is over");
        // One unit comes back every 20 s.
        assert!((19..=20).contains(&over.retry_after_seconds()), "{over:?}");
        assert_eq!(over.policy_field(), "\"pages\";q=3;w=60");
        assert!(over.limit_field().starts_with("\"pages\";r=0;t="));
        assert_eq!(limits.admit(Limit::Pages, "192.0.2.2").await.unwrap(), None, "another address has its own");
    }

    #[tokio::test]
    async fn peeking_counts_nothing_and_clearing_gives_the_quota_back() {
        let limits = limits("2/1m");
        assert_eq!(limits.exhausted(Limit::Pages, "a").await.unwrap(), None);
        limits.admit(Limit::Pages, "a").await.unwrap();
        assert_eq!(limits.exhausted(Limit::Pages, "a").await.unwrap(), None);
        limits.admit(Limit::Pages, "a").await.unwrap();
        assert!(limits.exhausted(Limit::Pages, "a").await.unwrap().is_some());
        limits.clear(Limit::Pages, "a").await.unwrap();
        assert_eq!(limits.admit(Limit::Pages, "a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_subject_over_a_failure_limit_is_penalised_on_this_node_until_a_unit_is_back() {
        let limits = limits("2/1m");
        assert_eq!(limits.penalty(Limit::Pages, "a"), None);
        assert_eq!(limits.count_failure(Limit::Pages, "a").await.unwrap(), None);
        assert_eq!(limits.count_failure(Limit::Pages, "a").await.unwrap(), None);
        assert_eq!(limits.penalty(Limit::Pages, "a"), None, "at the limit, not over it");
        assert!(limits.count_failure(Limit::Pages, "a").await.unwrap().is_some());
        let penalty = limits.penalty(Limit::Pages, "a").expect("penalised");
        assert!((29..=30).contains(&penalty.retry_after_seconds()), "{penalty:?}");
        assert_eq!(limits.penalty(Limit::Pages, "b"), None);
        limits.clear(Limit::Pages, "a").await.unwrap();
        assert_eq!(limits.penalty(Limit::Pages, "a"), None);
    }

    #[tokio::test]
    async fn a_limit_that_is_off_admits_everything() {
        let limits = limits("off");
        for _ in 0..100 {
            assert_eq!(limits.admit(Limit::Pages, "a").await.unwrap(), None);
        }
    }

    #[test]
    fn every_limit_has_a_lease_map_of_its_own() {
        let all = [
            Limit::Token,
            Limit::Par,
            Limit::Introspection,
            Limit::Revocation,
            Limit::Pages,
            Limit::ClientAuthFailuresPerClient,
            Limit::ClientAuthFailuresPerAddress,
            Limit::SignInFailuresPerAddress,
        ];
        assert_eq!(all.len(), Limit::COUNT);
        assert!(all.iter().all(|limit| (*limit as usize) < Limit::COUNT));
    }

    #[test]
    fn the_cell_rate_step_refills_one_unit_per_interval() {
        let cells = RateCells { interval_micros: 1_000, quota: 2 };
        let (first, tat) = cells.step(10_000, None, 1);
        assert_eq!((first.granted, first.remaining), (1, 1));
        let (second, tat) = cells.step(10_000, Some(tat), 5);
        assert_eq!((second.granted, second.remaining), (1, 0), "takes what is left, not more");
        assert_eq!(second.retry_after, Duration::from_micros(1_000));
        let (refused, _) = cells.step(10_500, Some(tat), 1);
        assert_eq!((refused.granted, refused.retry_after), (0, Duration::from_micros(500)));
        let (later, _) = cells.step(11_000, Some(tat), 1);
        assert_eq!(later.granted, 1, "one interval later one unit is back");
    }
}
