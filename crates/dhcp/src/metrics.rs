//! A counters hook, so the binary can export figures without this crate depending on a
//! metrics library.

use std::collections::BTreeMap;
use std::sync::Mutex;

use std::net::SocketAddr;

use crate::classify::{Classification, FirmwareClass};
use crate::respond::{IgnoreKind, Ingress};

/// One reply sent, as [`ProxyMetrics::offered`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Offered<'a> {
    /// The port the request came in on.
    pub ingress: Ingress,
    /// The client's hardware address (`aa:bb:…`).
    pub mac: &'a str,
    /// Where the request came from (`0.0.0.0:68` before the client has an address).
    pub source: SocketAddr,
    /// What the proxy learned about the client (firmware class, GUID).
    pub client: &'a Classification,
    /// Option 67, the boot file name or URL handed out.
    pub boot_file: &'a str,
}

/// Receives one call per handled datagram. Implementations must be cheap and must not block.
pub trait ProxyMetrics: Send + Sync {
    /// A reply (OFFER on 67, ACK on 4011) was sent to a client of `class`.
    fn replied(&self, ingress: Ingress, class: FirmwareClass);
    /// A datagram was not answered.
    fn ignored(&self, ingress: Ingress, reason: IgnoreKind);
    /// A reply was built but sending it failed.
    fn send_failed(&self, ingress: Ingress);
    /// A reply was sent: who asked and what they were handed (the manager turns this into
    /// a per-machine boot timeline). Called after [`ProxyMetrics::replied`].
    fn offered(&self, _offer: &Offered<'_>) {}
}

/// Counts nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetrics;

impl ProxyMetrics for NoMetrics {
    fn replied(&self, _: Ingress, _: FirmwareClass) {}
    fn ignored(&self, _: Ingress, _: IgnoreKind) {}
    fn send_failed(&self, _: Ingress) {}
}

/// A counter set kept in memory: enough for tests and for a `/metrics` exporter to read.
#[derive(Debug, Default)]
pub struct CountingMetrics {
    inner: Mutex<Counts>,
}

/// A snapshot of [`CountingMetrics`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Replies sent, by port and firmware class.
    pub replied: BTreeMap<(&'static str, FirmwareClass), u64>,
    /// Datagrams ignored, by port and reason.
    pub ignored: BTreeMap<(&'static str, IgnoreKind), u64>,
    /// Replies that could not be sent, by port.
    pub send_failed: BTreeMap<&'static str, u64>,
}

impl CountingMetrics {
    /// A snapshot of the counters.
    pub fn snapshot(&self) -> Counts {
        match self.inner.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Counts)) {
        match self.inner.lock() {
            Ok(mut c) => f(&mut c),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

impl ProxyMetrics for CountingMetrics {
    fn replied(&self, ingress: Ingress, class: FirmwareClass) {
        self.update(|c| *c.replied.entry((ingress.as_str(), class)).or_default() += 1);
    }

    fn ignored(&self, ingress: Ingress, reason: IgnoreKind) {
        self.update(|c| *c.ignored.entry((ingress.as_str(), reason)).or_default() += 1);
    }

    fn send_failed(&self, ingress: Ingress) {
        self.update(|c| *c.send_failed.entry(ingress.as_str()).or_default() += 1);
    }
}
