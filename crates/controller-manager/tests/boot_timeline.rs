//! The boot timeline against real peers: `sidero-controller-manager` runs in a network
//! namespace with proxy DHCP, TFTP and HTTP on a veth (the API server reached through a
//! forwarded loopback port); a "machine" in a second namespace does what PXE firmware and
//! iPXE do: a DHCP DISCOVER broadcast from 0.0.0.0 with its PXE GUID (option 97), a TFTP
//! download of its boot file (atftp), `GET /ipxe?uuid=…` and an HTTP asset fetch (curl).
//! The Server then carries one Event per step, attributed through the GUID, the kernel's
//! neighbour table (TFTP shows only an address) and the address `/ipxe` was asked from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_testenv::netns::{Netns, listen_in};

/// SMBIOS UUID of the machine; its PXE GUID is the same bytes, first three fields swapped.
const UUID: &str = "7e1e0000-0b00-4000-8000-0000000071e1";
const SERVER_IP: &str = "10.87.0.1";
const CLIENT_IP: &str = "10.87.0.2";
const HTTP_PORT: u16 = 8081;

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The PXE GUID (option 97 value) for `uuid`: type 0, then the SMBIOS byte order.
fn pxe_guid(uuid: &str) -> Vec<u8> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    let b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut g = vec![0u8];
    g.extend(order.iter().map(|&i| b[i]));
    g
}

/// A PXE DHCPDISCOVER from UEFI x86-64 firmware (arch 7) with `mac` and the GUID.
fn discover(mac: [u8; 6]) -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // Ethernet
    p[2] = 6;
    p[4..8].copy_from_slice(&0x7e1e_0001u32.to_be_bytes());
    p[10] = 0x80; // broadcast
    p[28..34].copy_from_slice(&mac);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let class = b"PXEClient:Arch:00007:UNDI:003016";
    p.extend([53, 1, 1]);
    p.extend([93, 2, 0, 7]);
    p.extend([94, 3, 1, 3, 16]);
    p.push(97);
    let guid = pxe_guid(UUID);
    p.push(guid.len() as u8);
    p.extend(guid);
    p.push(60);
    p.push(class.len() as u8);
    p.extend(class);
    p.push(255);
    // BOOTP's minimum size (padding only, never a cut).
    if p.len() < 300 {
        p.resize(300, 0);
    }
    p
}

/// The veth's hardware address (from `ip link show`).
fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let out = ns.ip(&["link", "show", dev]).unwrap();
    let text = out.split("link/ether ").nth(1).unwrap();
    let mut mac = [0u8; 6];
    for (i, part) in text
        .split_whitespace()
        .next()
        .unwrap()
        .split(':')
        .enumerate()
    {
        mac[i] = u8::from_str_radix(part, 16).unwrap();
    }
    mac
}

/// Broadcasts the DISCOVER from 0.0.0.0:68 in `ns` and returns the reply's boot file.
fn dhcp_exchange(ns: &Netns, dev: &str, packet: Vec<u8>) -> Option<String> {
    let dev = dev.to_string();
    ns.run(move || {
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind_device(Some(dev.as_bytes())).unwrap();
        s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)).into())
            .unwrap();
        let s: std::net::UdpSocket = s.into();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 1500];
        for _ in 0..5 {
            s.send_to(&packet, (Ipv4Addr::BROADCAST, 67)).unwrap();
            let Ok((n, _)) = s.recv_from(&mut buf) else {
                continue;
            };
            // Option 67 (boot file name) of the reply.
            let mut i = 240;
            while i + 1 < n && buf[i] != 255 {
                let (code, len) = (buf[i], buf[i + 1] as usize);
                if code == 67 {
                    return Some(String::from_utf8_lossy(&buf[i + 2..i + 2 + len]).into_owned());
                }
                i += if code == 0 { 1 } else { 2 + len };
            }
        }
        None
    })
    .unwrap()
}

fn run_ok(mut c: Command, what: &str) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Server's Events as (reason, note).
async fn events(client: &kube::Client) -> Vec<(String, String)> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(UUID))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pxe_boot_is_told_step_by_step_in_the_servers_events() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let api_port: u16 = cp.url().rsplit(':').next().unwrap().parse().unwrap();
    let server: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": UUID},
        "spec": {"accepted": false}
    }))
    .unwrap();
    Api::<Server>::all(client.clone())
        .create(&PostParams::default(), &server)
        .await
        .unwrap();

    let pid = std::process::id();
    let srv = Netns::create(&format!("tl-srv-{pid}")).unwrap();
    let cli = Netns::create(&format!("tl-cli-{pid}")).unwrap();
    srv.veth(
        ("tls0", &format!("{SERVER_IP}/24")),
        &cli,
        ("tlc0", &format!("{CLIENT_IP}/24")),
    )
    .unwrap();
    // Firmware asks DHCP before it has an address: the client's is added after the exchange
    // (until then its datagrams leave from 0.0.0.0, as a PXE ROM's do).
    cli.ip(&["addr", "del", &format!("{CLIENT_IP}/24"), "dev", "tlc0"])
        .unwrap();
    // The API server, inside the manager's namespace at the same loopback port.
    let inside = listen_in(
        srv.name(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, api_port)),
    )
    .unwrap();
    let forward = tokio::spawn(async move {
        while let Ok((mut a, _)) = inside.accept().await {
            tokio::spawn(async move {
                if let Ok(mut b) =
                    tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, api_port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("manager.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = srv.command(env!("CARGO_BIN_EXE_sidero-controller-manager"));
    cmd.args([
        &format!("--api-endpoint={SERVER_IP}"),
        &format!("--api-port={HTTP_PORT}"),
        &format!("--http-port={HTTP_PORT}"),
        "--enable-leader-election=false",
        "--health-addr=127.0.0.1:0",
        "--diagnostics-address=127.0.0.1:0",
        "--ipxe-dir=/usr/lib/ipxe",
        "--talos-assets-base=http://127.0.0.1:9/talos",
        "--dhcp-ipxe-clients=http-script",
    ])
    .env(
        "RUST_LOG",
        "info,sidero_dhcp=debug,sidero_controller_manager::timeline=debug",
    )
    .arg(format!("--tftp-dir={}", dir.path().join("tftp").display()))
    .arg(format!("--env-dir={}", dir.path().join("env").display()))
    .arg(format!("--kubeconfig={}", cp.kubeconfig().display()))
    .stdout(Stdio::from(log.try_clone().unwrap()))
    .stderr(Stdio::from(log));
    let mut guard = Guard(cmd.spawn().unwrap());
    let manager_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Ready when `/boot.ipxe` answers (asked inside the manager's namespace: the machine
    // has no address yet).
    let base = format!("http://{SERVER_IP}:{HTTP_PORT}");
    let start = Instant::now();
    loop {
        let mut c = srv.command("curl");
        c.args(["-sf", "--max-time", "2", &format!("{base}/boot.ipxe")]);
        if c.output().unwrap().status.success() {
            break;
        }
        assert!(
            guard.0.try_wait().unwrap().is_none(),
            "manager exited:\n{}",
            manager_log()
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "manager not serving:\n{}",
            manager_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Firmware: DHCP with the GUID, from no address.
    let mac = mac_of(&cli, "tlc0");
    let Some(boot_file) = dhcp_exchange(&cli, "tlc0", discover(mac)) else {
        panic!("no proxy DHCP reply\n{}", manager_log());
    };
    assert!(!boot_file.is_empty(), "the proxy named a boot file");
    // The site DHCP server's lease.
    cli.ip(&["addr", "add", &format!("{CLIENT_IP}/24"), "dev", "tlc0"])
        .unwrap();
    // The ROM fetches its boot file over TFTP (only an address to go by).
    let mut c = cli.command("atftp");
    c.args(["-g", "-r", "undionly.kpxe", "-l"])
        .arg(dir.path().join("fetched.kpxe"))
        .args([SERVER_IP, "69"]);
    run_ok(c, "atftp");
    // iPXE: the script for this UUID, then a file over HTTP.
    let mut c = cli.command("curl");
    c.args([
        "-s",
        "-o",
        "/dev/null",
        "--max-time",
        "5",
        &format!("{base}/ipxe?uuid={UUID}&mac=52-54-00-00-00-01&arch=x86_64"),
    ]);
    run_ok(c, "curl /ipxe");
    let mut c = cli.command("curl");
    c.args([
        "-sf",
        "-o",
        "/dev/null",
        "--max-time",
        "5",
        &format!("{base}/tftp/ipxe.efi"),
    ]);
    run_ok(c, "curl /tftp/ipxe.efi");

    let mac_text = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let want = [
        "DHCPOffer",
        "TFTPTransfer",
        "IPXEScript",
        "BootAssetFetched",
    ];
    let start = Instant::now();
    let evs = loop {
        let evs = events(&client).await;
        let has = |r: &str| evs.iter().any(|(reason, _)| reason == r);
        if want.iter().all(|r| has(r)) {
            break evs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "events so far: {evs:#?}\n{}",
            manager_log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let note = |r: &str| {
        evs.iter()
            .find(|(reason, _)| reason == r)
            .map(|(_, n)| n.clone())
            .unwrap()
    };
    assert_eq!(
        note("DHCPOffer"),
        format!("proxy DHCP (67) handed {boot_file} to x86-uefi firmware ({mac_text})")
    );
    let tftp = note("TFTPTransfer");
    assert!(
        tftp.starts_with(&format!("sent undionly.kpxe over TFTP to {CLIENT_IP} (")),
        "{tftp}"
    );
    // Not accepted: the agent environment.
    assert_eq!(
        note("IPXEScript"),
        format!("/ipxe sent the discovery agent environment to {CLIENT_IP}")
    );
    assert_eq!(
        note("BootAssetFetched"),
        format!("{CLIENT_IP} fetched /tftp/ipxe.efi over HTTP")
    );
    // Published once each, though DHCP may have been asked more than once.
    assert_eq!(
        evs.iter().filter(|(r, _)| r == "DHCPOffer").count(),
        1,
        "{evs:#?}"
    );
    eprintln!("boot timeline of {UUID}: {evs:#?}");
    forward.abort();
    drop(guard);
}
