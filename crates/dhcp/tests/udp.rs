//! The server over real UDP sockets on 127.0.0.1 (ephemeral ports instead of 67/4011).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use sidero_dhcp::dhcproto::v4::{Message, MessageType};
use sidero_dhcp::{
    CountingMetrics, FirmwareClass, IgnoreKind, ProxyServer, ServerConfig, SetupError,
};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Running {
    dhcp: SocketAddr,
    pxe: SocketAddr,
    metrics: Arc<CountingMetrics>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn start() -> Running {
    let mut config = ServerConfig::new(config());
    config.dhcp_addr = "127.0.0.1:0".parse().unwrap();
    config.pxe_addr = Some("127.0.0.1:0".parse().unwrap());
    let metrics = Arc::new(CountingMetrics::default());
    let server = ProxyServer::bind(&config)
        .await
        .unwrap()
        .with_metrics(metrics.clone());
    let dhcp = server.dhcp_addr().unwrap();
    let pxe = server.pxe_addr().unwrap().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    Running {
        dhcp,
        pxe,
        metrics,
        stop,
        task,
    }
}

async fn exchange(client: &UdpSocket, to: SocketAddr, bytes: &[u8]) -> Option<Message> {
    client.send_to(bytes, to).await.unwrap();
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(Duration::from_millis(300), client.recv_from(&mut buf)).await {
        Ok(Ok((len, from))) => {
            assert_eq!(
                from, to,
                "the reply comes from the socket that got the request"
            );
            Some(decode(&buf[..len]))
        }
        Ok(Err(e)) => panic!("receive failed: {e}"),
        Err(_) => None,
    }
}

#[tokio::test]
async fn offers_acks_ignores_and_stops() {
    let srv = start().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // DISCOVER on the DHCP port → OFFER.
    let offer = exchange(&client, srv.dhcp, &encode(&pxe_discover(7)))
        .await
        .expect("an offer");
    assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(offer.xid(), XID);
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.siaddr(), SERVER_IP);
    assert_eq!(opt_string(&offer, 67).unwrap(), "snp.efi");
    assert_eq!(opt_string(&offer, 66).unwrap(), "10.42.0.5");

    // REQUEST on the PXE port → ACK with the same boot information.
    let mut req = pxe_discover(0);
    req.opts_mut()
        .insert(sidero_dhcp::dhcproto::v4::DhcpOption::MessageType(
            MessageType::Request,
        ));
    let ack = exchange(&client, srv.pxe, &encode(&req))
        .await
        .expect("an ack");
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(opt_string(&ack, 67).unwrap(), "undionly.kpxe");

    // Ignored: REQUEST on 67, garbage, a non-PXE DISCOVER.
    assert!(exchange(&client, srv.dhcp, &encode(&req)).await.is_none());
    assert!(exchange(&client, srv.dhcp, b"hello").await.is_none());
    let plain = request(MessageType::Discover, &[]);
    assert!(exchange(&client, srv.dhcp, &encode(&plain)).await.is_none());

    let counts = srv.metrics.snapshot();
    assert_eq!(
        counts.replied.get(&("dhcp", FirmwareClass::X86Uefi)),
        Some(&1)
    );
    assert_eq!(
        counts.replied.get(&("pxe", FirmwareClass::X86Bios)),
        Some(&1)
    );
    for kind in [
        IgnoreKind::WrongMessageType,
        IgnoreKind::Malformed,
        IgnoreKind::NoArchitecture,
    ] {
        assert_eq!(counts.ignored.get(&("dhcp", kind)), Some(&1), "{kind:?}");
    }

    // Graceful shutdown: the serve future returns.
    srv.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), srv.task)
        .await
        .expect("server stopped")
        .unwrap();
}

#[tokio::test]
async fn survives_a_burst_and_icmp_errors() {
    let srv = start().await;
    // Replies to a socket that is closed at once: the server gets ECONNREFUSED on a later
    // receive and must keep serving.
    for _ in 0..5 {
        let gone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        gone.send_to(&encode(&pxe_discover(0)), srv.dhcp)
            .await
            .unwrap();
    }
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..200u32 {
        let mut m = pxe_discover(11);
        m.set_xid(i);
        client.send_to(&encode(&m), srv.dhcp).await.unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; 2048];
    while seen.len() < 200 {
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("all replies")
            .unwrap();
        let m = decode(&buf[..len]);
        assert_eq!(opt_string(&m, 67).unwrap(), "snp-arm64.efi");
        seen.insert(m.xid());
    }
    srv.stop.send(()).unwrap();
    srv.task.await.unwrap();
}

#[tokio::test]
async fn setup_errors() {
    // No interface holds the endpoint's address.
    let err = ServerConfig::from_api_endpoint("192.0.2.200", 8081)
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::NoInterface(_)), "{err}");
    // Loopback is found by address, and a name resolves.
    let cfg = ServerConfig::from_api_endpoint("localhost", 9000)
        .await
        .unwrap();
    assert_eq!(cfg.interface.as_deref(), Some("lo"));
    assert_eq!(cfg.proxy.server_ip, Ipv4Addr::LOCALHOST);
    assert_eq!(cfg.proxy.api_port, 9000);
    assert_eq!(cfg.dhcp_addr.port(), 67);
    assert_eq!(cfg.pxe_addr.map(|a| a.port()), Some(4011));
    // A port in use without SO_REUSEADDR on the other socket cannot be shared.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = ServerConfig::new(config());
    config.dhcp_addr = taken.local_addr().unwrap();
    config.pxe_addr = None;
    let err = ProxyServer::bind(&config).await.unwrap_err();
    assert!(matches!(err, SetupError::Bind { .. }), "{err}");
    // A device that does not exist.
    let mut cfg = ServerConfig::new(common::config());
    cfg.dhcp_addr = "127.0.0.1:0".parse().unwrap();
    cfg.pxe_addr = None;
    cfg.interface = Some("nosuchdev0".into());
    assert!(ProxyServer::bind(&cfg).await.is_err());
}

/// On a wildcard bind, replies leave from `<server IP>:<port>` whatever address the request
/// was sent to (here 127.0.0.2, another local address), and a server IP that is not local
/// falls back to the wildcard socket.
#[tokio::test]
async fn wildcard_listener_replies_from_the_server_ip() {
    let mut config = ServerConfig::new(sidero_dhcp::ProxyConfig::new(Ipv4Addr::LOCALHOST, 8081));
    config.dhcp_addr = "0.0.0.0:0".parse().unwrap();
    config.pxe_addr = None;
    let server = ProxyServer::bind(&config).await.unwrap();
    let port = server.dhcp_addr().unwrap().port();
    assert_eq!(
        server.dhcp_reply_addr().unwrap(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for to in [Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2)] {
        client
            .send_to(&encode(&pxe_discover(0)), (to, port))
            .await
            .unwrap();
        let mut buf = vec![0u8; 2048];
        let (_, from) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .expect("a reply")
            .unwrap();
        assert_eq!(
            from,
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            "sent to {to}"
        );
    }
    stop.send(()).unwrap();
    task.await.unwrap();

    let mut config = ServerConfig::new(sidero_dhcp::ProxyConfig::new(
        Ipv4Addr::new(192, 0, 2, 1),
        8081,
    ));
    config.dhcp_addr = "0.0.0.0:0".parse().unwrap();
    config.pxe_addr = None;
    let server = ProxyServer::bind(&config).await.unwrap();
    assert_eq!(
        server.dhcp_reply_addr().unwrap(),
        server.dhcp_addr().unwrap()
    );
}
