//! arm64 clients where no arm64 iPXE binaries exist (Debian 12 ships none): the manager's
//! start-up preparation leaves `snp-arm64.efi`/`ipxe-arm64.efi` absent, our TFTP server
//! answers them with error 1 (file not found) while amd64 files are served, and the proxy
//! DHCP still hands arm64 firmware the spec's file names (arch 11 and 19, ports 67 and 4011).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::Ipv4Addr;
use std::time::Duration;

use sidero_controller_manager::ipxe::{Prepared, Sources, prepare};
use sidero_dhcp::dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use sidero_dhcp::dhcproto::{Decodable, Decoder, Encodable, Encoder};
use sidero_dhcp::{Ingress, ProxyConfig, respond};
use sidero_tftp::{DirSource, ErrorCode, Packet, ServerConfig, TftpServer};
use tokio::net::UdpSocket;

/// Sends an RRQ for `file` and returns the first reply's (opcode-level) packet summary:
/// `Ok(block)` for DATA, `Err(code)` for ERROR.
async fn first_reply(server: std::net::SocketAddr, file: &str) -> Result<u16, ErrorCode> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rrq = Vec::new();
    Packet::Rrq(sidero_tftp::packet::Request {
        filename: file,
        mode: "octet",
        options: Default::default(),
    })
    .encode(&mut rrq)
    .unwrap();
    sock.send_to(&rrq, server).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("the server answers")
        .unwrap();
    match Packet::parse(&buf[..n]).unwrap() {
        Packet::Data { block, .. } => Ok(block),
        Packet::Error { code, .. } => Err(code),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn missing_arm64_binaries_are_tftp_file_not_found() {
    // A Debian-like folder: amd64 binaries only.
    let ipxe = tempfile::tempdir().unwrap();
    let tftp = tempfile::tempdir().unwrap();
    std::fs::write(ipxe.path().join("snponly.efi"), b"amd64 snp").unwrap();
    std::fs::write(ipxe.path().join("ipxe.efi"), b"amd64 ipxe").unwrap();
    let empty_arm64 = tempfile::tempdir().unwrap();
    let sources = Sources::new(ipxe.path(), empty_arm64.path().to_str().unwrap());
    let got = prepare(&sources, tftp.path(), "#!ipxe\n").unwrap();
    assert!(got.contains(&Prepared::Missing("snp-arm64.efi".into())));
    assert!(got.contains(&Prepared::Missing("ipxe-arm64.efi".into())));
    assert!(got.contains(&Prepared::Copied("snp.efi".into())));

    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let server = TftpServer::bind(config, DirSource::new(tftp.path()).unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let task = tokio::spawn(server.serve());
    assert_eq!(first_reply(addr, "snp.efi").await, Ok(1));
    assert_eq!(
        first_reply(addr, "snp-arm64.efi").await,
        Err(ErrorCode::FileNotFound)
    );
    assert_eq!(
        first_reply(addr, "ipxe-arm64.efi").await,
        Err(ErrorCode::FileNotFound)
    );
    task.abort();
}

fn arm64_request(mtype: MessageType, arch: u16) -> Vec<u8> {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootRequest)
        .set_xid(0x1234_5678)
        .set_flags(Flags::default().set_broadcast())
        .set_chaddr(&[0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]);
    m.opts_mut().insert(DhcpOption::MessageType(mtype));
    m.opts_mut().insert(DhcpOption::Unknown(
        sidero_dhcp::dhcproto::v4::UnknownOption::new(
            OptionCode::from(93),
            arch.to_be_bytes().to_vec(),
        ),
    ));
    m.opts_mut().insert(DhcpOption::ClassIdentifier(
        format!("PXEClient:Arch:{arch:05}:UNDI:003016").into_bytes(),
    ));
    let mut out = Vec::new();
    m.encode(&mut Encoder::new(&mut out)).unwrap();
    out
}

fn boot_file(reply: &[u8]) -> (Option<String>, String) {
    let m = Message::decode(&mut Decoder::new(reply)).unwrap();
    let text = |code: u8| {
        m.opts().get(OptionCode::from(code)).map(|o| {
            let mut b = Vec::new();
            o.encode(&mut Encoder::new(&mut b)).unwrap();
            String::from_utf8_lossy(&b[2..]).into_owned()
        })
    };
    (text(66), text(67).unwrap())
}

#[test]
fn proxy_dhcp_still_names_the_arm64_files() {
    let cfg = ProxyConfig::new(Ipv4Addr::new(10, 42, 0, 5), 8081);
    let pxe = respond(
        &arm64_request(MessageType::Discover, 11),
        Ingress::Dhcp,
        &cfg,
    )
    .unwrap();
    assert_eq!(
        boot_file(&pxe.bytes),
        (Some("10.42.0.5".into()), "snp-arm64.efi".into())
    );
    let http = respond(
        &arm64_request(MessageType::Discover, 19),
        Ingress::Dhcp,
        &cfg,
    )
    .unwrap();
    assert_eq!(
        boot_file(&http.bytes),
        (None, "http://10.42.0.5:8081/tftp/snp-arm64.efi".into())
    );
    // The PXE boot server port (4011): a REQUEST gets the same file.
    let ack = respond(
        &arm64_request(MessageType::Request, 11),
        Ingress::PxeBootServer,
        &cfg,
    )
    .unwrap();
    assert_eq!(boot_file(&ack.bytes).1, "snp-arm64.efi");
}
