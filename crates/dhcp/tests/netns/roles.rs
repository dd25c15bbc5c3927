//! What the re-executed test binary does inside a namespace: run the proxy, or act as a PXE
//! client (UEFI x86-64 firmware: DISCOVER, REQUEST to the DHCP server, then the boot server
//! REQUEST on port 4011).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sidero_dhcp::dhcproto::v4::{DhcpOption, Message, MessageType};
use sidero_dhcp::{CountingMetrics, ProxyServer, Request, ServerConfig, bind_udp};
use tokio::io::AsyncReadExt;
use tokio::net::UdpSocket;

use super::common::{encode, pxe_discover, set_raw};
use super::lab::{DNSMASQ_IP, PROXY_IP};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the proxy for `PROXY_IP` until stdin closes, then prints its counters.
pub fn proxy(iface: &str) {
    runtime().block_on(async {
        let config = ServerConfig::from_api_endpoint(PROXY_IP, 8081)
            .await
            .unwrap();
        assert_eq!(config.interface.as_deref(), Some(iface));
        let metrics = Arc::new(CountingMetrics::default());
        let server = ProxyServer::bind(&config)
            .await
            .unwrap()
            .with_metrics(metrics.clone());
        println!("READY");
        server
            .serve(async {
                let mut stdin = tokio::io::stdin();
                let mut buf = [0u8; 64];
                while let Ok(n) = stdin.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        let counts = metrics.snapshot();
        let replied: Vec<String> = counts
            .replied
            .iter()
            .map(|((port, class), n)| format!("{port}/{class}={n}"))
            .collect();
        let ignored: Vec<String> = counts
            .ignored
            .iter()
            .map(|((port, kind), n)| format!("{port}/{}={n}", kind.as_str()))
            .collect();
        println!(
            "COUNTS replied {} ignored {}",
            replied.join(" "),
            ignored.join(" ")
        );
    });
}

/// A reply as the client sees it.
struct Received {
    from: SocketAddr,
    packet: Request,
}

impl Received {
    fn server_id(&self) -> Option<Ipv4Addr> {
        match self.packet.option(54) {
            Some(&[a, b, c, d]) => Some(Ipv4Addr::new(a, b, c, d)),
            _ => None,
        }
    }

    fn text(&self, code: u8) -> Option<String> {
        self.packet
            .option(code)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Receives replies to `xid` until `done` says so or `until` passes.
async fn collect(
    socket: &UdpSocket,
    xid: u32,
    until: Instant,
    mut done: impl FnMut(&[Received]) -> bool,
    resend: Option<(&[u8], SocketAddr)>,
) -> Vec<Received> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut next_send = Instant::now();
    while !done(&got) && Instant::now() < until {
        if let Some((bytes, to)) = resend
            && Instant::now() >= next_send
        {
            socket.send_to(bytes, to).await.unwrap();
            next_send = Instant::now() + Duration::from_secs(1);
        }
        let wait = next_send
            .min(until)
            .saturating_duration_since(Instant::now());
        let wait = wait.max(Duration::from_millis(10));
        if let Ok(Ok((len, from))) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await
            && let Ok(packet) = Request::parse(&buf[..len])
            && packet.xid == xid
        {
            got.push(Received { from, packet });
        }
    }
    got
}

fn mac_of(iface: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address")).unwrap();
    text.trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

fn firmware_request(mtype: MessageType, xid: u32, mac: &[u8]) -> Message {
    let mut m = pxe_discover(7);
    m.set_xid(xid).set_chaddr(mac);
    m.opts_mut().insert(DhcpOption::MessageType(mtype));
    m
}

/// Acts as UEFI PXE firmware on `iface`, asserting every step; prints `CLIENT OK …`.
pub fn client(iface: &str) {
    runtime().block_on(async {
        let mac = mac_of(iface);
        let std_socket = bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)), Some(iface));
        let socket = UdpSocket::from_std(std_socket.unwrap()).unwrap();
        let broadcast = SocketAddr::from((Ipv4Addr::BROADCAST, 67));
        let dnsmasq: Ipv4Addr = DNSMASQ_IP.parse().unwrap();
        let proxy: Ipv4Addr = PROXY_IP.parse().unwrap();

        // 1. DISCOVER: an address offer from dnsmasq and a boot offer from the proxy.
        let xid = 0x5eed_0001;
        let discover = encode(&firmware_request(MessageType::Discover, xid, &mac));
        let both = |got: &[Received]| {
            got.iter().any(|r| r.server_id() == Some(dnsmasq))
                && got.iter().any(|r| r.server_id() == Some(proxy))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let offers = collect(&socket, xid, deadline, both, Some((&discover, broadcast))).await;
        let lease = offers
            .iter()
            .find(|r| r.server_id() == Some(dnsmasq))
            .expect("an offer from dnsmasq");
        let boot = offers
            .iter()
            .find(|r| r.server_id() == Some(proxy))
            .expect("an offer from the proxy");
        assert_eq!(lease.packet.message_type(), Some(2));
        assert_ne!(lease.packet.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(lease.packet.option(67), None, "dnsmasq gives no boot file");
        assert_eq!(boot.packet.message_type(), Some(2));
        assert_eq!(boot.packet.op, 2);
        assert_eq!(boot.packet.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(boot.packet.siaddr, proxy);
        // From the server IP, not the interface's primary address (dnsmasq's).
        assert_eq!(boot.from, SocketAddr::from((proxy, 67)));
        assert_eq!(boot.text(67).as_deref(), Some("snp.efi"));
        assert_eq!(boot.text(66).as_deref(), Some(PROXY_IP));
        assert_eq!(
            boot.text(60).as_deref(),
            Some("PXEClient:Arch:00007:UNDI:003016")
        );
        assert_eq!(boot.packet.option(97).map(<[u8]>::len), Some(17));
        for code in [1u8, 3, 6, 51] {
            assert_eq!(
                boot.packet.option(code),
                None,
                "lease option {code} from the proxy"
            );
        }
        let ip = lease.packet.yiaddr;

        // 2. REQUEST the address from dnsmasq; the proxy stays silent.
        let mut request = firmware_request(MessageType::Request, xid, &mac);
        request
            .opts_mut()
            .insert(DhcpOption::RequestedIpAddress(ip));
        request
            .opts_mut()
            .insert(DhcpOption::ServerIdentifier(dnsmasq));
        socket.send_to(&encode(&request), broadcast).await.unwrap();
        let settle = Instant::now() + Duration::from_millis(1500);
        let acks = collect(&socket, xid, settle, |_| false, None).await;
        let ack = acks
            .iter()
            .find(|r| r.packet.message_type() == Some(5))
            .expect("an ACK from dnsmasq");
        assert_eq!(ack.server_id(), Some(dnsmasq));
        assert_eq!(ack.packet.yiaddr, ip);
        assert!(
            acks.iter().all(|r| r.server_id() != Some(proxy)),
            "the proxy answered a REQUEST on port 67"
        );

        // 3. Take the address, then ask the boot server on port 4011.
        let out = std::process::Command::new("ip")
            .args(["addr", "add", &format!("{ip}/24"), "dev", iface])
            .output()
            .unwrap();
        assert!(out.status.success());
        let xid = 0x5eed_0002;
        let mut bs = firmware_request(MessageType::Request, xid, &mac);
        bs.set_ciaddr(ip);
        set_raw(&mut bs, 43, vec![71, 4, 0x80, 0, 0, 0, 255]);
        let to = SocketAddr::from((proxy, 4011));
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = collect(
            &socket,
            xid,
            deadline,
            |g| !g.is_empty(),
            Some((&encode(&bs), to)),
        )
        .await;
        let ack = got.first().expect("an ACK from the boot server port");
        assert_eq!(ack.from, to);
        assert_eq!(ack.packet.message_type(), Some(5));
        assert_eq!(ack.packet.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(ack.text(67).as_deref(), Some("snp.efi"));
        assert_eq!(
            ack.packet.option(43),
            Some(&[71u8, 4, 0x80, 0, 0, 0, 255][..])
        );

        println!(
            "CLIENT OK lease={ip} boot_file={} boot_server_file={}",
            boot.text(67).unwrap_or_default(),
            ack.text(67).unwrap_or_default()
        );
    });
}
