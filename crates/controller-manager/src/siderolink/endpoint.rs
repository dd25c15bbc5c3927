//! The SideroLink endpoint of `--siderolink` (upstream's `siderolink`, `serverlogs` and
//! `serverevents` containers in one process): the WireGuard device, the kernel-log receiver
//! and the events sink on the tunnel address, the ServerBinding watch that drives them, and
//! the per-server books `sideroctl logs` reads (see [`crate::http::logs`]).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use sidero_siderolink::log_receiver::LogBook;
use sidero_siderolink::{annotation, event_sink, events, log_receiver, wireguard};

use crate::config::{self, Flags};
use crate::identity::Identity;
use crate::metrics::{self, Metrics};

/// Events kept per server (a full install is about forty).
pub const EVENTS_PER_SERVER: usize = 256;

/// The per-server books of a running endpoint.
#[derive(Clone)]
pub struct Books {
    /// `serverlogs` lines.
    pub logs: Arc<LogBook>,
    /// `serverevents` lines.
    pub events: Arc<LogBook>,
}

/// A listen address flag, or `[<server tunnel address>]:<port>` when empty.
fn tunnel_listen(flag: &str, server: Ipv6Addr, port: u16) -> anyhow::Result<SocketAddr> {
    if flag.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V6(server), port));
    }
    config::listen_addr(flag).map_err(anyhow::Error::msg)
}

/// Retries `bind` while the address is not yet usable: the tunnel's IPv6 address stays
/// tentative (duplicate address detection) for a moment after the device comes up, and binding
/// it fails with `EADDRNOTAVAIL` meanwhile. At most 5 s.
async fn until_address_usable<T, F, Fut>(mut bind: F) -> std::io::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<T>>,
{
    let mut tries = 0;
    loop {
        match bind().await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable && tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Whether a line was matched to a server, as the metrics label says it.
fn matched(server: Option<&String>) -> &'static str {
    if server.is_some() { "true" } else { "false" }
}

/// Starts the endpoint. `serverlogs` and `serverevents` lines go to stdout, one JSON object
/// per line, and into the returned books.
pub async fn start(
    client: &kube::Client,
    id: &Identity,
    flags: &Flags,
    metrics: &'static Metrics,
) -> anyhow::Result<Books> {
    let server = sidero_siderolink::server_address(&id.installation_id);
    let filter = events::parse_filter(flags.negative_address_filter.iter().map(String::as_str))
        .map_err(anyhow::Error::msg)
        .context("--negative-address-filter")?;
    let device = wireguard::Device::create(wireguard::DeviceConfig {
        name: flags.wireguard_interface.clone(),
        private_key: id.private_key.clone(),
        address: (IpAddr::V6(server), sidero_siderolink::provision::PREFIX_LEN),
        listen_port: flags.wireguard_port,
        mode: flags.wireguard_mode.parse().map_err(anyhow::Error::msg)?,
    })
    .await
    .context("creating the SideroLink WireGuard device")?;
    let cache = annotation::AnnotationCache::new();
    tokio::spawn(super::bindings::run(
        client.clone(),
        super::bindings::Targets {
            device: Some(Arc::new(device)),
            cache: Some(cache.clone()),
        },
    ));
    let books = Books {
        logs: Arc::new(LogBook::new(flags.server_log_lines)),
        events: Arc::new(LogBook::new(EVENTS_PER_SERVER)),
    };
    let (log_tx, mut counted_rx) = tokio::sync::mpsc::channel::<log_receiver::LogLine>(4096);
    let logs_addr = tunnel_listen(&flags.log_receiver_addr, server, log_receiver::DEFAULT_PORT)?;
    let logs = until_address_usable(|| {
        log_receiver::LogReceiver::bind(
            logs_addr,
            cache.clone(),
            log_tx.clone(),
            log_receiver::Config::default(),
        )
    })
    .await
    .context("binding the kernel-log receiver")?;
    drop(log_tx);
    // Counted on the way to the writer (one hop; the writer batches its output).
    let (log_fwd, log_rx) = tokio::sync::mpsc::channel::<log_receiver::LogLine>(4096);
    tokio::spawn(async move {
        while let Some(l) = counted_rx.recv().await {
            metrics
                .log_lines
                .get_or_create(&metrics::MatchedLabel {
                    matched: matched(l.server_uuid.as_ref()),
                })
                .inc();
            if log_fwd.send(l).await.is_err() {
                break;
            }
        }
    });
    tracing::info!(addr = ?logs.local_addr().ok(), "serving kernel logs (serverlogs)");
    tokio::spawn(logs.serve(std::future::pending()));
    let book = books.logs.clone();
    tokio::spawn(async move {
        if let Err(e) = log_receiver::drain(log_rx, Some(book), std::io::stdout()).await {
            tracing::error!(error = %e, "writing serverlogs lines failed");
        }
    });
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel::<event_sink::EventLine>(1024);
    let sink = event_sink::EventSink::new(
        cache,
        filter,
        Arc::new(super::binding_writer::BindingWriter::new(client.clone())),
        ev_tx,
    );
    let events_addr = tunnel_listen(&flags.events_sink_addr, server, event_sink::DEFAULT_PORT)?;
    let listener = until_address_usable(|| async { log_receiver::listen(events_addr) })
        .await
        .with_context(|| format!("binding the events sink on {events_addr}"))?;
    tracing::info!(addr = %events_addr, "serving Talos events (serverevents)");
    tokio::spawn(async move {
        if let Err(e) = sink.serve(listener, std::future::pending()).await {
            tracing::error!(error = %e, "events sink stopped");
        }
    });
    let book = books.events.clone();
    tokio::spawn(async move {
        use std::io::Write;
        while let Some(l) = ev_rx.recv().await {
            metrics
                .events
                .get_or_create(&metrics::MatchedLabel {
                    matched: matched(l.server_uuid.as_ref()),
                })
                .inc();
            if let Some(server) = &l.server_uuid {
                book.push(server, &l.line);
            }
            let _ = writeln!(std::io::stdout().lock(), "{}", l.line);
        }
    });
    Ok(books)
}
