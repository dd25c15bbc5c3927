//! The kernel-log receiver on loopback with real TCP clients: annotated lines arrive in order
//! per connection, unknown sources are printed without annotations, and garbage (truncated
//! JSON, lines over the limit, a flood without newlines) is counted and never blocks the other
//! connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sidero_siderolink::annotation::{Annotation, AnnotationCache};
use sidero_siderolink::log_receiver::{Config, LogLine, LogReceiver};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

async fn connect_from(src: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{src}:0").parse().unwrap()).unwrap();
    s.connect(to).await.unwrap()
}

fn line(seq: usize) -> String {
    format!(
        r#"{{"clock":{},"facility":"kern","msg":"line {seq}","priority":"info","seq":{seq},"talos-level":"info","talos-time":"2026-11-25T12:00:00Z"}}"#,
        seq * 10
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_annotated_in_order_and_garbage_is_contained() {
    let cache = AnnotationCache::new();
    let known = Annotation {
        server_uuid: "6b121f82-24a8-4611-9d23-fa1a5ba564f0".into(),
        namespace: "default".into(),
        cluster: "c1".into(),
        metal_machine: "c1-cp-x".into(),
        machine: "c1-cp-y".into(),
    };
    cache.insert("127.0.0.1".parse().unwrap(), known.clone());
    let (tx, mut rx) = mpsc::channel::<LogLine>(1024);
    let config = Config {
        max_record: 4096,
        ..Config::default()
    };
    let receiver = LogReceiver::bind("127.0.0.1:0".parse().unwrap(), cache, tx, config)
        .await
        .unwrap();
    let addr = receiver.local_addr().unwrap();
    let counters = receiver.counters();
    tokio::spawn(receiver.serve(std::future::pending()));

    const N: usize = 10_000;
    // A good node (known address) with some garbage mixed in.
    let good = tokio::spawn(async move {
        let mut s = connect_from("127.0.0.1", addr).await;
        let mut buf = String::new();
        for i in 0..N {
            buf.push_str(&line(i));
            buf.push('\n');
            if i % 1000 == 500 {
                buf.push_str("{\"msg\":\"truncated\n");
                buf.push_str(&format!("{{\"msg\":\"{}\"}}\n", "x".repeat(10_000)));
            }
            if buf.len() > 16 * 1024 {
                s.write_all(buf.as_bytes()).await.unwrap();
                buf.clear();
            }
        }
        s.write_all(buf.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
    });
    // A flood: 8 MiB without a newline, then one valid line from an unknown address.
    let flood = tokio::spawn(async move {
        let mut s = connect_from("127.0.0.2", addr).await;
        let chunk = vec![b'{'; 64 * 1024];
        for _ in 0..128 {
            s.write_all(&chunk).await.unwrap();
        }
        s.write_all(b"\n{\"msg\":\"after flood\"}\n").await.unwrap();
        s.shutdown().await.unwrap();
    });
    // Truncated at EOF.
    let mut t = connect_from("127.0.0.3", addr).await;
    t.write_all(b"{\"msg\":\"cut").await.unwrap();
    drop(t);

    let started = Instant::now();
    let mut per_source: HashMap<String, Vec<Value>> = HashMap::new();
    let mut known_lines = 0;
    while known_lines < N || !per_source.contains_key("127.0.0.2") {
        let l = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("lines keep arriving")
            .unwrap();
        let v: Value = serde_json::from_str(&l.line).unwrap();
        if l.source.ip().to_string() == "127.0.0.1" {
            known_lines += 1;
            assert_eq!(l.server_uuid.as_deref(), Some(known.server_uuid.as_str()));
        }
        per_source
            .entry(l.source.ip().to_string())
            .or_default()
            .push(v);
    }
    good.await.unwrap();
    flood.await.unwrap();

    let lines = &per_source["127.0.0.1"];
    assert_eq!(lines.len(), N);
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["seq"], i, "in order");
        assert_eq!(v["server_uuid"], known.server_uuid.as_str());
        assert_eq!(v["machine"], "c1-cp-y");
        assert_eq!(v["metal_machine"], "c1-cp-x");
        assert_eq!(v["cluster"], "c1");
        assert_eq!(v["namespace"], "default");
    }
    // Keys are sorted in every line.
    let first = serde_json::to_string(&lines[0]).unwrap();
    assert!(
        first.starts_with(r#"{"clock":0,"cluster":"c1","facility":"kern","machine""#),
        "{first}"
    );
    let unknown = &per_source["127.0.0.2"];
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["msg"], "after flood");
    assert!(unknown[0].get("server_uuid").is_none());

    // Counters settle once every connection closed: 10 truncated + 10 too long from the good
    // node, at least one from the flood, one truncated at EOF.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (conns, records, garbage, unknown) = counters.snapshot();
        if conns == 3 && garbage >= 22 {
            assert_eq!(records, N as u64 + 1);
            assert_eq!(unknown, 1);
            println!(
                "log receiver: {records} records, {garbage} garbage, {conns} connections in {:.2}s",
                started.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters: {:?}",
            counters.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn many_idle_connections_do_not_block_a_writer() {
    let (tx, mut rx) = mpsc::channel::<LogLine>(16);
    let receiver = LogReceiver::bind(
        "127.0.0.1:0".parse().unwrap(),
        AnnotationCache::new(),
        tx,
        Config::default(),
    )
    .await
    .unwrap();
    let addr = receiver.local_addr().unwrap();
    tokio::spawn(receiver.serve(std::future::pending()));
    // 100 connections that send half a record and stall.
    let mut idle = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"{\"msg\":\"never finished").await.unwrap();
        idle.push(s);
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{}\n", line(7)).as_bytes())
        .await
        .unwrap();
    let l = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(&l.line).unwrap();
    assert_eq!(v["seq"], 7);
    drop(idle);
}

/// 500 nodes connecting at the same moment (as after a manager restart) are all accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_connections_is_accepted() {
    let (tx, mut rx) = mpsc::channel::<LogLine>(1024);
    let receiver = LogReceiver::bind(
        "127.0.0.1:0".parse().unwrap(),
        AnnotationCache::new(),
        tx,
        Config::default(),
    )
    .await
    .unwrap();
    let addr = receiver.local_addr().unwrap();
    let counters = receiver.counters();
    tokio::spawn(receiver.serve(std::future::pending()));
    let tasks: Vec<_> = (0..500u32)
        .map(|i| {
            tokio::spawn(async move {
                let src = format!("127.5.{}.{}", i / 250, i % 250 + 1);
                connect_from(&src, addr).await
            })
        })
        .collect();
    let mut streams = Vec::new();
    for t in tasks {
        streams.push(t.await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters.snapshot().0 < 500 {
        assert!(
            Instant::now() < deadline,
            "accepted {:?} of 500",
            counters.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for mut s in streams {
        s.write_all(format!("{}\n", line(1)).as_bytes())
            .await
            .unwrap();
    }
    for _ in 0..500 {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
    }
}
