//! The `sidero-controller-manager` binary with `--siderolink`, run inside a network namespace
//! the test creates (its WireGuard interface never touches the host): a Talos node simulator
//! in a second namespace provisions over the manager's combined listener, joins the tunnel,
//! and its kernel-log lines show up annotated on the manager's stdout (`serverlogs`) while its
//! events set the ServerBinding's conditions.
//!
//! The manager reaches the test API server (127.0.0.1 on the host) through a forwarder that
//! listens on 127.0.0.1 inside its namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::PostParams;
use serde_json::Value;
use sidero_api::condition;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding, ServerBindingSpec};
use sidero_testenv::netns::{Netns, listen_in};
use sidero_testenv::talos_sim::{KernelArgs, TalosNode, install_events, kmsg_line};

/// Stops the manager when the test ends (also on panic) and removes its control socket.
struct Manager {
    child: Child,
    log: PathBuf,
    socket: String,
}

impl Manager {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Forwards connections to `port` on 127.0.0.1 inside `ns` to 127.0.0.1:`port` on the host.
fn forward_api(ns: &Netns, port: u16) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let listener = listen_in(ns.name(), addr).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut inside, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut host) = tokio::net::TcpStream::connect(addr).await {
                    let _ = tokio::io::copy_bidirectional(&mut inside, &mut host).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_runs_siderolink_for_a_talos_node() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let t = std::process::id() % 100_000;
    let srv = Netns::create(&format!("sl-msrv-{t}")).unwrap();
    let node_ns = Netns::create(&format!("sl-mnode-{t}")).unwrap();
    srv.veth(
        ("slm0", "10.215.0.1/24"),
        &node_ns,
        ("slm1", "10.215.0.2/24"),
    )
    .unwrap();
    let api_port: u16 = cp.url().rsplit(':').next().unwrap().parse().unwrap();
    forward_api(&srv, api_port);

    let uuid = "e2e00000-0000-4000-8000-0000000000aa";
    let mut mm = MetalMachine::new("mgr-cp-mm", Default::default());
    mm.metadata.namespace = Some("default".into());
    mm.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "cluster.x-k8s.io/v1beta1".into(),
        kind: "Machine".into(),
        name: "mgr-cp-machine".into(),
        uid: "00000000-0000-4000-8000-0000000000aa".into(),
        ..Default::default()
    }]);
    Api::<MetalMachine>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &mm)
        .await
        .unwrap();
    let mut b = ServerBinding::new(uuid, ServerBindingSpec::default());
    b.metadata.labels = Some(BTreeMap::from([(
        "cluster.x-k8s.io/cluster-name".to_string(),
        "mgr".to_string(),
    )]));
    b.spec.metal_machine_ref.kind = Some("MetalMachine".into());
    b.spec.metal_machine_ref.name = Some("mgr-cp-mm".into());
    b.spec.metal_machine_ref.namespace = Some("default".into());
    Api::<ServerBinding>::all(client.clone())
        .create(&PostParams::default(), &b)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("manager.log");
    let out = std::fs::File::create(&log).unwrap();
    let ifname = format!("slm{t}");
    let http = 18081;
    let child = srv
        .command(env!("CARGO_BIN_EXE_sidero-controller-manager"))
        .args([
            "--api-endpoint=10.215.0.1",
            "--http-bind=10.215.0.1",
            "--tftp-addr=127.0.0.1:16969",
            "--disable-dhcp-proxy",
            "--enable-leader-election=false",
            "--health-addr=127.0.0.1:0",
            "--diagnostics-address=127.0.0.1:0",
            "--ipxe-dir=/usr/lib/ipxe",
            "--talos-assets-base=http://127.0.0.1:9/unused",
            "--siderolink",
            "--wireguard-port=51821",
            "--negative-address-filter=10.215.0.0/24",
        ])
        .arg(format!("--api-port={http}"))
        .arg(format!("--http-port={http}"))
        .arg(format!("--wireguard-interface={ifname}"))
        .arg(format!("--tftp-dir={}", dir.path().join("tftp").display()))
        .arg(format!("--env-dir={}", dir.path().join("env").display()))
        .arg(format!("--kubeconfig={}", cp.kubeconfig().display()))
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap();
    let mut manager = Manager {
        child,
        log,
        socket: format!("/var/run/wireguard/{ifname}.sock"),
    };
    // Ready when the events sink (the last thing started) is listening.
    let start = Instant::now();
    while !manager.log().contains("serving HTTP and gRPC") {
        let exited = manager.child.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "manager exited: {exited:?}\n{}",
            manager.log()
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "manager not ready:\n{}",
            manager.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        manager.log().contains("using userspace WireGuard")
            || manager.log().contains("\"backend\":\"Kernel\""),
        "the WireGuard choice is logged:\n{}",
        manager.log()
    );

    let id = sidero_controller_manager::identity::load_or_create(&client)
        .await
        .unwrap();
    let server = sidero_siderolink::server_address(&id.installation_id);
    let args = KernelArgs::parse(&format!(
        "siderolink.api=10.215.0.1:{http} talos.events.sink=[{server}]:4002 talos.logging.kernel=tcp://[{server}]:4001"
    ))
    .unwrap();
    let node = TalosNode::join(args, uuid, node_ns.name(), &format!("slmn{t}"))
        .await
        .unwrap();
    let stored = Api::<ServerBinding>::all(client.clone())
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(stored.spec.siderolink.public_key, node.public_key);

    // The manager's watch adds the peer and caches the annotation shortly after Provision;
    // the first connection may come before that, so retry until an annotated line shows.
    const N: u64 = 1000;
    let deadline = Instant::now() + Duration::from_secs(60);
    let annotated = loop {
        node.stream_logs((0..N).map(|i| kmsg_line(i, &format!("mgr line {i}"))))
            .await
            .ok();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let lines: Vec<Value> = manager
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["server_uuid"] == uuid && v.get("seq").is_some())
            .collect();
        if lines.len() as u64 >= N {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "no annotated log lines:\n{}",
            manager.log()
        );
    };
    // The last complete stream is in order and fully annotated.
    let last: Vec<&Value> = annotated[annotated.len() - N as usize..].iter().collect();
    for (i, v) in last.iter().enumerate() {
        assert_eq!(v["seq"], i as u64);
        assert_eq!(v["machine"], "mgr-cp-machine");
        assert_eq!(v["metal_machine"], "mgr-cp-mm");
        assert_eq!(v["cluster"], "mgr");
    }

    node.publish(install_events("talos-mgr", &["10.215.0.2", "198.51.100.7"]))
        .await
        .unwrap();
    let b = Api::<ServerBinding>::all(client.clone())
        .get(uuid)
        .await
        .unwrap();
    let conds = &b.status.as_ref().unwrap().conditions;
    for c in [
        "TalosConfigLoaded",
        "TalosConfigValidated",
        "TalosInstalled",
    ] {
        assert!(condition::is_true(conds, c), "{c}: {conds:?}");
    }
    assert_eq!(b.spec.addresses, ["198.51.100.7"]);
    assert!(
        manager.log().contains("\"msg\":\"incoming event\""),
        "serverevents lines on stdout"
    );
    println!(
        "manager: {} annotated log lines, conditions {:?}",
        annotated.len(),
        conds
            .iter()
            .map(|c| (&c.type_, &c.status))
            .collect::<Vec<_>>()
    );
    drop(node);
    drop(manager);
}
