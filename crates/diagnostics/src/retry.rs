//! How both managers retry while the API server is away, so that they act again within a few
//! seconds of its return.
//!
//! kube-runtime's defaults are kind to a struggling API server but slow to recover from an
//! outage: a watch backs off up to 30 s (jittered, reset only after 120 s), and a failed
//! reconcile used to wait a flat 20 s. After a 30 s outage both add up to 70–100 s before a
//! manager acts again. Here:
//!
//! * watches (and a `Controller`'s merged trigger stream) back off from
//!   [`WATCH_RETRY_MIN`] doubling to at most [`WATCH_RETRY_MAX`], reset by the first event
//!   that arrives: a reconnected watch re-lists, and the re-list wakes every object, which is
//!   the resync after an outage;
//! * a failed reconcile is retried per object from [`RECONCILE_RETRY_MIN`] doubling to at
//!   most [`RECONCILE_RETRY_MAX`], and its count starts over once a reconcile of that object
//!   succeeds ([`Retries`]).
//!
//! The delays are [`retry_delay`], a pure function; the types only count attempts.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::utils::Backoff;

/// First delay before re-opening a watch that failed.
pub const WATCH_RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest delay between attempts to re-open a watch: an API server that returns is seen
/// within this long (one LIST + WATCH per resource every few seconds while it is away is
/// cheap compared with what the managers do when it is up).
pub const WATCH_RETRY_MAX: Duration = Duration::from_secs(3);
/// First delay before retrying a failed reconcile.
pub const RECONCILE_RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest delay before retrying a failed reconcile (upstream retried after a flat 20 s).
pub const RECONCILE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Delay before retry `attempt` (1-based): `min` doubled per earlier attempt, at most `max`
/// (`attempt` 0 is treated as 1).
pub fn retry_delay(attempt: u32, min: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
    min.saturating_mul(factor).min(max)
}

/// Watch backoff for `WatchStreamExt::backoff` and `Controller::trigger_backoff`:
/// [`retry_delay`] between [`WATCH_RETRY_MIN`] and [`WATCH_RETRY_MAX`], reset by any event.
#[derive(Debug, Default, Clone)]
pub struct WatchBackoff {
    attempt: u32,
}

/// A fresh [`WatchBackoff`].
pub fn watch_backoff() -> WatchBackoff {
    WatchBackoff::default()
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.attempt = self.attempt.saturating_add(1);
        Some(retry_delay(self.attempt, WATCH_RETRY_MIN, WATCH_RETRY_MAX))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Failed reconcile attempts per object, for a controller's error policy: [`Retries::failed`]
/// gives the delay before the next attempt, [`Retries::track`] forgets the count when a
/// reconcile succeeds. Cheap to clone (the counts are shared).
#[derive(Debug, Clone, Default)]
pub struct Retries {
    attempts: Arc<Mutex<HashMap<String, u32>>>,
}

impl Retries {
    /// Empty counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failed reconcile of `key`; the delay before retrying it.
    pub fn failed(&self, key: &str) -> Duration {
        let attempt = match self.attempts.lock() {
            Ok(mut attempts) => {
                let n = attempts.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            // A panic elsewhere poisoned the map: retry as after a first failure.
            Err(_) => 1,
        };
        retry_delay(attempt, RECONCILE_RETRY_MIN, RECONCILE_RETRY_MAX)
    }

    /// Forgets the failures of `key` (its next failure waits [`RECONCILE_RETRY_MIN`] again).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.remove(key);
        }
    }

    /// Runs a reconcile of `key`; forgets its failures when it succeeds.
    pub fn track<F, T, E>(
        &self,
        key: String,
        reconcile: F,
    ) -> impl Future<Output = Result<T, E>> + use<F, T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let this = self.clone();
        async move {
            let res = reconcile.await;
            if res.is_ok() {
                this.succeeded(&key);
            }
            res
        }
    }
}

/// The key [`Retries`] counts an object under: `namespace/name` (`name` when cluster-scoped).
pub fn object_key<K: kube::Resource>(obj: &K) -> String {
    let name = obj.meta().name.as_deref().unwrap_or_default();
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let (min, max) = (MS(500), Duration::from_secs(10));
        let table = [
            (0, 500),
            (1, 500),
            (2, 1000),
            (3, 2000),
            (4, 4000),
            (5, 8000),
            (6, 10_000),
            (7, 10_000),
            (40, 10_000),
            (u32::MAX, 10_000),
        ];
        for (attempt, ms) in table {
            assert_eq!(retry_delay(attempt, min, max), MS(ms), "attempt {attempt}");
        }
    }

    #[test]
    fn retry_delay_never_exceeds_max_even_when_min_does() {
        assert_eq!(retry_delay(1, MS(5000), MS(3000)), MS(3000));
    }

    #[test]
    fn watch_backoff_is_capped_at_a_few_seconds_and_resets() {
        let mut b = watch_backoff();
        let first: Vec<Duration> = b.by_ref().take(6).collect();
        assert_eq!(
            first,
            [MS(500), MS(1000), MS(2000), MS(3000), MS(3000), MS(3000)]
        );
        // However long the outage, the next attempt is at most WATCH_RETRY_MAX away.
        assert_eq!(b.nth(1000), Some(WATCH_RETRY_MAX));
        b.reset();
        assert_eq!(b.next(), Some(WATCH_RETRY_MIN));
    }

    #[test]
    fn retries_grow_per_object_and_start_over_after_a_success() {
        let r = Retries::new();
        let a: Vec<Duration> = (0..7).map(|_| r.failed("ns/a")).collect();
        assert_eq!(
            a,
            [
                MS(500),
                MS(1000),
                MS(2000),
                MS(4000),
                MS(8000),
                MS(10_000),
                MS(10_000)
            ]
        );
        // Another object's count is its own.
        assert_eq!(r.failed("ns/b"), MS(500));
        r.succeeded("ns/a");
        assert_eq!(r.failed("ns/a"), MS(500));
        assert_eq!(r.failed("ns/b"), MS(1000));
    }

    #[tokio::test]
    async fn track_forgets_failures_only_on_success() {
        let r = Retries::new();
        r.failed("x");
        r.failed("x");
        let failed: Result<(), ()> = r.track("x".into(), async { Err(()) }).await;
        assert!(failed.is_err());
        assert_eq!(r.failed("x"), MS(2000), "a failure keeps the count");
        let ok: Result<(), ()> = r.track("x".into(), async { Ok(()) }).await;
        assert!(ok.is_ok());
        assert_eq!(r.failed("x"), MS(500), "a success starts over");
    }

    #[test]
    fn object_key_names_namespace_and_name() {
        let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
        cm.metadata.name = Some("n".into());
        assert_eq!(object_key(&cm), "n");
        cm.metadata.namespace = Some("ns".into());
        assert_eq!(object_key(&cm), "ns/n");
    }
}
