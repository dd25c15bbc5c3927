//! `sideroctl logs` (the binary) against the manager's own log endpoint code: a kernel-log
//! receiver fed over real TCP by a simulated node, the manager's consumer keeping per-server
//! books, and `/logs`/`/events` served by `sidero-controller-manager`'s router on loopback.
//! (The run against the real manager process with the Talos simulator over WireGuard is
//! `sidero-controller-manager`'s `siderolink_acceptance` test.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sidero_controller_manager::http::logs;
use sidero_controller_manager::siderolink::endpoint::Books;
use sidero_siderolink::annotation::{Annotation, AnnotationCache};
use sidero_siderolink::log_receiver::{self, LogBook, LogReceiver};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const UUID: &str = "c7100000-0000-4000-8000-000000000001";

fn kmsg(seq: u64, msg: &str) -> String {
    format!(
        r#"{{"clock":{},"facility":"kern","msg":"{msg}","priority":"info","seq":{seq},"talos-level":"info","talos-time":"2026-11-25T12:00:0{}.123456789Z"}}"#,
        seq * 10,
        seq % 10
    )
}

struct Env {
    endpoint: String,
    receiver: std::net::SocketAddr,
    books: Books,
}

async fn start() -> Env {
    let cache = AnnotationCache::new();
    cache.insert(
        "127.0.0.1".parse().unwrap(),
        Annotation {
            server_uuid: UUID.into(),
            namespace: "default".into(),
            cluster: "c1".into(),
            metal_machine: "mm".into(),
            machine: "m".into(),
        },
    );
    let books = Books {
        logs: Arc::new(LogBook::new(100)),
        events: Arc::new(LogBook::new(100)),
    };
    let (tx, rx) = mpsc::channel(1024);
    let r = LogReceiver::bind(
        "127.0.0.1:0".parse().unwrap(),
        cache,
        tx,
        log_receiver::Config::default(),
    )
    .await
    .unwrap();
    let receiver = r.local_addr().unwrap();
    tokio::spawn(r.serve(std::future::pending()));
    tokio::spawn(log_receiver::drain(
        rx,
        Some(books.logs.clone()),
        std::io::sink(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sidero_controller_manager::http::serve(
        listener,
        logs::router(books.clone()),
        std::future::pending(),
    ));
    Env {
        endpoint,
        receiver,
        books,
    }
}

async fn send(to: std::net::SocketAddr, lines: impl IntoIterator<Item = String>) {
    let mut s = tokio::net::TcpStream::connect(to).await.unwrap();
    for l in lines {
        s.write_all(l.as_bytes()).await.unwrap();
        s.write_all(b"\n").await.unwrap();
    }
    s.shutdown().await.unwrap();
}

async fn wait_kept(book: &LogBook, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while book.lines(UUID).len() < n {
        assert!(Instant::now() < deadline, "lines not kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sideroctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sideroctl"))
        .args(args)
        .env_remove("SIDEROCTL_ENDPOINT")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_readable_tailed_and_followed() {
    let env = start().await;
    send(
        env.receiver,
        (0..5).map(|i| kmsg(i, &format!("boot line {i}"))),
    )
    .await;
    wait_kept(&env.books.logs, 5).await;

    let ep = env.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        sideroctl(&["logs", "--endpoint", &ep, "--tail", "2", UUID])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2026-11-25T12:00:03.123Z kern.info     boot line 3\n2026-11-25T12:00:04.123Z kern.info     boot line 4\n"
    );
    // --json: the serverlogs lines as kept, annotated.
    let ep = env.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        sideroctl(&["logs", "--endpoint", &ep, "--json", "--tail", "1", UUID])
    })
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["server_uuid"].as_str(), v["machine"].as_str()),
        (Some(UUID), Some("m"))
    );

    // -f: the kept lines, then new ones as they arrive; the environment variable names the
    // endpoint.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sideroctl"))
        .args(["logs", "-f", UUID])
        .env("SIDEROCTL_ENDPOINT", &env.endpoint)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.ends_with("late line 9");
            got.push(line);
            if done {
                break;
            }
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A message with terminal escapes is shown escaped.
    send(
        env.receiver,
        (5..10)
            .map(|i| kmsg(i, &format!("late line {i}")))
            .chain([kmsg(10, "\\u001b]0;owned\\u0007")]),
    )
    .await;
    let got = reader.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let msgs: Vec<&str> = got.iter().map(|l| l.split_at(39).1).collect();
    assert_eq!(
        msgs,
        [
            "boot line 0",
            "boot line 1",
            "boot line 2",
            "boot line 3",
            "boot line 4",
            "late line 5",
            "late line 6",
            "late line 7",
            "late line 8",
            "late line 9"
        ]
    );
    let ep = env.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        sideroctl(&["logs", "--endpoint", &ep, "--tail", "1", UUID])
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2026-11-25T12:00:00.123Z kern.info     \\u{1b}]0;owned\\u{7}\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_errors() {
    let env = start().await;
    env.books.events.push(
        UUID,
        r#"{"level":"info","ts":1764072000.25,"msg":"incoming event","component":"sink","node":"[fd00::2]:5000","id":"1","type":"type.googleapis.com/machine.SequenceEvent","server_uuid":"c7100000-0000-4000-8000-000000000001","sequence":"boot","action":"START"}"#,
    );
    let ep = env.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        sideroctl(&["logs", "--events", "--endpoint", &ep, UUID])
    })
    .await
    .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2025-11-25T12:00:00.250Z SequenceEvent action=START sequence=boot\n"
    );
    // A server without lines: nothing, successfully.
    let ep = env.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || sideroctl(&["logs", "--endpoint", &ep, "other"]))
        .await
        .unwrap();
    assert!(out.status.success() && out.stdout.is_empty());
    // No endpoint, a wrong one, a manager without the log routes.
    let out = tokio::task::spawn_blocking(|| sideroctl(&["logs", UUID]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIDEROCTL_ENDPOINT"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sidero_controller_manager::http::serve(
        listener,
        axum::Router::new(),
        std::future::pending(),
    ));
    let out = tokio::task::spawn_blocking(move || sideroctl(&["logs", "--endpoint", &bare, UUID]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--siderolink"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
