//! caps-controller-manager's Prometheus metrics: allocations and releases of servers,
//! reconcile durations and errors by controller, leadership.
//!
//! `main` registers [`Metrics`] in the [`Registry`] it serves and [`install`]s the handle; the
//! controllers (also run in-process by the tests) record through [`get`], a no-op until a
//! handle is installed.

use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
pub use sidero_diagnostics::metrics::ControllerLabel;
use sidero_diagnostics::metrics::reconcile_histogram;

/// Label of allocation outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `bound` (the ServerBinding was created) or `lost_race` (another machine bound the
    /// server first).
    pub result: &'static str,
}

/// Every metric of caps-controller-manager.
#[derive(Debug)]
pub struct Metrics {
    /// `caps_allocations_total{result}`.
    pub allocations: Family<ResultLabel, Counter>,
    /// `caps_releases_total`: ServerBindings deleted when machines went away.
    pub releases: Counter,
    /// `caps_reconcile_duration_seconds{controller}`.
    pub reconcile: Family<ControllerLabel, Histogram, fn() -> Histogram>,
    /// `caps_reconcile_errors_total{controller}`.
    pub reconcile_errors: Family<ControllerLabel, Counter>,
    /// `caps_leader`: 1 while this replica runs the controllers.
    pub leader: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            allocations: Family::default(),
            releases: Counter::default(),
            reconcile: Family::new_with_constructor(reconcile_histogram),
            reconcile_errors: Family::default(),
            leader: Gauge::default(),
        };
        registry.register(
            "caps_allocations",
            "Servers bound to machines (ServerBindings created), by result",
            m.allocations.clone(),
        );
        registry.register(
            "caps_releases",
            "Servers released from machines (ServerBindings deleted)",
            m.releases.clone(),
        );
        registry.register(
            "caps_reconcile_duration_seconds",
            "Reconcile durations by controller",
            m.reconcile.clone(),
        );
        registry.register(
            "caps_reconcile_errors",
            "Reconciles that ended in an error",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "caps_leader",
            "1 while this replica leads and runs the controllers",
            m.leader.clone(),
        );
        m
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Makes `metrics` the process's metrics (first call wins).
pub fn install(metrics: Metrics) -> Option<&'static Metrics> {
    let _ = METRICS.set(metrics);
    METRICS.get()
}

/// The process's metrics, if installed.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Counts an allocation attempt's outcome.
pub fn allocation(result: &'static str) {
    if let Some(m) = get() {
        m.allocations.get_or_create(&ResultLabel { result }).inc();
    }
}

/// Counts a release.
pub fn release() {
    if let Some(m) = get() {
        m.releases.inc();
    }
}

/// Runs a reconcile future, recording its duration and whether it failed.
pub async fn timed<T, E>(
    controller: &'static str,
    reconcile: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let start = Instant::now();
    let res = reconcile.await;
    if let Some(m) = get() {
        let label = ControllerLabel { controller };
        m.reconcile
            .get_or_create(&label)
            .observe(start.elapsed().as_secs_f64());
        if res.is_err() {
            m.reconcile_errors.get_or_create(&label).inc();
        }
    }
    res
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[tokio::test]
    async fn timed_records_without_an_installed_handle() {
        // No handle: a no-op that still returns the result.
        let r: Result<u8, ()> = super::timed("metalmachine", async { Ok(7) }).await;
        assert_eq!(r, Ok(7));
    }

    #[test]
    fn names_are_encoded() {
        let mut r = super::Registry::default();
        let m = super::Metrics::register(&mut r);
        m.allocations
            .get_or_create(&super::ResultLabel { result: "bound" })
            .inc();
        m.reconcile
            .get_or_create(&super::ControllerLabel {
                controller: "metalmachine",
            })
            .observe(0.02);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(
            text.contains("caps_allocations_total{result=\"bound\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("caps_reconcile_duration_seconds_count{controller=\"metalmachine\"} 1"),
            "{text}"
        );
    }
}
