//! The manager's Prometheus metrics, with domain meaning: servers by state, power operations
//! and failures by BMC, boot requests by endpoint and `/ipxe` branch, TFTP transfers and bytes,
//! SideroLink log lines and events, reconcile durations, leadership.
//!
//! `main` builds a [`Registry`], registers [`Metrics`] in it with [`Metrics::register`], serves
//! the registry and [`install`]s the handle. Code shared with the tests (controllers, HTTP
//! handlers) reaches the handle through [`get`] instead of a new constructor argument, so the
//! dozens of places that build controllers and routers in tests stay as they are; without an
//! installed handle (tests, library use) every recording is a no-op.

use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sidero_api::metal::v1alpha2::Server;
pub use sidero_diagnostics::metrics::ControllerLabel;
use sidero_diagnostics::metrics::reconcile_histogram;

/// `state` label of `sidero_servers`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// One of [`STATES`].
    pub state: &'static str,
}

/// Server states counted by `sidero_servers` (a server counts in every state it is in).
pub const STATES: [&str; 9] = [
    "total",
    "accepted",
    "pending",
    "cordoned",
    "allocated",
    "clean",
    "dirty",
    "power_on",
    "power_off",
];

/// Labels of the power counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PowerLabels {
    /// `endpoint:port` of the BMC, the management API endpoint, or `none`.
    pub bmc: String,
    /// `status`, `on`, `off`, `cycle`, `pxe`.
    pub operation: &'static str,
}

/// Labels of `sidero_boot_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BootLabels {
    /// `boot.ipxe`, `ipxe`, `configdata`, `env`, `tftp` or `other`.
    pub endpoint: &'static str,
    /// The `/ipxe` decision's branch; `-` for other endpoints.
    pub branch: &'static str,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of the TFTP counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TftpLabels {
    /// One of the iPXE binaries we serve, or `other` (file names are client input: bounded).
    pub file: &'static str,
    /// `completed`, `failed` or `rejected`.
    pub result: &'static str,
}

/// Label telling whether a SideroLink line was attributed to a server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MatchedLabel {
    /// `true` when the source address belongs to a known server.
    pub matched: &'static str,
}

/// Every metric of the manager.
#[derive(Debug)]
pub struct Metrics {
    /// `sidero_servers{state}`.
    pub servers: Family<StateLabel, Gauge>,
    /// `sidero_power_operations_total{bmc,operation}`.
    pub power_operations: Family<PowerLabels, Counter>,
    /// `sidero_power_operation_failures_total{bmc,operation}`.
    pub power_failures: Family<PowerLabels, Counter>,
    /// `sidero_boot_requests_total{endpoint,branch,status}`.
    pub boot_requests: Family<BootLabels, Counter>,
    /// `sidero_tftp_transfers_total{file,result}`.
    pub tftp_transfers: Family<TftpLabels, Counter>,
    /// `sidero_tftp_bytes_total{file,result}` (payload bytes acknowledged).
    pub tftp_bytes: Family<TftpLabels, Counter>,
    /// `sidero_siderolink_log_lines_total{matched}`.
    pub log_lines: Family<MatchedLabel, Counter>,
    /// `sidero_siderolink_events_total{matched}`.
    pub events: Family<MatchedLabel, Counter>,
    /// `sidero_reconcile_duration_seconds{controller}`.
    pub reconcile: Family<ControllerLabel, Histogram, fn() -> Histogram>,
    /// `sidero_reconcile_errors_total{controller}`.
    pub reconcile_errors: Family<ControllerLabel, Counter>,
    /// `sidero_leader`: 1 while this replica runs the controllers.
    pub leader: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            servers: Family::default(),
            power_operations: Family::default(),
            power_failures: Family::default(),
            boot_requests: Family::default(),
            tftp_transfers: Family::default(),
            tftp_bytes: Family::default(),
            log_lines: Family::default(),
            events: Family::default(),
            reconcile: Family::new_with_constructor(reconcile_histogram),
            reconcile_errors: Family::default(),
            leader: Gauge::default(),
        };
        let r = registry;
        r.register(
            "sidero_servers",
            "Servers by state (a server counts in every state it is in)",
            m.servers.clone(),
        );
        r.register(
            "sidero_power_operations",
            "Power operations sent to BMCs",
            m.power_operations.clone(),
        );
        r.register(
            "sidero_power_operation_failures",
            "Power operations that failed",
            m.power_failures.clone(),
        );
        r.register(
            "sidero_boot_requests",
            "HTTP boot requests by endpoint, /ipxe branch and status",
            m.boot_requests.clone(),
        );
        r.register(
            "sidero_tftp_transfers",
            "TFTP transfers by file and result",
            m.tftp_transfers.clone(),
        );
        r.register(
            "sidero_tftp_bytes",
            "TFTP payload bytes acknowledged",
            m.tftp_bytes.clone(),
        );
        r.register(
            "sidero_siderolink_log_lines",
            "Kernel log lines received over SideroLink",
            m.log_lines.clone(),
        );
        r.register(
            "sidero_siderolink_events",
            "Talos events received over SideroLink",
            m.events.clone(),
        );
        r.register(
            "sidero_reconcile_duration_seconds",
            "Reconcile durations by controller",
            m.reconcile.clone(),
        );
        r.register(
            "sidero_reconcile_errors",
            "Reconciles that ended in an error",
            m.reconcile_errors.clone(),
        );
        r.register(
            "sidero_leader",
            "1 while this replica leads and runs the controllers",
            m.leader.clone(),
        );
        m
    }

    /// Counts one TFTP event.
    pub fn tftp(&self, event: &sidero_tftp::TransferEvent<'_>) {
        use sidero_tftp::TransferEvent as E;
        let (file, result, bytes) = match event {
            E::Started { .. } => return,
            E::Completed { info, bytes, .. } => (info.file.as_str(), "completed", *bytes),
            E::Failed { info, bytes, .. } => (info.file.as_str(), "failed", *bytes),
            E::Rejected { file, .. } => (*file, "rejected", 0),
        };
        let labels = TftpLabels {
            file: tftp_file(file),
            result,
        };
        self.tftp_transfers.get_or_create(&labels).inc();
        self.tftp_bytes.get_or_create(&labels).inc_by(bytes);
    }

    /// Sets `sidero_servers` from the full list of servers.
    pub fn set_servers<'a>(&self, servers: impl IntoIterator<Item = &'a Server>) {
        let mut counts = [0i64; STATES.len()];
        for s in servers {
            for (i, state) in STATES.iter().enumerate() {
                if server_in_state(s, state) {
                    counts[i] += 1;
                }
            }
        }
        for (state, n) in STATES.iter().zip(counts) {
            self.servers.get_or_create(&StateLabel { state }).set(n);
        }
    }
}

/// Whether `server` counts in `state` (one of [`STATES`]).
pub fn server_in_state(server: &Server, state: &str) -> bool {
    let status = server.status.clone().unwrap_or_default();
    let accepted = server.spec.accepted;
    match state {
        "total" => true,
        "accepted" => accepted,
        "pending" => !accepted,
        "cordoned" => server.spec.is_cordoned(),
        "allocated" => status.in_use,
        "clean" => status.is_clean,
        "dirty" => accepted && !status.is_clean,
        "power_on" => status.power.as_deref() == Some("on"),
        "power_off" => status.power.as_deref() == Some("off"),
        _ => false,
    }
}

/// The file label: the names we serve, else `other`.
pub fn tftp_file(name: &str) -> &'static str {
    const SERVED: [&str; 6] = [
        "ipxe.efi",
        "snp.efi",
        "undionly.kpxe",
        "undionly.kpxe.0",
        "ipxe-arm64.efi",
        "snp-arm64.efi",
    ];
    SERVED
        .into_iter()
        .find(|f| *f == name.trim_start_matches('/'))
        .unwrap_or("other")
}

/// The endpoint label of a request path.
pub fn boot_endpoint(path: &str) -> &'static str {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    ["boot.ipxe", "ipxe", "configdata", "env", "tftp"]
        .into_iter()
        .find(|e| *e == first)
        .unwrap_or("other")
}

/// The `bmc` label of a server: its BMC `endpoint:port`, its management API, or `none`.
pub fn bmc_label(server: &Server) -> String {
    if let Some(b) = &server.spec.bmc {
        return format!("{}:{}", b.endpoint, b.port.unwrap_or(623));
    }
    if let Some(m) = &server.spec.management_api {
        return m.endpoint.clone();
    }
    "none".into()
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

/// Keeps `sidero_servers` current from a Server watch (runs on every replica: the numbers do
/// not depend on leadership). Returns when the watch stream ends.
pub async fn watch_servers(client: kube::Client, metrics: &'static Metrics) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store::<Server>();
    let stream = reflector::reflector(
        writer,
        watcher(kube::Api::<Server>::all(client), watcher::Config::default()),
    )
    .backoff(sidero_diagnostics::retry::watch_backoff());
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::InitApply(_)) => {}
            Ok(_) => metrics.set_servers(reader.state().iter().map(|s| s.as_ref())),
            Err(e) => tracing::debug!(error = %e, "server metrics watch"),
        }
    }
}

/// A response extension naming the `/ipxe` branch taken, read by the request counter.
#[derive(Clone, Copy, Debug)]
pub struct Branch(pub &'static str);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(v: serde_json::Value) -> Server {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn states_table() {
        let pending = server(
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "a"}, "spec": {"accepted": false}}),
        );
        let dirty = server(
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "b"}, "spec": {"accepted": true, "cordoned": true},
            "status": {"ready": false, "inUse": false, "isClean": false, "power": "on"}}),
        );
        let allocated = server(
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "c"}, "spec": {"accepted": true},
            "status": {"ready": true, "inUse": true, "isClean": true, "power": "off"}}),
        );
        let mut r = Registry::default();
        let m = Metrics::register(&mut r);
        m.set_servers([&pending, &dirty, &allocated]);
        let want = [
            ("total", 3),
            ("accepted", 2),
            ("pending", 1),
            ("cordoned", 1),
            ("allocated", 1),
            ("clean", 1),
            ("dirty", 1),
            ("power_on", 1),
            ("power_off", 1),
        ];
        for (state, n) in want {
            assert_eq!(
                m.servers.get_or_create(&StateLabel { state }).get(),
                n,
                "{state}"
            );
        }
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(tftp_file("undionly.kpxe"), "undionly.kpxe");
        assert_eq!(tftp_file("/ipxe.efi"), "ipxe.efi");
        assert_eq!(tftp_file("../../etc/passwd"), "other");
        assert_eq!(boot_endpoint("/env/default/vmlinuz"), "env");
        assert_eq!(boot_endpoint("/ipxe"), "ipxe");
        assert_eq!(boot_endpoint("/whatever"), "other");
    }

    #[test]
    fn bmc_labels() {
        let s = server(
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "a"}, "spec": {"accepted": false,
            "bmc": {"endpoint": "10.0.0.9", "port": 6230}}}),
        );
        assert_eq!(bmc_label(&s), "10.0.0.9:6230");
        let s = server(
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "a"}, "spec": {"accepted": false}}),
        );
        assert_eq!(bmc_label(&s), "none");
    }
}
