//! Shared helpers: a server on 127.0.0.1 with an ephemeral port, deterministic content, real
//! client processes with a deadline, and a raw UDP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sidero_tftp::{DirSource, ServerConfig, SocketMode, TftpServer, TransferEvent};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Deadline for any single client process.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(60);

/// Events seen by the observer, rendered as short strings.
pub type Events = Arc<Mutex<Vec<String>>>;

/// A running server; aborted (with all its transfers) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    pub events: Events,
    handle: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl TestServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.root.path().join(name)
    }

    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Events once `done` holds for them (a client may exit before the server has processed
    /// its final ACK), or whatever there is after 5 s.
    pub async fn events_when(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..250 {
            let events = self.events();
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.events()
    }

    /// Events once `n` transfers have completed (or after 5 s).
    pub async fn events_after_completions(&self, n: usize) -> Vec<String> {
        self.events_when(|e| e.iter().filter(|e| e.starts_with("completed")).count() >= n)
            .await
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TFTP_TEST_LOG")
                .unwrap_or_else(|_| "off".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn config(mode: SocketMode) -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        mode,
        ..ServerConfig::default()
    }
}

/// Starts a server over a fresh temporary directory holding `files`.
pub async fn start(config: ServerConfig, files: &[(&str, &[u8])]) -> TestServer {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    for (name, data) in files {
        let p = root.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, data).unwrap();
    }
    let source = DirSource::new(root.path()).unwrap();
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let server = TftpServer::bind(config, source)
        .await
        .unwrap()
        .with_observer(move |e: &TransferEvent<'_>| {
            sink.lock().unwrap().push(render(e));
        });
    let addr = server.local_addr().unwrap();
    let handle = tokio::spawn(server.serve());
    TestServer {
        addr,
        root,
        events,
        handle,
    }
}

fn render(e: &TransferEvent<'_>) -> String {
    match e {
        TransferEvent::Started { info, options } => format!(
            "started {} blksize={} windowsize={}",
            info.file, options.block_size, options.window_size
        ),
        TransferEvent::Completed { info, bytes, .. } => format!("completed {} {bytes}", info.file),
        TransferEvent::Failed { info, reason, .. } => format!("failed {} {reason}", info.file),
        TransferEvent::Rejected { file, code, .. } => {
            format!("rejected {file} {}", code.to_u16())
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs a client process to completion within [`CLIENT_DEADLINE`] (killed otherwise).
pub async fn run(program: &str, args: &[&str]) -> Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(CLIENT_DEADLINE, child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in time"))
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that `got` holds exactly `want`.
pub fn assert_same_file(got: &Path, want: &[u8]) {
    let bytes = std::fs::read(got).unwrap_or_else(|e| panic!("reading {}: {e}", got.display()));
    assert_eq!(bytes.len(), want.len(), "size of {}", got.display());
    assert!(bytes == want, "content of {} differs", got.display());
}

/// A raw TFTP client socket on 127.0.0.1.
pub struct Raw {
    pub sock: UdpSocket,
    pub server: SocketAddr,
}

impl Raw {
    pub async fn new(server: SocketAddr) -> Raw {
        Raw {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
        }
    }

    pub async fn send_to(&self, packet: &[u8], to: SocketAddr) {
        self.sock.send_to(packet, to).await.unwrap();
    }

    /// Sends an RRQ with options to the server's listening port.
    pub async fn rrq(&self, file: &str, mode: &str, options: &[(&str, &str)]) {
        let mut p = vec![0, 1];
        for s in [file, mode] {
            p.extend_from_slice(s.as_bytes());
            p.push(0);
        }
        for (n, v) in options {
            p.extend_from_slice(n.as_bytes());
            p.push(0);
            p.extend_from_slice(v.as_bytes());
            p.push(0);
        }
        self.send_to(&p, self.server).await;
    }

    /// Next datagram within `wait`, or `None`.
    pub async fn recv(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 70_000];
        match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => {
                buf.truncate(n);
                Some((buf, from))
            }
            Ok(Err(e)) => panic!("recv: {e}"),
            Err(_) => None,
        }
    }

    /// Next datagram within 5 s; panics if none.
    pub async fn expect(&self) -> (Vec<u8>, SocketAddr) {
        self.recv(Duration::from_secs(5))
            .await
            .expect("expected a packet from the server")
    }

    pub async fn ack(&self, block: u16, to: SocketAddr) {
        let [hi, lo] = block.to_be_bytes();
        self.send_to(&[0, 4, hi, lo], to).await;
    }
}

/// Decodes a DATA packet into (block, payload); panics on anything else.
pub fn data(packet: &[u8]) -> (u16, &[u8]) {
    match sidero_tftp::Packet::parse(packet).unwrap() {
        sidero_tftp::Packet::Data { block, data } => (block, data),
        other => panic!("expected DATA, got {other:?}"),
    }
}

/// Decodes an ERROR packet into (code, message); panics on anything else.
pub fn error(packet: &[u8]) -> (u16, String) {
    match sidero_tftp::Packet::parse(packet).unwrap() {
        sidero_tftp::Packet::Error { code, message } => {
            (code.to_u16(), String::from_utf8_lossy(message).into_owned())
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

/// Decodes an OACK into its pairs; panics on anything else.
pub fn oack(packet: &[u8]) -> Vec<(String, String)> {
    match sidero_tftp::Packet::parse(packet).unwrap() {
        sidero_tftp::Packet::Oack(opts) => opts
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
        other => panic!("expected OACK, got {other:?}"),
    }
}
