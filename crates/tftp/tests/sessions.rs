//! Transfer sessions checked with raw UDP clients on 127.0.0.1: duplicate and superseding
//! requests, the transfer cap, multi-port TIDs, the in-memory source and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Raw, config, data, error, oack, pattern, start};
use sidero_tftp::{MemorySource, ServerConfig, SocketMode, TftpServer};

const QUIET: Duration = Duration::from_millis(400);

#[tokio::test]
async fn duplicate_rrq_does_not_start_a_second_transfer() {
    for mode in [SocketMode::SinglePort, SocketMode::MultiPort] {
        let server = start(config(mode), &[("d", &pattern(2000, 8))]).await;
        let c = Raw::new(server.addr).await;
        c.rrq("d", "octet", &[]).await;
        c.rrq("d", "octet", &[]).await;
        let (p, _) = c.expect().await;
        assert_eq!(data(&p).0, 1);
        assert!(c.recv(QUIET).await.is_none(), "{mode:?}: second DATA 1");
        let started = server
            .events()
            .iter()
            .filter(|e| e.starts_with("started"))
            .count();
        assert_eq!(started, 1);
    }
}

#[tokio::test]
async fn busy_when_transfer_cap_is_reached() {
    let cfg = ServerConfig {
        max_transfers: 1,
        ..config(SocketMode::SinglePort)
    };
    let server = start(cfg, &[("f", &pattern(5000, 9))]).await;
    let a = Raw::new(server.addr).await;
    a.rrq("f", "octet", &[]).await;
    let (_, from) = a.expect().await;
    let b = Raw::new(server.addr).await;
    b.rrq("f", "octet", &[]).await;
    let (code, message) = error(&b.expect().await.0);
    assert_eq!(code, 0);
    assert!(message.contains("busy"), "{message}");
    // Finishing the first transfer frees the slot.
    let mut block = 1u16;
    loop {
        a.ack(block, from).await;
        let (p, _) = a.expect().await;
        let (n, payload) = data(&p);
        block = n;
        if payload.len() < 512 {
            a.ack(block, from).await;
            break;
        }
    }
    // The slot frees when the first transfer's task ends; poll for it (bounded).
    for attempt in 0..50 {
        b.rrq("f", "octet", &[]).await;
        let (p, _) = b.expect().await;
        if p.get(..2) == Some(&[0, 3][..]) {
            assert_eq!(data(&p).0, 1);
            return;
        }
        assert_eq!(error(&p).0, 0, "attempt {attempt}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the transfer slot was never freed");
}

#[tokio::test]
async fn multi_port_uses_a_new_tid_and_rejects_foreign_ones() {
    let content = pattern(1000, 10);
    let server = start(config(SocketMode::MultiPort), &[("m", &content)]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("m", "octet", &[]).await;
    let (p, tid) = c.expect().await;
    assert_ne!(tid, server.addr, "a new TID");
    assert_eq!(data(&p).0, 1);
    let intruder = Raw::new(server.addr).await;
    intruder.ack(1, tid).await;
    assert_eq!(error(&intruder.expect().await.0).0, 5);
    assert!(
        c.recv(QUIET).await.is_none(),
        "the intruder did not advance the transfer"
    );
    c.ack(1, tid).await;
    let (p, from) = c.expect().await;
    assert_eq!(from, tid);
    assert_eq!(data(&p), (2, &content[512..]));
}

#[tokio::test]
async fn memory_source_and_shutdown() {
    common::init_tracing();
    let files = MemorySource::new();
    files.insert("/ipxe.efi", &b"first"[..]).unwrap();
    let server = TftpServer::bind(config(SocketMode::SinglePort), files.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_until(async {
        let _ = stopped.await;
    }));
    for want in [&b"first"[..], &b"second"[..]] {
        let c = Raw::new(addr).await;
        c.rrq("ipxe.efi", "octet", &[]).await;
        let (p, from) = c.expect().await;
        assert_eq!(data(&p), (1, want));
        c.ack(1, from).await;
        files.insert("ipxe.efi", &b"second"[..]).unwrap();
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    // The port is free again.
    tokio::net::UdpSocket::bind(addr).await.unwrap();
}

/// A PXE-style `tsize` probe: OACK, ERROR from the client, then a new RRQ from the same port,
/// which must be served at once (not mistaken for a retransmission).
#[tokio::test]
async fn same_port_request_after_abort_is_served_at_once() {
    for mode in [SocketMode::SinglePort, SocketMode::MultiPort] {
        let server = start(config(mode), &[("p", &pattern(3000, 12))]).await;
        let c = Raw::new(server.addr).await;
        c.rrq("p", "octet", &[("tsize", "0")]).await;
        let (p, from) = c.expect().await;
        assert_eq!(oack(&p), vec![("tsize".to_owned(), "3000".to_owned())]);
        c.send_to(b"\x00\x05\x00\x08tsize probe\x00", from).await;
        c.rrq("p", "octet", &[("blksize", "1024")]).await;
        let (p, from) = c
            .recv(Duration::from_secs(1))
            .await
            .expect("served at once");
        assert_eq!(oack(&p), vec![("blksize".to_owned(), "1024".to_owned())]);
        c.ack(0, from).await;
        let (p, _) = c.expect().await;
        assert_eq!(data(&p).1.len(), 1024);
        let events = server.events();
        assert_eq!(
            events.iter().filter(|e| e.starts_with("started")).count(),
            2,
            "{events:?}"
        );
    }
}

/// A client that restarts mid-transfer from the same port gets a fresh transfer; the old one
/// stops sending.
#[tokio::test]
async fn restart_from_the_same_port_supersedes() {
    for mode in [SocketMode::SinglePort, SocketMode::MultiPort] {
        let server = start(config(mode), &[("s", &pattern(3000, 13))]).await;
        let c = Raw::new(server.addr).await;
        c.rrq("s", "octet", &[]).await;
        let (p, from) = c.expect().await;
        assert_eq!(data(&p).0, 1);
        c.ack(1, from).await;
        assert_eq!(data(&c.expect().await.0).0, 2);
        c.rrq("s", "octet", &[]).await;
        let (p, _) = c
            .recv(Duration::from_secs(1))
            .await
            .expect("served at once");
        assert_eq!(data(&p).0, 1);
        assert!(
            c.recv(QUIET).await.is_none(),
            "{mode:?}: the old transfer kept sending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let events = server.events();
        let want = "failed s superseded by a new request from the same client";
        assert!(events.contains(&want.to_owned()), "{events:?}");
    }
}
