//! Kernel-log receiver throughput and memory (`cargo bench -p sidero-siderolink --bench
//! log_receiver`).
//!
//! Simulated nodes open concurrent TCP streams on loopback, each from its own source address
//! (127.p.x.y, each with an annotation, as tunnel addresses would be), connect first and
//! then all send at once Talos'
//! kernel-log JSON lines. The receiver decodes, annotates and hands every line to the
//! manager's consumer ([`log_receiver::drain`]: per-server ring buffers + the `serverlogs`
//! output, here a newline-counting sink instead of stdout).
//!
//! Baselines measured in the same run: the same bytes over the same number of connections
//! into a plain TCP sink that only counts newlines, and the receiver with one node. Printed:
//! lines/s, MB/s, the ratios, and the process RSS before/after with the ring buffers' size.
//! `SIDERO_BENCH_NODES` and `SIDERO_BENCH_LINES` (per node) change the load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sidero_siderolink::annotation::{Annotation, AnnotationCache};
use sidero_siderolink::log_receiver::{self, Config, LogBook, LogLine, LogReceiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Node `i`'s source address in `phase` (each run uses fresh addresses, so no connection of
/// an earlier run lingers on the same address pair).
fn node_ip(phase: u8, i: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, phase, (i / 250) as u8, (i % 250) as u8 + 1)
}

/// `n` lines as a real Talos node sends them (≈ 200 bytes each).
fn payload(n: u64) -> Arc<Vec<u8>> {
    let mut buf = Vec::new();
    for seq in 0..n {
        writeln!(
            buf,
            r#"{{"clock":{},"facility":"kern","msg":"[talos] phase install (5/8): task {seq} of the install sequence done","priority":"info","seq":{seq},"talos-level":"info","talos-time":"2026-11-25T12:00:00.123456789Z"}}"#,
            1_000_000 + seq * 10
        )
        .unwrap();
    }
    Arc::new(buf)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Connections opened at once (`SIDERO_BENCH_CONNECT_BATCH`, default 50).
static CONNECT_BATCH: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| env_or("SIDERO_BENCH_CONNECT_BATCH", 50).max(1));

/// Connects `nodes` nodes (node `i` from [`node_ip`]) to `to`, 50 at a time: the timed part
/// is the streaming, not a connection storm.
async fn connect_all(phase: u8, nodes: u64, to: SocketAddr) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    let mut i = 0;
    while i < nodes {
        let batch: Vec<_> = (i..nodes.min(i + *CONNECT_BATCH))
            .map(|n| {
                tokio::spawn(async move {
                    let s = TcpSocket::new_v4().unwrap();
                    s.bind(SocketAddr::new(IpAddr::V4(node_ip(phase, n)), 0))
                        .unwrap();
                    s.connect(to).await.unwrap()
                })
            })
            .collect();
        for t in batch {
            streams.push(t.await.unwrap());
        }
        i += *CONNECT_BATCH;
    }
    streams
}

/// Every stream sends `payload` at once, then closes.
async fn send_all(streams: Vec<TcpStream>, payload: Arc<Vec<u8>>) {
    let mut tasks = Vec::new();
    for mut c in streams {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            c.write_all(&payload).await.unwrap();
            c.shutdown().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Waits until `counter` reaches `want`; false after 2 minutes.
async fn wait_for(counter: &AtomicU64, want: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while counter.load(Ordering::Relaxed) < want {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// Plain TCP sink: counts newlines. Returns the elapsed time.
async fn baseline(phase: u8, nodes: u64, payload: Arc<Vec<u8>>) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(AtomicU64::new(0));
    let counted = lines.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let nl = buf[..n].iter().filter(|&&b| b == b'\n').count();
                            counted.fetch_add(nl as u64, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let want = nodes * payload.iter().filter(|&&b| b == b'\n').count() as u64;
    let streams = connect_all(phase, nodes, addr).await;
    let start = Instant::now();
    send_all(streams, payload).await;
    assert!(
        wait_for(&lines, want).await,
        "plain sink stuck at {lines:?} of {want}"
    );
    let took = start.elapsed();
    server.abort();
    took
}

/// Counts the lines the consumer writes (stands in for stdout).
struct CountingSink(Arc<AtomicU64>);

impl Write for CountingSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let nl = b.iter().filter(|&&c| c == b'\n').count();
        self.0.fetch_add(nl as u64, Ordering::Relaxed);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Run {
    took: Duration,
    book: Arc<LogBook>,
    garbage: u64,
}

/// The receiver with the manager's consumer; `ring` lines kept per server.
async fn receiver(phase: u8, nodes: u64, payload: Arc<Vec<u8>>, ring: usize) -> Run {
    let cache = AnnotationCache::new();
    for i in 0..nodes {
        cache.insert(
            IpAddr::V4(node_ip(phase, i)),
            Annotation {
                server_uuid: format!("bench000-0000-4000-8000-{i:012}"),
                namespace: "default".into(),
                cluster: "bench".into(),
                metal_machine: format!("bench-mm-{i}"),
                machine: format!("bench-m-{i}"),
            },
        );
    }
    let (tx, rx) = mpsc::channel::<LogLine>(4096);
    let config = Config {
        max_connections: nodes as usize + 16,
        ..Config::default()
    };
    let r = LogReceiver::bind("127.0.0.1:0".parse().unwrap(), cache, tx, config)
        .await
        .unwrap();
    let addr = r.local_addr().unwrap();
    let counters = r.counters();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(r.serve(async {
        let _ = stop_rx.await;
    }));
    let book = Arc::new(LogBook::new(ring));
    let written = Arc::new(AtomicU64::new(0));
    let drain = tokio::spawn(log_receiver::drain(
        rx,
        Some(book.clone()),
        CountingSink(written.clone()),
    ));
    let want = nodes * payload.iter().filter(|&&b| b == b'\n').count() as u64;
    let streams = connect_all(phase, nodes, addr).await;
    let accepted = AtomicU64::new(0);
    let all_accepted = async {
        while counters.connections.load(Ordering::Relaxed) < nodes {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        accepted.store(nodes, Ordering::Relaxed);
    };
    let _ = tokio::time::timeout(Duration::from_secs(60), all_accepted).await;
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        nodes,
        "receiver accepted {:?} of {nodes} connections",
        counters.snapshot()
    );
    let start = Instant::now();
    send_all(streams, payload).await;
    assert!(
        wait_for(&written, want).await,
        "receiver stuck: {} of {want} lines written; (connections, records, garbage, unknown) = {:?}",
        written.load(Ordering::Relaxed),
        counters.snapshot()
    );
    let took = start.elapsed();
    let _ = stop_tx.send(());
    serve.await.unwrap();
    drop(drain);
    Run {
        took,
        book,
        garbage: counters.garbage.load(Ordering::Relaxed),
    }
}

fn rate(lines: u64, took: Duration) -> f64 {
    lines as f64 / took.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let nodes = env_or("SIDERO_BENCH_NODES", 500);
    let per_node = env_or("SIDERO_BENCH_LINES", 1000);
    let ring = env_or("SIDERO_BENCH_RING", 1000) as usize;
    let total = nodes * per_node;
    let many = payload(per_node);
    let one = payload(total);
    let line_len = many.len() as f64 / per_node as f64;
    println!(
        "kernel-log receiver: {nodes} nodes x {per_node} lines ({total} lines, {:.0} bytes/line, {:.1} MB), ring {ring} lines/server, {} worker threads",
        line_len,
        (total as f64 * line_len) / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let base_many = baseline(1, nodes, many.clone()).await;
    let base_one = baseline(2, 1, one.clone()).await;
    let rss_before = rss_kib();
    let r_many = receiver(3, nodes, many.clone(), ring).await;
    let rss_after = rss_kib();
    let (servers, kept, kept_bytes) = r_many.book.usage();
    drop(r_many.book);
    let r_one = receiver(4, 1, one, ring).await;
    assert_eq!(r_many.garbage + r_one.garbage, 0, "the payload is clean");

    let mb = |took: Duration| total as f64 * line_len / 1e6 / took.as_secs_f64();
    println!(
        "{:<34} {:>12} {:>9} {:>8}",
        "case", "lines/s", "MB/s", "seconds"
    );
    for (name, took) in [
        (format!("plain TCP sink, {nodes} conns"), base_many),
        ("plain TCP sink, 1 conn".to_string(), base_one),
        (format!("receiver, {nodes} nodes"), r_many.took),
        ("receiver, 1 node".to_string(), r_one.took),
    ] {
        println!(
            "{name:<34} {:>12.0} {:>9.1} {:>8.2}",
            rate(total, took),
            mb(took),
            took.as_secs_f64()
        );
    }
    println!(
        "ratio receiver/plain TCP ({nodes} conns): {:.3}",
        rate(total, r_many.took) / rate(total, base_many)
    );
    println!(
        "ratio receiver/plain TCP (1 conn):      {:.3}",
        rate(total, r_one.took) / rate(total, base_one)
    );
    println!(
        "ratio receiver {nodes} nodes / 1 node:     {:.3}",
        rate(total, r_many.took) / rate(total, r_one.took)
    );
    let grown = rss_after.saturating_sub(rss_before);
    println!(
        "memory: RSS {} KiB before, {} KiB after the {nodes}-node run (+{} KiB, {:.1} KiB per node); rings hold {kept} lines of {servers} servers, {:.1} MB of line text ({:.0} bytes/line annotated); RSS growth / line text: {:.2}",
        rss_before,
        rss_after,
        grown,
        grown as f64 / nodes as f64,
        kept_bytes as f64 / 1e6,
        kept_bytes as f64 / kept.max(1) as f64,
        grown as f64 * 1024.0 / kept_bytes.max(1) as f64
    );
}
