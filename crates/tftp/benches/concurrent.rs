//! Benchmark: many concurrent TFTP clients fetching `ipxe.efi` from our server and from
//! `dnsmasq --enable-tftp`, measured in the same run.
//!
//! Run: `cargo bench -p sidero-tftp --bench concurrent` (as root: it needs a network namespace
//! and dnsmasq's fixed port 69). Knobs: `TFTP_BENCH_CLIENTS` (default 200 concurrent
//! clients), `TFTP_BENCH_ROUNDS` (sequential transfers per client per trial, default 3),
//! `TFTP_BENCH_TRIALS` (default 2; targets are interleaved per trial so drift hits all).
//!
//! The process re-executes itself inside a fresh network namespace (loopback only, so the
//! traffic cannot leave the machine and port 69 is free whatever else runs here); our server
//! runs as a separate process (this binary with `--serve`) like dnsmasq, so clients and
//! servers never share a runtime. Each client is a tokio task with its own UDP socket, using
//! our packet codec: RRQ with `blksize=1432` and `tsize=0` (what iPXE asks), lockstep ACKs,
//! every block checked against the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sidero_tftp::packet::{Packet, encode_option_pairs};
use sidero_tftp::{DirSource, ServerConfig, SocketMode, TftpServer};
use tokio::net::UdpSocket;

const FILE: &str = "ipxe.efi";
const BLKSIZE: u16 = 1432;
const OURS_SINGLE: &str = "127.0.0.1:6969";
const OURS_MULTI: &str = "127.0.0.1:6970";
const DNSMASQ: &str = "127.0.0.1:69";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve") => serve(&args[2], &args[3], &args[4]),
        Some("--inside") => inside(),
        // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without
        // it, where a minutes-long benchmark has no place.
        _ if std::env::args().any(|a| a == "--bench") => outside(),
        _ => {
            println!("benchmark only: run `cargo bench -p sidero-tftp --bench concurrent`");
            ExitCode::SUCCESS
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Kills and reaps a child we started, by its handle.
struct Reap(Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates a namespace, runs `--inside` there (bounded), deletes it.
fn outside() -> ExitCode {
    let ns = format!("sidero-tftp-bench-{}", std::process::id());
    let ip = |a: &[&str]| {
        Command::new("ip")
            .args(a)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ip(&["netns", "add", &ns]) {
        eprintln!("cannot create network namespace {ns} (needs root and iproute2)");
        return ExitCode::FAILURE;
    }
    let ok = ip(&["-n", &ns, "link", "set", "lo", "up"]) && {
        let exe = std::env::current_exe().unwrap();
        let mut child = Reap(
            Command::new("ip")
                .args(["netns", "exec", &ns])
                .arg(exe)
                .arg("--inside")
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            if let Some(st) = child.0.try_wait().unwrap() {
                break st.success();
            }
            if Instant::now() > deadline {
                eprintln!("benchmark exceeded 30 minutes, stopping it");
                break false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    ip(&["netns", "del", &ns]);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Server mode: our TFTP server over `dir` on `addr`; prints `ready` once bound.
fn serve(dir: &str, addr: &str, mode: &str) -> ExitCode {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = ServerConfig {
            bind: addr.parse().unwrap(),
            mode: if mode == "multi" {
                SocketMode::MultiPort
            } else {
                SocketMode::SinglePort
            },
            max_transfers: 1024,
            ..ServerConfig::default()
        };
        let server = TftpServer::bind(config, DirSource::new(dir).unwrap())
            .await
            .unwrap();
        println!("ready");
        server.serve().await;
    });
    ExitCode::SUCCESS
}

fn spawn_ours(exe: &std::path::Path, dir: &std::path::Path, addr: &str, mode: &str) -> Reap {
    let mut child = Command::new(exe)
        .arg("--serve")
        .arg(dir)
        .args([addr, mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "our server did not start");
    Reap(child)
}

fn spawn_dnsmasq(dir: &std::path::Path) -> Reap {
    Reap(
        Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--enable-tftp",
                "--tftp-max=1024",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--user=root",
                "--quiet-tftp",
                "--log-facility=/dev/null",
            ])
            .arg(format!("--tftp-root={}", dir.display()))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dnsmasq (Debian: dnsmasq-base) is installed"),
    )
}

/// One transfer's outcome: bytes received, or why it failed.
async fn fetch(server: SocketAddr, file: &[u8]) -> Result<usize, String> {
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let mut rrq = Vec::new();
    Packet::Rrq(sidero_tftp::packet::Request {
        filename: FILE,
        mode: "octet",
        options: Default::default(),
    })
    .encode(&mut rrq)
    .map_err(|e| e.to_string())?;
    encode_option_pairs(
        &mut rrq,
        &[("blksize", BLKSIZE.to_string().as_str()), ("tsize", "0")],
    )
    .map_err(|e| e.to_string())?;
    let mut last_sent = rrq;
    let mut dest = server;
    let mut peer: Option<SocketAddr> = None;
    let mut blksize = 512usize;
    let mut expected: u16 = 1;
    let mut received = 0usize;
    let mut buf = vec![0u8; 65536];
    let mut retries = 0;
    sock.send_to(&last_sent, dest)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let got = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await;
        let (n, from) = match got {
            Ok(r) => r.map_err(|e| e.to_string())?,
            Err(_) => {
                retries += 1;
                if retries > 5 {
                    return Err(format!("timed out after {received} bytes"));
                }
                sock.send_to(&last_sent, dest)
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
        };
        if peer.is_some_and(|p| p != from) {
            continue; // a stray packet from another TID
        }
        peer = Some(from);
        dest = from;
        match Packet::parse(&buf[..n]).map_err(|e| e.to_string())? {
            Packet::Oack(opts) => {
                for (k, v) in opts.iter() {
                    if k.eq_ignore_ascii_case("blksize") {
                        blksize = v.parse().map_err(|_| "bad blksize".to_string())?;
                    }
                }
                last_sent = ack(0);
            }
            Packet::Data { block, data } => {
                if block == expected {
                    if file.get(received..received + data.len()) != Some(data) {
                        return Err(format!("block {block} differs from the file"));
                    }
                    received += data.len();
                    expected = expected.wrapping_add(1);
                    retries = 0;
                    last_sent = ack(block);
                    if data.len() < blksize {
                        sock.send_to(&last_sent, dest)
                            .await
                            .map_err(|e| e.to_string())?;
                        return Ok(received);
                    }
                }
                // Anything else is a retransmission: answer with the last ACK again.
            }
            Packet::Error { code, message } => {
                return Err(format!(
                    "error {}: {}",
                    code.to_u16(),
                    String::from_utf8_lossy(message)
                ));
            }
            other => return Err(format!("unexpected {:?}", other.opcode())),
        }
        sock.send_to(&last_sent, dest)
            .await
            .map_err(|e| e.to_string())?;
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(4);
    Packet::Ack { block }.encode(&mut v).unwrap_or(());
    v
}

/// Totals of one target over all trials.
#[derive(Default)]
struct Totals {
    wall: Duration,
    bytes: u64,
    transfers: u64,
    failures: u64,
    first_failure: Option<String>,
    latencies: Vec<Duration>,
}

impl Totals {
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.wall.as_secs_f64()
    }
    fn per_s(&self) -> f64 {
        self.transfers as f64 / self.wall.as_secs_f64()
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

/// `clients` tasks, each doing `rounds` sequential transfers.
async fn trial(
    server: SocketAddr,
    file: Arc<Vec<u8>>,
    clients: usize,
    rounds: usize,
    t: &mut Totals,
) {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let file = Arc::clone(&file);
        set.spawn(async move {
            let mut out = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t0 = Instant::now();
                let r = fetch(server, &file).await;
                out.push((r, t0.elapsed()));
            }
            out
        });
    }
    while let Some(done) = set.join_next().await {
        for (r, took) in done.unwrap() {
            match r {
                Ok(n) if n == file.len() => {
                    t.transfers += 1;
                    t.bytes += n as u64;
                    t.latencies.push(took);
                }
                Ok(n) => {
                    t.failures += 1;
                    t.first_failure
                        .get_or_insert(format!("short transfer: {n} bytes"));
                }
                Err(e) => {
                    t.failures += 1;
                    t.first_failure.get_or_insert(e);
                }
            }
        }
    }
    t.wall += start.elapsed();
}

fn inside() -> ExitCode {
    let clients = env_usize("TFTP_BENCH_CLIENTS", 200);
    let rounds = env_usize("TFTP_BENCH_ROUNDS", 3);
    let trials = env_usize("TFTP_BENCH_TRIALS", 2);
    let dir = tempfile::tempdir().unwrap();
    let (file, origin) = match std::fs::read("/usr/lib/ipxe/ipxe.efi") {
        Ok(b) => (b, "/usr/lib/ipxe/ipxe.efi (Debian's ipxe)"),
        Err(_) => (
            (0..850_000u32).map(|i| (i * 31 % 251) as u8).collect(),
            "850 000 generated bytes (/usr/lib/ipxe/ipxe.efi is missing)",
        ),
    };
    std::fs::write(dir.path().join(FILE), &file).unwrap();
    let exe = std::env::current_exe().unwrap();
    let _single = spawn_ours(&exe, dir.path(), OURS_SINGLE, "single");
    let _multi = spawn_ours(&exe, dir.path(), OURS_MULTI, "multi");
    let _dnsmasq = spawn_dnsmasq(dir.path());
    let file = Arc::new(file);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let targets: [(&str, SocketAddr); 3] = [
        ("ours (single-port)", OURS_SINGLE.parse().unwrap()),
        ("ours (multi-port)", OURS_MULTI.parse().unwrap()),
        ("dnsmasq 2.90", DNSMASQ.parse().unwrap()),
    ];
    println!(
        "TFTP: {clients} concurrent clients x {rounds} transfers x {trials} trials per target; \
         file {origin}, {} bytes; blksize {BLKSIZE}, lockstep (no windowsize, as iPXE)",
        file.len()
    );
    let mut totals: Vec<Totals> = targets.iter().map(|_| Totals::default()).collect();
    rt.block_on(async {
        // dnsmasq needs a moment to bind; every target gets a few warm-up transfers.
        for (name, addr) in &targets {
            let mut ok = false;
            for _ in 0..50 {
                if fetch(*addr, &file).await.is_ok() {
                    ok = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ok, "{name} does not serve {FILE}");
            let mut warm = Totals::default();
            trial(*addr, Arc::clone(&file), 20, 1, &mut warm).await;
        }
        for _ in 0..trials {
            for ((_, addr), t) in targets.iter().zip(totals.iter_mut()) {
                trial(*addr, Arc::clone(&file), clients, rounds, t).await;
            }
        }
    });
    println!(
        "{:<20} {:>9} {:>11} {:>10} {:>10} {:>9}",
        "target", "MB/s", "transfers/s", "p50 ms", "p99 ms", "failures"
    );
    let mut rows = Vec::new();
    for ((name, _), t) in targets.iter().zip(totals.iter_mut()) {
        let (p50, p99) = (t.pct(0.50), t.pct(0.99));
        println!(
            "{:<20} {:>9.1} {:>11.1} {:>10.1} {:>10.1} {:>9}",
            name,
            t.mb_s(),
            t.per_s(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            t.failures
        );
        if let Some(f) = &t.first_failure {
            println!("  first failure: {f}");
        }
        rows.push((t.mb_s(), t.per_s(), p99));
    }
    let base = rows[2];
    for (i, label) in ["ours single-port / dnsmasq", "ours multi-port / dnsmasq"]
        .iter()
        .enumerate()
    {
        let r = rows[i];
        println!(
            "{label}: throughput x{:.2}, transfers/s x{:.2}, p99 latency x{:.2} (lower is better)",
            r.0 / base.0,
            r.1 / base.1,
            r.2.as_secs_f64() / base.2.as_secs_f64()
        );
    }
    if totals.iter().any(|t| t.failures > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
