//! SideroLink end to end, in two network namespaces the test creates (joined by a veth; nothing
//! touches the host's interfaces) and against a real API server:
//!
//! * Sidero's WireGuard endpoint (kernel if available, else userspace) lives in namespace
//!   `srv`, with the kernel-log receiver and the events sink bound to its tunnel address; the
//!   ServerBinding watch drives its peers and the annotation cache;
//! * the Talos node simulator reads its kernel arguments, calls Provision on the combined
//!   listener (over the veth), brings up userspace WireGuard in namespace `node`, completes the
//!   handshake, streams 10,000 kernel-log lines and an install's events through the tunnel;
//! * the lines arrive annotated and in order, and the events set the ServerBinding's
//!   conditions and addresses.
//!
//! A second test runs Debian's `wireguard-go` + `wg` as the peer (interoperability).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;
use sidero_api::condition;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding, ServerBindingSpec};
use sidero_controller_manager::http::combined;
use sidero_controller_manager::identity;
use sidero_controller_manager::siderolink::binding_writer::BindingWriter;
use sidero_controller_manager::siderolink::bindings::{self, Targets};
use sidero_controller_manager::siderolink::{provision::ProvisionApi, server_side};
use sidero_siderolink::annotation::AnnotationCache;
use sidero_siderolink::event_sink::{EventLine, EventSink};
use sidero_siderolink::log_receiver::{self, LogLine, LogReceiver};
use sidero_siderolink::wireguard::{Backend, Device, DeviceConfig, Mode, PeerConfig};
use sidero_testenv::netns::{Netns, connect_in, listen_in};
use sidero_testenv::talos_sim::{KernelArgs, TalosNode, install_events, kmsg_line};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Short per-process tag: interface names are limited to 15 bytes and userspace control
/// sockets are host-wide.
fn tag() -> u32 {
    std::process::id() % 100_000
}

/// Sidero's side, running in namespace `srv`.
struct Sidero {
    device: Arc<Device>,
    server: Ipv6Addr,
    api: SocketAddr,
    cache: AnnotationCache,
    logs: mpsc::Receiver<LogLine>,
    events: mpsc::Receiver<EventLine>,
}

async fn start_sidero(client: &Client, srv: &Netns, ifname: &str) -> Sidero {
    let id = identity::load_or_create(client).await.unwrap();
    let server = sidero_siderolink::server_address(&id.installation_id);
    let side = server_side(&id, "10.213.0.1:51821".parse().unwrap()).unwrap();

    let routes = tonic::service::Routes::new(ProvisionApi::new(client.clone(), side).into_server());
    // The combined listener on Sidero's LAN address, as nodes reach it.
    let listener = listen_in(srv.name(), "10.213.0.1:0".parse().unwrap()).unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(sidero_controller_manager::http::serve(
        listener,
        combined(axum::Router::new(), routes),
        std::future::pending(),
    ));

    let config = DeviceConfig {
        name: ifname.into(),
        private_key: id.private_key.clone(),
        address: (IpAddr::V6(server), 64),
        listen_port: 51821,
        mode: Mode::Auto,
    };
    let device = Arc::new(
        srv.run(move || Device::create_blocking(config))
            .unwrap()
            .unwrap(),
    );
    println!("server WireGuard backend: {:?}", device.backend());
    let cache = AnnotationCache::new();
    tokio::spawn(bindings::run(
        client.clone(),
        Targets {
            device: Some(device.clone()),
            cache: Some(cache.clone()),
        },
    ));

    let (log_tx, logs) = mpsc::channel(4096);
    let l = listen_in(srv.name(), SocketAddr::new(IpAddr::V6(server), 4001)).unwrap();
    let receiver =
        LogReceiver::from_listener(l, cache.clone(), log_tx, log_receiver::Config::default());
    tokio::spawn(receiver.serve(std::future::pending()));

    let (ev_tx, events) = mpsc::channel(256);
    let l = listen_in(srv.name(), SocketAddr::new(IpAddr::V6(server), 4002)).unwrap();
    let filter = sidero_siderolink::events::parse_filter(["10.213.0.0/24"]).unwrap();
    let sink = EventSink::new(
        cache.clone(),
        filter,
        Arc::new(BindingWriter::new(client.clone())),
        ev_tx,
    );
    tokio::spawn(sink.serve(l, std::future::pending()));
    Sidero {
        device,
        server,
        api,
        cache,
        logs,
        events,
    }
}

async fn create_binding(client: &Client, uuid: &str) {
    let mut mm = MetalMachine::new("e2e-cp-mm", Default::default());
    mm.metadata.namespace = Some("default".into());
    mm.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "cluster.x-k8s.io/v1beta1".into(),
        kind: "Machine".into(),
        name: "e2e-cp-machine".into(),
        uid: "00000000-0000-4000-8000-00000000e2e0".into(),
        ..Default::default()
    }]);
    let _ = Api::<MetalMachine>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &mm)
        .await;
    let mut b = ServerBinding::new(uuid, ServerBindingSpec::default());
    b.metadata.labels = Some(BTreeMap::from([(
        "cluster.x-k8s.io/cluster-name".to_string(),
        "e2e".to_string(),
    )]));
    b.spec.metal_machine_ref.kind = Some("MetalMachine".into());
    b.spec.metal_machine_ref.name = Some("e2e-cp-mm".into());
    b.spec.metal_machine_ref.namespace = Some("default".into());
    Api::<ServerBinding>::all(client.clone())
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
}

/// Waits until `device` reports a handshake with `peer`.
async fn handshake(device: &Device, peer: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let stats = device.stats().await.unwrap();
        if stats
            .iter()
            .any(|p| p.public_key == peer && p.last_handshake.is_some())
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "no handshake with {peer}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talos_node_joins_streams_logs_and_reports_events() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let t = tag();
    let srv = Netns::create(&format!("sl-srv-{t}")).unwrap();
    let node_ns = Netns::create(&format!("sl-node-{t}")).unwrap();
    srv.veth(
        ("slv0", "10.213.0.1/24"),
        &node_ns,
        ("slv1", "10.213.0.2/24"),
    )
    .unwrap();
    let mut sidero = start_sidero(&client, &srv, &format!("slsrv{t}")).await;
    let uuid = "e2e00000-0000-4000-8000-000000000001";
    create_binding(&client, uuid).await;

    let cmdline = format!(
        "console=ttyS0 siderolink.api={} talos.events.sink=[{s}]:4002 talos.logging.kernel=tcp://[{s}]:4001",
        sidero.api,
        s = sidero.server
    );
    let args = KernelArgs::parse(&cmdline).unwrap();
    let node = TalosNode::join(args, uuid, node_ns.name(), &format!("slnode{t}"))
        .await
        .unwrap();
    assert_eq!(node.server_address, sidero.server);
    let took = handshake(&sidero.device, &node.public_key, Duration::from_secs(30)).await;
    println!("handshake after {:.2}s", took.as_secs_f64());

    // The watch fills the annotation cache right after it adds the peer; wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sidero
        .cache
        .get(IpAddr::V6(node.address))
        .is_none_or(|a| a.machine.is_empty())
    {
        assert!(Instant::now() < deadline, "annotation never cached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 10,000 lines through the tunnel, read while they are written (the receiver's output
    // channel is smaller than the stream).
    const N: u64 = 10_000;
    let start = Instant::now();
    let lines = (0..N).map(|i| kmsg_line(i, &format!("[talos] line {i}")));
    let logs = &mut sidero.logs;
    let read = async {
        let mut got = Vec::new();
        while (got.len() as u64) < N {
            let l = tokio::time::timeout(Duration::from_secs(60), logs.recv())
                .await
                .expect("log lines keep arriving")
                .unwrap();
            assert_eq!(
                l.source.ip(),
                IpAddr::V6(node.address),
                "through the tunnel"
            );
            got.push(l);
        }
        got
    };
    let (sent, got) = tokio::join!(node.stream_logs(lines), read);
    sent.unwrap();
    println!(
        "{N} log lines through the tunnel in {:.2}s",
        start.elapsed().as_secs_f64()
    );
    for (i, l) in got.iter().enumerate() {
        let v: Value = serde_json::from_str(&l.line).unwrap();
        assert_eq!(v["seq"], i as u64, "in order");
        assert_eq!(v["server_uuid"], uuid, "line {i}: {}", l.line);
        assert_eq!(v["cluster"], "e2e");
        assert_eq!(v["namespace"], "default");
        assert_eq!(v["metal_machine"], "e2e-cp-mm");
        assert_eq!(v["machine"], "e2e-cp-machine");
    }

    let node_ip = node.address.to_string();
    node.publish(install_events(
        "talos-e2e",
        &["10.213.0.2", "192.0.2.10", &node_ip],
    ))
    .await
    .unwrap();
    let api = Api::<ServerBinding>::all(client.clone());
    let b = api.get(uuid).await.unwrap();
    let conds = &b.status.as_ref().unwrap().conditions;
    for c in [
        "TalosConfigLoaded",
        "TalosConfigValidated",
        "TalosInstalled",
    ] {
        assert!(condition::is_true(conds, c), "{c}: {conds:?}");
    }
    // The veth address is filtered, the tunnel address dropped.
    assert_eq!(b.spec.addresses, ["192.0.2.10"]);
    assert_eq!(b.spec.hostname, "talos-e2e");
    let first: Value = serde_json::from_str(&sidero.events.recv().await.unwrap().line).unwrap();
    assert_eq!(first["type"], "type.googleapis.com/machine.AddressEvent");
    assert_eq!(first["server_uuid"], uuid);
    assert_eq!(first["machine"], "e2e-cp-machine");

    // Deleting the binding removes the peer.
    api.delete(uuid, &Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sidero
        .device
        .stats()
        .await
        .unwrap()
        .iter()
        .any(|p| p.public_key == node.public_key)
    {
        assert!(Instant::now() < deadline, "peer not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(node);
    drop(sidero);
}

/// wireguard-go, stopped on drop: SIGTERM first so it removes its control socket
/// (`/var/run/wireguard/<ifname>.sock`), SIGKILL if it lingers.
struct WireguardGo {
    child: Child,
    socket: String,
}

impl Drop for WireguardGo {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wireguard_go_peer_handshakes_with_our_endpoint() {
    let t = tag();
    let srv = Netns::create(&format!("sl-wsrv-{t}")).unwrap();
    let peer_ns = Netns::create(&format!("sl-wgo-{t}")).unwrap();
    srv.veth(
        ("wgv0", "10.214.0.1/24"),
        &peer_ns,
        ("wgv1", "10.214.0.2/24"),
    )
    .unwrap();
    let our_key = sidero_siderolink::generate_key().unwrap();
    let our_pub = sidero_siderolink::key::public_key(&our_key).unwrap();
    let their_key = sidero_siderolink::generate_key().unwrap();
    let their_pub = sidero_siderolink::key::public_key(&their_key).unwrap();
    let ours: Ipv6Addr = "fdae:2859:5bb1:7a03::1".parse().unwrap();
    let theirs: Ipv6Addr = "fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09".parse().unwrap();

    let config = DeviceConfig {
        name: format!("slw{t}"),
        private_key: our_key,
        address: (IpAddr::V6(ours), 64),
        listen_port: 51821,
        mode: Mode::Userspace,
    };
    let device = srv
        .run(move || Device::create_blocking(config))
        .unwrap()
        .unwrap();
    assert_eq!(device.backend(), Backend::Userspace);
    device
        .set_peers(BTreeMap::from([(
            their_pub.clone(),
            PeerConfig::node(their_pub.clone(), theirs),
        )]))
        .await
        .unwrap();

    // wireguard-go in the peer namespace, configured with wg.
    let ifname = format!("wgo{t}");
    let _wg = WireguardGo {
        child: peer_ns
            .command("wireguard-go")
            .args(["-f", &ifname])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wireguard-go is installed by scripts/test.sh"),
        socket: format!("/var/run/wireguard/{ifname}.sock"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while peer_ns.ip(&["link", "show", &ifname]).is_err() {
        assert!(
            Instant::now() < deadline,
            "wireguard-go did not create {ifname}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let keyfile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(keyfile.path(), &their_key).unwrap();
    let out = peer_ns
        .command("wg")
        .args(["set", &ifname, "private-key"])
        .arg(keyfile.path())
        .args([
            "peer",
            &our_pub,
            "endpoint",
            "10.214.0.1:51821",
            "allowed-ips",
            &format!("{ours}/128"),
            "persistent-keepalive",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wg set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    peer_ns
        .ip(&["-6", "addr", "add", &format!("{theirs}/64"), "dev", &ifname])
        .unwrap();
    peer_ns.ip(&["link", "set", &ifname, "up"]).unwrap();

    let took = handshake(&device, &their_pub, Duration::from_secs(30)).await;
    println!("wireguard-go handshake after {:.2}s", took.as_secs_f64());
    // Traffic both ways: a TCP exchange from the wireguard-go side to our tunnel address.
    let listener = listen_in(srv.name(), SocketAddr::new(IpAddr::V6(ours), 4001)).unwrap();
    let echo = tokio::spawn(async move {
        let (mut s, peer) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        peer
    });
    let mut c = connect_in(
        peer_ns.name(),
        SocketAddr::new(IpAddr::V6(ours), 4001),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    c.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    assert_eq!(
        echo.await.unwrap().ip(),
        IpAddr::V6(theirs),
        "came through the tunnel"
    );
    let show = peer_ns
        .command("wg")
        .args(["show", &ifname, "latest-handshakes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    let ts: u64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(ts > 0, "wg shows a handshake: {text}");
    let stats = device.stats().await.unwrap();
    assert!(stats[0].rx_bytes > 0 && stats[0].tx_bytes > 0, "{stats:?}");
    drop(device);
}
