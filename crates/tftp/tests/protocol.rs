//! Protocol behaviour checked packet by packet with a raw UDP client on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Raw, config, data, error, oack, pattern, start};
use sidero_tftp::{ServerConfig, SocketMode};

const QUIET: Duration = Duration::from_millis(400);

fn fast(mode: SocketMode) -> ServerConfig {
    ServerConfig {
        default_timeout: Duration::from_millis(200),
        max_retries: 2,
        ..config(mode)
    }
}

#[tokio::test]
async fn lockstep_transfer_without_options() {
    let content = pattern(1300, 1);
    let server = start(config(SocketMode::SinglePort), &[("a.bin", &content)]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("a.bin", "octet", &[]).await;
    let mut got = Vec::new();
    for expected in 1..=3u16 {
        let (p, from) = c.expect().await;
        assert_eq!(
            from, server.addr,
            "single-port replies come from the bound port"
        );
        let (block, payload) = data(&p);
        assert_eq!(block, expected);
        got.extend_from_slice(payload);
        c.ack(block, from).await;
    }
    assert_eq!(got, content);
    assert!(c.recv(QUIET).await.is_none());
    assert!(server.events().contains(&"completed a.bin 1300".to_owned()));
}

#[tokio::test]
async fn oack_grants_clamps_and_windows() {
    let content = pattern(10_000, 2);
    let cfg = ServerConfig {
        max_block_size: 1024,
        max_window_size: 4,
        ..config(SocketMode::SinglePort)
    };
    let server = start(cfg, &[("b.bin", &content)]).await;
    let c = Raw::new(server.addr).await;
    let opts = [
        ("BlkSize", "1468"),
        ("windowsize", "16"),
        ("tsize", "0"),
        ("timeout", "3"),
        ("foo", "bar"),
    ];
    c.rrq("b.bin", "OCTET", &opts).await;
    let (p, from) = c.expect().await;
    let pairs: Vec<(String, String)> = oack(&p);
    assert!(c.recv(QUIET).await.is_none(), "DATA 1 must wait for ACK 0");
    let want = [
        ("blksize", "1024"),
        ("windowsize", "4"),
        ("tsize", "10000"),
        ("timeout", "3"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs, want);
    c.ack(0, from).await;
    let mut got = Vec::new();
    let mut block = 0u16;
    for _round in 0..4 {
        for _ in 0..4 {
            let (p, _) = c.expect().await;
            let (b, payload) = data(&p);
            assert_eq!(b, block + 1);
            block = b;
            got.extend_from_slice(payload);
            if payload.len() < 1024 {
                break;
            }
        }
        // A full window arrives without any ACK in between.
        c.ack(block, from).await;
        if got.len() == content.len() {
            break;
        }
    }
    assert_eq!(got, content);
    assert!(c.recv(QUIET).await.is_none());
}

#[tokio::test]
async fn invalid_options_are_ignored_and_netascii_has_no_tsize() {
    let server = start(config(SocketMode::SinglePort), &[("t.txt", b"a\nb")]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("t.txt", "octet", &[("blksize", "7"), ("windowsize", "0")])
        .await;
    let (p, from) = c.expect().await;
    assert_eq!(
        data(&p),
        (1, &b"a\nb"[..]),
        "no OACK when nothing is acknowledged"
    );
    c.ack(1, from).await;
    let n = Raw::new(server.addr).await;
    n.rrq("t.txt", "NetASCII", &[("tsize", "0"), ("blksize", "8")])
        .await;
    let (p, from) = n.expect().await;
    assert_eq!(oack(&p), vec![("blksize".to_owned(), "8".to_owned())]);
    n.ack(0, from).await;
    let (p, _) = n.expect().await;
    assert_eq!(data(&p), (1, &b"a\r\nb"[..]));
}

#[tokio::test]
async fn refused_requests_and_stray_packets() {
    for mode in [SocketMode::SinglePort, SocketMode::MultiPort] {
        let server = start(config(mode), &[("f", b"x")]).await;
        let c = Raw::new(server.addr).await;
        c.send_to(b"\x00\x02f\x00octet\x00", server.addr).await;
        assert_eq!(
            error(&c.expect().await.0),
            (2, "Server is read-only".to_owned())
        );
        for bad_mode in ["mail", "binary"] {
            c.rrq("f", bad_mode, &[]).await;
            assert_eq!(error(&c.expect().await.0).0, 4, "mode {bad_mode}");
        }
        c.send_to(b"\x00\x09garbage", server.addr).await;
        assert_eq!(
            error(&c.expect().await.0),
            (4, "Malformed packet".to_owned())
        );
        c.send_to(b"\x00\x01no-terminator", server.addr).await;
        assert_eq!(error(&c.expect().await.0).0, 4);
        c.send_to(b"\x01", server.addr).await;
        assert!(c.recv(QUIET).await.is_none(), "noise gets no reply");
        c.ack(1, server.addr).await;
        assert!(c.recv(QUIET).await.is_none(), "stray ACKs get no reply");
        c.send_to(b"\x00\x03\x00\x01data", server.addr).await;
        let want = if mode == SocketMode::SinglePort { 5 } else { 4 };
        assert_eq!(error(&c.expect().await.0).0, want);
        c.rrq("", "octet", &[]).await;
        assert_eq!(error(&c.expect().await.0).0, 1);
        c.rrq("a\x01b", "octet", &[]).await;
        assert_eq!(error(&c.expect().await.0).0, 2);
        let events = server.events();
        assert!(events.contains(&"rejected f 2".to_owned()), "{events:?}");
    }
}

/// Duplicate ACKs never trigger sends (no Sorcerer's Apprentice syndrome).
#[tokio::test]
async fn duplicate_acks_cause_no_extra_sends() {
    let content = pattern(2000, 3);
    let server = start(config(SocketMode::SinglePort), &[("d", &content)]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("d", "octet", &[]).await;
    let (p, from) = c.expect().await;
    assert_eq!(data(&p).0, 1);
    for _ in 0..3 {
        c.ack(1, from).await;
    }
    let (p, _) = c.expect().await;
    assert_eq!(data(&p).0, 2);
    assert!(
        c.recv(QUIET).await.is_none(),
        "a duplicate ACK caused a send"
    );
    c.ack(0, from).await; // stale
    c.ack(7, from).await; // from the future
    assert!(c.recv(QUIET).await.is_none());
    c.ack(2, from).await;
    assert_eq!(data(&c.expect().await.0).0, 3);
}

#[tokio::test]
async fn retransmits_on_timeout_then_gives_up() {
    for mode in [SocketMode::SinglePort, SocketMode::MultiPort] {
        let server = start(fast(mode), &[("r", &pattern(600, 4))]).await;
        let c = Raw::new(server.addr).await;
        c.rrq("r", "octet", &[]).await;
        for _ in 0..3 {
            let (p, _) = c.expect().await;
            assert_eq!(data(&p).0, 1, "original plus two retransmissions");
        }
        let (p, _) = c.expect().await;
        assert_eq!(error(&p), (0, "Transfer timed out".to_owned()));
        assert!(c.recv(QUIET).await.is_none());
        let events = server.events();
        assert!(
            events.contains(&"failed r timed out after 2 retransmissions".to_owned()),
            "{events:?}"
        );
    }
}

/// RFC 7440: an ACK inside the window means the rest was lost; it is resent at once.
#[tokio::test]
async fn window_gap_is_resent_at_once() {
    let content = pattern(100, 5);
    let server = start(config(SocketMode::SinglePort), &[("w", &content)]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("w", "octet", &[("blksize", "8"), ("windowsize", "4")])
        .await;
    let (_, from) = c.expect().await;
    c.ack(0, from).await;
    for want in 1..=4u16 {
        assert_eq!(data(&c.expect().await.0).0, want);
    }
    c.ack(2, from).await; // "3 and 4 never arrived"
    for want in 3..=6u16 {
        let (p, _) = c
            .recv(Duration::from_millis(300))
            .await
            .expect("immediate resend");
        assert_eq!(data(&p).0, want);
    }
    assert!(c.recv(QUIET).await.is_none());
}

/// Block numbers wrap from 65535 to 0: 560001 bytes at blksize 8 is 70001 blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_numbers_roll_over() {
    let content = pattern(8 * 70_000 + 1, 6);
    let server = start(config(SocketMode::SinglePort), &[("big", &content)]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("big", "octet", &[("blksize", "8"), ("windowsize", "64")])
        .await;
    let (_, from) = c.expect().await;
    c.ack(0, from).await;
    let mut got = Vec::with_capacity(content.len());
    let mut expected: u16 = 1;
    let mut in_window = 0;
    let mut saw_zero = false;
    for _ in 0..200_000 {
        let (p, _) = c.expect().await;
        let (block, payload) = data(&p);
        if block != expected {
            continue; // a retransmission; the clean path below re-acks
        }
        saw_zero |= block == 0;
        got.extend_from_slice(payload);
        in_window += 1;
        let last = payload.len() < 8;
        if in_window == 64 || last {
            c.ack(block, from).await;
            in_window = 0;
        }
        expected = expected.wrapping_add(1);
        if last {
            break;
        }
    }
    assert!(saw_zero, "block 0 follows 65535");
    assert_eq!(got.len(), content.len());
    assert!(got == content);
}

#[tokio::test]
async fn client_error_aborts_the_transfer() {
    let server = start(fast(SocketMode::SinglePort), &[("e", &pattern(5000, 7))]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("e", "octet", &[]).await;
    let (_, from) = c.expect().await;
    c.send_to(b"\x00\x05\x00\x03disk full\x00", from).await;
    assert!(
        c.recv(QUIET).await.is_none(),
        "no retransmission after the client aborted"
    );
    let events = server.events();
    assert!(
        events.contains(&"failed e client aborted with error DiskFull: disk full".to_owned()),
        "{events:?}"
    );
}

#[tokio::test]
async fn oack_is_retransmitted_and_may_be_refused() {
    let server = start(fast(SocketMode::SinglePort), &[("o", &pattern(3000, 11))]).await;
    let c = Raw::new(server.addr).await;
    c.rrq("o", "octet", &[("blksize", "1024")]).await;
    let (first, from) = c.expect().await;
    let (again, _) = c.expect().await;
    assert_eq!(first, again, "the OACK is retransmitted like a block");
    assert_eq!(
        oack(&again),
        vec![("blksize".to_owned(), "1024".to_owned())]
    );
    c.send_to(b"\x00\x05\x00\x08no thanks\x00", from).await;
    assert!(c.recv(QUIET).await.is_none());
    let events = server.events();
    let want = "failed o client aborted with error OptionRefused: no thanks";
    assert!(events.contains(&want.to_owned()), "{events:?}");
}

#[tokio::test]
async fn a_specific_address_beside_the_wildcard_answers_from_that_address() {
    // 127.0.0.2 is a local address whose replies from a wildcard socket would leave from
    // 127.0.0.1 (the routing choice for a client on 127.0.0.1).
    let wildcard = start(
        ServerConfig {
            bind: "0.0.0.0:0".parse().unwrap(),
            reuse_address: true,
            ..config(SocketMode::SinglePort)
        },
        &[("w.bin", b"wildcard")],
    )
    .await;
    let specific_addr: std::net::SocketAddr =
        format!("127.0.0.2:{}", wildcard.port()).parse().unwrap();
    let specific = start(
        ServerConfig {
            bind: specific_addr,
            reuse_address: true,
            ..config(SocketMode::SinglePort)
        },
        &[("s.bin", b"specific")],
    )
    .await;
    assert_eq!(specific.addr, specific_addr);

    let c = Raw::new(specific_addr).await;
    c.rrq("s.bin", "octet", &[]).await;
    let (p, from) = c.expect().await;
    assert_eq!(
        from, specific_addr,
        "the reply comes from the address asked"
    );
    assert_eq!(data(&p), (1, &b"specific"[..]));

    let c = Raw::new(format!("127.0.0.1:{}", wildcard.port()).parse().unwrap()).await;
    c.rrq("w.bin", "octet", &[]).await;
    let (p, _) = c.expect().await;
    assert_eq!(
        data(&p),
        (1, &b"wildcard"[..]),
        "other addresses reach the wildcard server"
    );
}
