//! The boot timeline: what proxy DHCP, TFTP and the HTTP boot endpoints did for a machine,
//! published as Events on its Server, so `kubectl describe server` and `sideroctl describe
//! server` show a boot step by step beside the agent's check-ins and the power actions.
//!
//! Recording never waits: boot services hand steps to a bounded queue read by one task,
//! which works out whose step it is ([`attribution`]: the PXE GUID, then the addresses the
//! machine used, then the kernel's neighbour table) and publishes an Event when that
//! Server exists. Steps of unknown machines, and steps that arrive while the queue is full,
//! are only logged.

pub mod attribution;
pub mod step;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource};
use sidero_api::metal::v1alpha2::Server;
use tokio::sync::mpsc;

use crate::http::Cached;
pub use attribution::Attribution;
pub use step::{Note, Step, arp_mac, note};

/// Steps waiting at most (a burst of a few hundred machines booting at once).
const QUEUE: usize = 4096;
/// How long an API read for a Server not in the cache may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

static TIMELINE: OnceLock<mpsc::Sender<Step>> = OnceLock::new();

/// Hands a step to the timeline (a no-op before [`install`], and when the queue is full).
pub fn record(step: Step) {
    if let Some(tx) = TIMELINE.get()
        && let Err(e) = tx.try_send(step)
    {
        tracing::debug!(error = %e, "boot timeline queue full; step dropped");
    }
}

/// Starts the timeline task (once per process; later calls do nothing).
pub fn install(client: Client, servers: Cached<Server>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    if TIMELINE.set(tx).is_ok() {
        tokio::spawn(run(client, servers, rx));
    }
}

/// The neighbour table of this network namespace.
fn neighbours() -> String {
    std::fs::read_to_string("/proc/net/arp").unwrap_or_default()
}

async fn run(client: Client, servers: Cached<Server>, mut rx: mpsc::Receiver<Step>) {
    let mut who = Attribution::default();
    while let Some(step) = rx.recv().await {
        let now = Instant::now();
        let n = note(&step);
        if n.is_none() && !Attribution::teaches(&step) {
            continue;
        }
        let Some(uuid) = who.attribute(&step, now, |ip| arp_mac(&neighbours(), ip)) else {
            tracing::debug!(?step, "boot step of an unknown machine");
            continue;
        };
        let Some(n) = n else { continue };
        if !who.first_in_window(&uuid, &n, now) {
            continue;
        }
        let server = match servers.get(&uuid) {
            Some(Some(s)) => Some((*s).clone()),
            // A live cache knows the machine has no Server (yet): no API read per request of
            // an unregistered machine.
            Some(None) if servers.live() => None,
            _ => tokio::time::timeout(
                LOOKUP_TIMEOUT,
                Api::<Server>::all(client.clone()).get_opt(&uuid),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .flatten(),
        };
        let Some(server) = server else {
            tracing::debug!(%uuid, reason = n.reason, "boot step of a machine with no Server");
            continue;
        };
        publish(&client, &server, n).await;
    }
}

/// Publishes `n` as a new Event about `server` (a failure is only logged). A Recorder per
/// Event: kube's Recorder folds Events with the same reason and action into one series that
/// keeps the first note, and these notes each say something of their own.
pub async fn publish(client: &Client, server: &Server, n: Note) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "sidero-controller-manager".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let ev = Event {
        type_: if n.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: n.reason.into(),
        note: Some(n.note),
        action: n.action.into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&ev, &server.object_ref(&())).await {
        tracing::warn!(reason = n.reason, error = %e, "publishing an event failed");
    }
}

/// The proxy DHCP hook that records every reply sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct DhcpSteps;

impl sidero_dhcp::ProxyMetrics for DhcpSteps {
    fn replied(&self, _: sidero_dhcp::Ingress, _: sidero_dhcp::FirmwareClass) {}
    fn ignored(&self, _: sidero_dhcp::Ingress, _: sidero_dhcp::IgnoreKind) {}
    fn send_failed(&self, _: sidero_dhcp::Ingress) {}
    fn offered(&self, o: &sidero_dhcp::Offered<'_>) {
        record(Step::Dhcp {
            port: o.ingress.as_str(),
            mac: o.mac.to_owned(),
            ip: Some(o.source.ip()).filter(|ip| !ip.is_unspecified()),
            uuid: o.client.guid.as_deref().and_then(sidero_dhcp::guid_uuid),
            firmware: match o.client.class {
                sidero_dhcp::FirmwareClass::X86BiosIpxe => o.client.class.to_string(),
                c if o.client.ipxe => format!("{c} iPXE"),
                c => c.to_string(),
            },
            boot_file: o.boot_file.to_owned(),
        });
    }
}

/// Records the end of a TFTP transfer.
pub fn tftp(event: &sidero_tftp::TransferEvent<'_>) {
    use sidero_tftp::TransferEvent as E;
    let (info, bytes, duration, failure) = match event {
        E::Completed {
            info,
            bytes,
            duration,
        } => (info, bytes, duration, None),
        E::Failed {
            info,
            bytes,
            duration,
            reason,
        } => (info, bytes, duration, Some(reason.to_string())),
        _ => return,
    };
    record(Step::Tftp {
        ip: info.peer.ip().to_canonical(),
        file: info.file.clone(),
        bytes: *bytes,
        duration: *duration,
        failure,
    });
}
