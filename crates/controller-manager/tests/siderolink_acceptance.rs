//! SideroLink acceptance (issue 7), end to end with real processes and a real API server:
//!
//! * `sidero-controller-manager --siderolink` runs in network namespace `srv` (its WireGuard
//!   interface never touches the host); its Server controller, `/ipxe`, `/configdata`,
//!   Provision, WireGuard endpoint, log receiver, events sink and `/logs` all take part;
//! * the CAPS controllers (MetalMachine, ServerBinding) run in this process: they bind the
//!   Server to the MetalMachine and mirror the binding into the MetalMachine's status;
//! * the Talos node simulator in namespace `node` boots as a node does after iPXE: `/ipxe`,
//!   the `talos.config` URL (with its per-boot token), Provision, userspace WireGuard, 10,000
//!   kernel-log lines, the events of an install;
//! * `sideroctl logs` (in-process, over HTTP) follows the server's logs while they arrive.
//!
//! Checked: the handshake completes; the lines arrive annotated and in order on the manager's
//! stdout and through `sideroctl logs -f`; the events turn the MetalMachine's conditions True
//! and fill its `status.addresses`; the Server gets `PXEBooted`; `/ipxe` then answers
//! boot-from-disk for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::{metalmachine, serverbinding};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_api::condition;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::{Environment, Server};
use sidero_testenv::netns::{Netns, listen_in};
use sidero_testenv::talos_sim::{self, TalosNode, install_events, kmsg_line};
use sideroctl::logs::LogsArgs;

const NS: &str = "sl-acc";
const UUID: &str = "acc00000-0000-4000-8000-000000000001";
const LIMIT: Duration = Duration::from_secs(60);

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

/// Polls `check` until it returns `Some` or `limit` passes (then panics with `what`).
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create<K>(api: &Api<K>, v: Value) -> K
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

fn capi(client: &Client, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", kind));
    Api::namespaced_with(client.clone(), NS, &ar)
}

/// Stand-ins for CAPI's Cluster and Machine CRDs (open schemas): the CAPS controllers and
/// `/configdata` read only a few fields.
async fn install_capi_crds(client: &Client) {
    let crd = |plural: &str, kind: &str| -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.cluster.x-k8s.io")},
            "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
                "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
                "versions": [{"name": "v1beta1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }))
        .unwrap()
    };
    sidero_testenv::crds::install(
        client,
        &[crd("clusters", "Cluster"), crd("machines", "Machine")],
    )
    .await
    .unwrap();
}

/// The cluster side: a Cluster, a Talos Environment without assets (ready), an accepted clean
/// Server booting into it, bootstrap data, and a Machine whose MetalMachine asks for the Server.
async fn cluster_objects(client: &Client) {
    create(
        &Api::<Namespace>::all(client.clone()),
        json!({"metadata": {"name": NS}}),
    )
    .await;
    create(
        &capi(client, "Cluster"),
        json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "acc", "namespace": NS}, "spec": {}, "status": {"infrastructureReady": true}}),
    )
    .await;
    create(
        &Api::<Environment>::all(client.clone()),
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment", "metadata": {"name": "acc-talos"},
            "spec": {"kernel": {"args": ["console=ttyS0", "talos.platform=metal", "initrd=initramfs.xz"]}}}),
    )
    .await;
    let servers = Api::<Server>::all(client.clone());
    create(
        &servers,
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server", "metadata": {"name": UUID},
            "spec": {"accepted": true, "environmentRef": {"name": "acc-talos"}}}),
    )
    .await;
    servers
        .patch_status(
            UUID,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true, "inUse": false, "isClean": true}})),
        )
        .await
        .unwrap();
    create(
        &Api::<Secret>::namespaced(client.clone(), NS),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "acc-m1-bootstrap", "namespace": NS},
            "stringData": {"value": "version: v1alpha1\nmachine:\n  type: worker\n  kubelet: {}\n"}}),
    )
    .await;
    let m = create(
        &capi(client, "Machine"),
        json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
            "metadata": {"name": "acc-m1", "namespace": NS, "labels": {"cluster.x-k8s.io/cluster-name": "acc"}},
            "spec": {"clusterName": "acc", "bootstrap": {"dataSecretName": "acc-m1-bootstrap"},
                     "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine", "name": "acc-mm1"}}}),
    )
    .await;
    create(
        &Api::<MetalMachine>::namespaced(client.clone(), NS),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine",
            "metadata": {"name": "acc-mm1", "namespace": NS, "labels": {"cluster.x-k8s.io/cluster-name": "acc"},
                "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine", "name": "acc-m1", "uid": m.metadata.uid.unwrap()}]},
            "spec": {"serverRef": {"kind": "Server", "name": UUID}}}),
    )
    .await;
}

/// A writer shared with the test (sideroctl's output).
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn sideroctl(endpoint: &str, follow: bool, events: bool, tail: Option<usize>) -> LogsArgs {
    LogsArgs {
        server: UUID.into(),
        follow,
        events,
        tail,
        json: false,
        endpoint: Some(endpoint.into()),
    }
}

async fn sideroctl_output(args: LogsArgs) -> String {
    let mut out = Shared::default();
    sideroctl::logs::run(&args, &mut out).await.unwrap();
    out.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talos_node_boots_joins_and_the_server_boots_from_disk_after_install() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    install_capi_crds(&client).await;
    let t = std::process::id() % 100_000;
    let srv = Netns::create(&format!("sl-asrv-{t}")).unwrap();
    let node_ns = Netns::create(&format!("sl-anode-{t}")).unwrap();
    srv.veth(
        ("sla0", "10.216.0.1/24"),
        &node_ns,
        ("sla1", "10.216.0.2/24"),
    )
    .unwrap();
    let api_port: u16 = cp.url().rsplit(':').next().unwrap().parse().unwrap();
    forward_api(&srv, api_port);

    tokio::spawn(metalmachine::run(
        client.clone(),
        CapiResources::at("v1beta1"),
    ));
    tokio::spawn(serverbinding::run(client.clone()));
    cluster_objects(&client).await;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("manager.log");
    let out = std::fs::File::create(&log).unwrap();
    let ifname = format!("sla{t}");
    let http_port = 18082;
    let child = srv
        .command(env!("CARGO_BIN_EXE_sidero-controller-manager"))
        .args([
            "--api-endpoint=10.216.0.1",
            "--http-bind=10.216.0.1",
            "--tftp-addr=127.0.0.1:16970",
            "--disable-dhcp-proxy",
            "--enable-leader-election=false",
            "--ipxe-dir=/usr/lib/ipxe",
            "--talos-assets-base=http://127.0.0.1:9/talos",
            "--siderolink",
            "--wireguard-port=51821",
            "--negative-address-filter=10.216.0.0/24",
            "--server-log-lines=20000",
        ])
        .arg(format!("--api-port={http_port}"))
        .arg(format!("--http-port={http_port}"))
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
    let start = Instant::now();
    while !manager.log().contains("serving HTTP and gRPC") {
        let exited = manager.child.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "manager exited: {exited:?}\n{}",
            manager.log()
        );
        assert!(
            start.elapsed() < LIMIT,
            "manager not ready:\n{}",
            manager.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http: SocketAddr = format!("10.216.0.1:{http_port}").parse().unwrap();

    // CAPS binds the Server to the MetalMachine.
    let bindings = Api::<ServerBinding>::all(client.clone());
    eventually(LIMIT, "ServerBinding created by CAPS", || async {
        bindings.get_opt(UUID).await.unwrap()
    })
    .await;

    // The node boots: /ipxe, then talos.config with the token /ipxe put in it.
    let boot = talos_sim::boot(node_ns.name(), http, UUID, "52-54-00-ac-c0-01")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", manager.log()));
    assert!(
        boot.script.contains("/env/acc-talos/vmlinuz"),
        "{}",
        boot.script
    );
    let config_url = boot.args.config.clone().unwrap();
    assert!(config_url.contains("token="), "{config_url}");
    assert!(
        boot.config.contains("kind: SideroLinkConfig"),
        "{}",
        boot.config
    );
    assert!(
        boot.config
            .contains(&format!("metal.sidero.dev/uuid={UUID}"))
    );
    // Without the token the config is refused.
    let (code, _) =
        talos_sim::http_get_in(node_ns.name(), http, &format!("/configdata?uuid={UUID}"))
            .await
            .unwrap();
    assert_eq!(code, 403);

    // Provision + WireGuard, with the arguments /ipxe gave.
    let joined = Instant::now();
    let node = TalosNode::join(boot.args.clone(), UUID, node_ns.name(), &format!("slan{t}"))
        .await
        .unwrap();
    let stored = bindings.get(UUID).await.unwrap();
    assert_eq!(stored.spec.siderolink.public_key, node.public_key);
    let handshake = eventually(Duration::from_secs(30), "WireGuard handshake", || async {
        let stats = node.device.stats().await.unwrap();
        stats
            .iter()
            .any(|p| p.last_handshake.is_some())
            .then(|| joined.elapsed())
    })
    .await;
    println!(
        "WireGuard handshake {:.2}s after Provision started",
        handshake.as_secs_f64()
    );

    // The manager's watch caches the node's annotation shortly after Provision: probe until a
    // line is kept under the server (only annotated lines are).
    // The manager listens inside `srv`; sideroctl reaches it through a forwarder.
    let ctl = forward_into(&srv, http).await;
    let ctl_endpoint = format!("http://{ctl}");
    let mut probe = 0u64;
    eventually(LIMIT, "annotated probe line", || {
        probe += 1;
        let node = &node;
        let ctl_endpoint = ctl_endpoint.clone();
        async move {
            node.stream_logs([kmsg_line(1_000_000 + probe, "probe")])
                .await
                .ok()?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let out = sideroctl_output(sideroctl(&ctl_endpoint, false, false, Some(1))).await;
            out.contains("probe").then_some(())
        }
    })
    .await;

    // sideroctl logs -f, started before the lines are sent.
    let follow_out = Shared::default();
    let follower = {
        let mut out = follow_out.clone();
        let args = sideroctl(&ctl_endpoint, true, false, Some(0));
        tokio::spawn(async move { sideroctl::logs::run(&args, &mut out).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    const N: u64 = 10_000;
    let sent = Instant::now();
    node.stream_logs((0..N).map(|i| kmsg_line(i, &format!("acc line {i}"))))
        .await
        .unwrap();
    // Annotated and in order on the manager's stdout (serverlogs).
    let lines: Vec<Value> = eventually(LIMIT, "10,000 serverlogs lines", || async {
        let lines: Vec<Value> = manager
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("acc line "))
            })
            .collect();
        (lines.len() as u64 >= N).then_some(lines)
    })
    .await;
    println!(
        "{N} lines through the tunnel to the manager's stdout in {:.2}s",
        sent.elapsed().as_secs_f64()
    );
    assert_eq!(lines.len() as u64, N);
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["seq"], i as u64, "in order");
        assert_eq!(v["server_uuid"], UUID);
        assert_eq!(v["namespace"], NS);
        assert_eq!(v["cluster"], "acc");
        assert_eq!(v["metal_machine"], "acc-mm1");
        assert_eq!(v["machine"], "acc-m1");
    }
    // sideroctl logs -f: readable lines, in order; any gap is announced and accounted for.
    let followed = eventually(LIMIT, "sideroctl -f reaches the last line", || async {
        let text = follow_out.text();
        text.contains(&format!("acc line {}\n", N - 1))
            .then_some(text)
    })
    .await;
    follower.abort();
    let mut next = 0u64;
    let mut shown = 0u64;
    let mut skipped = 0u64;
    for l in followed.lines() {
        if let Some(n) = l
            .strip_prefix("... ")
            .and_then(|r| r.split_once(' '))
            .and_then(|(n, _)| n.parse::<u64>().ok())
        {
            skipped += n;
            continue;
        }
        let (head, seq) = l
            .rsplit_once("acc line ")
            .unwrap_or_else(|| panic!("{l:?}"));
        assert_eq!(
            head, "2026-11-25T12:00:00.000Z kern.info     ",
            "readable: {l:?}"
        );
        let seq: u64 = seq.parse().unwrap();
        assert!(seq >= next, "in order: {seq} after {next}");
        next = seq + 1;
        shown += 1;
    }
    assert_eq!(shown + skipped, N, "every line shown or counted as skipped");
    println!("sideroctl logs -f: {shown} lines shown, {skipped} announced as skipped");
    // Without -f: the kept lines (the last ones with --tail).
    let tail = sideroctl_output(sideroctl(&ctl_endpoint, false, false, Some(2))).await;
    assert_eq!(
        tail,
        "2026-11-25T12:00:00.000Z kern.info     acc line 9998\n2026-11-25T12:00:00.000Z kern.info     acc line 9999\n"
    );

    // The events of an install.
    let node_ip = node.address.to_string();
    node.publish(install_events(
        "talos-acc",
        &["10.216.0.2", "192.0.2.10", &node_ip],
    ))
    .await
    .unwrap();
    // CAPS mirrors the binding into the MetalMachine.
    let mms = Api::<MetalMachine>::namespaced(client.clone(), NS);
    let mm = eventually(LIMIT, "MetalMachine conditions and addresses", || async {
        let mm = mms.get("acc-mm1").await.ok()?;
        let s = mm.status.as_ref()?;
        let all_true = [
            "TalosConfigLoaded",
            "TalosConfigValidated",
            "TalosInstalled",
        ]
        .iter()
        .all(|c| condition::is_true(&s.conditions, c));
        (all_true && !s.addresses.is_empty()).then_some(mm)
    })
    .await;
    let addrs: Vec<(String, String)> = mm
        .status
        .unwrap()
        .addresses
        .into_iter()
        .map(|a| (a.type_, a.address))
        .collect();
    assert_eq!(
        addrs,
        [
            ("InternalIP".to_string(), "192.0.2.10".to_string()),
            ("Hostname".to_string(), "talos-acc".to_string())
        ]
    );
    // The Server controller marks the Server PXE-booted...
    let servers = Api::<Server>::all(client.clone());
    eventually(LIMIT, "Server PXEBooted", || async {
        let s = servers.get(UUID).await.ok()?;
        s.condition("PXEBooted")
            .is_some_and(|c| c.status == "True")
            .then_some(())
    })
    .await;
    // ...and /ipxe now boots it from disk.
    let (code, script) = talos_sim::http_get_in(
        node_ns.name(),
        http,
        &format!("/ipxe?uuid={UUID}&mac=52-54-00-ac-c0-01&arch=x86_64"),
    )
    .await
    .unwrap();
    assert_eq!((code, script.as_str()), (200, "#!ipxe\nexit\n"));

    // sideroctl logs --events: readable event lines.
    let events = sideroctl_output(sideroctl(&ctl_endpoint, false, true, None)).await;
    let first = events.lines().next().unwrap_or_default();
    assert!(
        first.contains("AddressEvent") && first.contains("hostname=talos-acc"),
        "{events}"
    );
    assert!(
        events.contains("SequenceEvent") && events.contains("sequence=boot"),
        "{events}"
    );
    println!("sideroctl logs --events:\n{events}");
    drop(node);
    drop(manager);
}

/// A loopback port on the host forwarding to `target` inside namespace `ns` (how an operator's
/// sideroctl reaches the manager's HTTP port).
async fn forward_into(ns: &Netns, target: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let name = ns.name().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut outside, _)) = listener.accept().await else {
                return;
            };
            let name = name.clone();
            tokio::spawn(async move {
                if let Ok(mut inside) =
                    sidero_testenv::netns::connect_in(&name, target, Duration::from_secs(5)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
                }
            });
        }
    });
    addr
}
