//! Fault: both managers, as the processes operators run (`sidero-controller-manager` and
//! `caps-controller-manager`), killed with SIGKILL at seeded random points while servers are
//! discovered (CreateServer over gRPC), accepted, allocated to MetalMachines, released and
//! wiped (MarkServerAsWiped, as the agent). 100 iterations; after each, no server is claimed
//! by two machines; every 25 iterations and at the end, once the restarted managers settled,
//! every Server, ServerBinding and MetalMachine is consistent (see [`inconsistencies`]).
//!
//! `SIDERO_KILL9_SEED` replays a run. The manager binary comes from the same target folder
//! (`cargo test --workspace` builds it; alone: `cargo build -p sidero-controller-manager`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "caps/fixtures.rs"]
mod fixtures;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::Server;
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use tonic::transport::Channel;

use fixtures::*;

const ITERATIONS: usize = 100;
const NS: &str = "kill9";
const CLASS: &str = "kill9-pool";

/// xorshift64*: reproducible from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

fn free_tcp() -> u16 {
    sidero_testenv::ports::free_tcp().unwrap()
}

/// One manager process, restarted on demand; SIGKILLed (`Child::kill`) when dropped.
struct Managed {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Managed {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.starts += 1;
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn assert_running(&mut self) {
        let exited = self.child.as_mut().and_then(|c| c.try_wait().unwrap());
        if let Some(status) = exited {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("{} exited: {status}\n{}", self.name, tail.join("\n"));
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn sidero_binary() -> PathBuf {
    let caps = Path::new(env!("CARGO_BIN_EXE_caps-controller-manager"));
    let p = caps.with_file_name("sidero-controller-manager");
    assert!(
        p.exists(),
        "{} missing: cargo build -p sidero-controller-manager",
        p.display()
    );
    p
}

fn uuid(i: usize) -> String {
    format!("9e000000-0000-4000-8000-{i:012x}")
}

fn create_req(uuid: &str) -> api::CreateServerRequest {
    api::CreateServerRequest {
        hardware: Some(api::HardwareInformation {
            system: Some(api::SystemInformation {
                uuid: uuid.into(),
                manufacturer: "QEMU".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        hostname: "k9".into(),
    }
}

/// An agent call, retried while the manager is down (up to 15 s).
async fn agent_call<F, Fut, T>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let start = Instant::now();
    loop {
        match call().await {
            Ok(t) => return t,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(15)
                        && matches!(e.code(), tonic::Code::Unavailable | tonic::Code::Unknown),
                    "{what}: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

struct World {
    /// Registered server UUIDs.
    servers: Vec<String>,
    /// MetalMachines created so far.
    machines: usize,
}

fn mm_server(m: &MetalMachine) -> Option<String> {
    m.spec.server_ref.as_ref().and_then(|r| r.name.clone())
}

/// Servers claimed by more than one live MetalMachine (must never happen, even mid-crash).
async fn double_claims(client: &Client) -> Vec<String> {
    let mms = Api::<MetalMachine>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut seen = BTreeMap::<String, usize>::new();
    for m in &mms.items {
        if let Some(s) = mm_server(m) {
            *seen.entry(s).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(s, n)| format!("server {s} claimed by {n} machines"))
        .collect()
}

/// Everything that is wrong once the managers settled.
async fn inconsistencies(client: &Client, world: &World) -> Vec<String> {
    let mut bad = double_claims(client).await;
    let servers: BTreeMap<String, Server> = Api::<Server>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.name_any().starts_with("9e000000-"))
        .map(|s| (s.name_any(), s))
        .collect();
    let bindings: BTreeMap<String, ServerBinding> = Api::<ServerBinding>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|b| b.name_any().starts_with("9e000000-"))
        .map(|b| (b.name_any(), b))
        .collect();
    let mms: BTreeMap<String, MetalMachine> = Api::<MetalMachine>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| (m.name_any(), m))
        .collect();
    for u in &world.servers {
        if !servers.contains_key(u) {
            bad.push(format!("server {u} was registered and is gone"));
        }
    }
    for (name, b) in &bindings {
        let mm = b.spec.metal_machine_ref.name.clone().unwrap_or_default();
        match mms.get(&mm) {
            None => bad.push(format!("binding {name} names machine {mm}, which is gone")),
            Some(m) if mm_server(m).as_deref() != Some(name) => bad.push(format!(
                "binding {name} names machine {mm}, which claims {:?}",
                mm_server(m)
            )),
            Some(_) => {}
        }
        if !servers.contains_key(name) {
            bad.push(format!("binding {name} has no server"));
        }
    }
    for (name, m) in &mms {
        if m.metadata.deletion_timestamp.is_some() {
            bad.push(format!("machine {name} still being deleted"));
            continue;
        }
        if let Some(s) = mm_server(m)
            && !bindings.contains_key(&s)
        {
            bad.push(format!("machine {name} claims {s} without a binding"));
        }
    }
    let mut free_clean = 0;
    for (name, s) in &servers {
        let st = s.status.clone().unwrap_or_default();
        let bound = bindings.contains_key(name);
        if st.in_use != bound {
            bad.push(format!(
                "server {name}: inUse={} but bound={bound}",
                st.in_use
            ));
        }
        if bound && st.is_clean {
            bad.push(format!("server {name} is bound and marked clean"));
        }
        if !bound && st.is_clean && s.spec.accepted {
            free_clean += 1;
        }
    }
    let waiting = mms.values().filter(|m| mm_server(m).is_none()).count();
    if waiting > 0 && free_clean > 0 {
        bad.push(format!(
            "{waiting} machines wait while {free_clean} clean servers are free"
        ));
    }
    bad
}

/// Waits up to 30 s for the managers to settle into a consistent state; what is still wrong.
async fn settle(client: &Client, world: &World) -> Vec<String> {
    let start = Instant::now();
    loop {
        let bad = inconsistencies(client, world).await;
        if bad.is_empty() || start.elapsed() > Duration::from_secs(30) {
            return bad;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_killed_at_random_points_stay_consistent() {
    let test_start = Instant::now();
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    install_capi_crds(&client).await;
    namespace(&client, NS).await;
    cluster(&client, NS, "k9").await;
    let classes: Api<sidero_api::metal::v1alpha2::ServerClass> = Api::all(client.clone());
    classes
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"apiVersion": "metal.sidero.dev/v1alpha2",
                "kind": "ServerClass", "metadata": {"name": CLASS}, "spec": {"qualifiers": {}}}))
            .unwrap(),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp();
    let tftp = sidero_testenv::ports::free_udp().unwrap();
    let kubeconfig = format!("--kubeconfig={}", cp.kubeconfig().display());
    let mut sidero = Managed {
        name: "sidero-controller-manager",
        program: sidero_binary(),
        args: vec![
            "--api-endpoint=127.0.0.1".into(),
            "--http-bind=127.0.0.1".into(),
            format!("--http-port={http}"),
            format!("--tftp-addr=127.0.0.1:{tftp}"),
            "--disable-dhcp-proxy".into(),
            "--enable-leader-election=false".into(),
            // Free loopback ports, not the defaults both managers share (:8443).
            "--health-addr=127.0.0.1:0".into(),
            "--diagnostics-address=127.0.0.1:0".into(),
            "--ipxe-dir=/usr/lib/ipxe".into(),
            format!("--tftp-dir={}", dir.path().join("tftp").display()),
            format!("--env-dir={}", dir.path().join("env").display()),
            "--talos-assets-base=http://127.0.0.1:9/talos".into(),
            kubeconfig.clone(),
        ],
        log: dir.path().join("sidero.log"),
        child: None,
        starts: 0,
    };
    let mut caps = Managed {
        name: "caps-controller-manager",
        program: PathBuf::from(env!("CARGO_BIN_EXE_caps-controller-manager")),
        args: vec![
            format!("--health-addr=127.0.0.1:{}", free_tcp()),
            "--diagnostics-address=127.0.0.1:0".into(),
            kubeconfig,
        ],
        log: dir.path().join("caps.log"),
        child: None,
        starts: 0,
    };
    sidero.start();
    caps.start();
    let channel = Channel::from_shared(format!("http://127.0.0.1:{http}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let agent = AgentClient::new(channel);

    let seed = std::env::var("SIDERO_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9_5eed_u64);
    eprintln!("kill9 seed {seed:#x} (SIDERO_KILL9_SEED)");
    let mut rng = Rng(seed);
    let servers_api: Api<Server> = Api::all(client.clone());
    let mms: Api<MetalMachine> = Api::namespaced(client.clone(), NS);
    let mut world = World {
        servers: Vec::new(),
        machines: 0,
    };
    let mut kills = (0, 0);
    let mut checks = 0;
    let mut found: Vec<String> = Vec::new();

    for i in 0..ITERATIONS {
        // One step of the workload.
        match rng.next(5) {
            0 | 1 if world.servers.len() < 24 => {
                // Discovery: the agent registers, the operator accepts.
                let u = uuid(world.servers.len());
                agent_call("CreateServer", || {
                    let mut a = agent.clone();
                    let req = create_req(&u);
                    async move { a.create_server(req).await }
                })
                .await;
                servers_api
                    .patch(
                        &u,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"accepted": true}})),
                    )
                    .await
                    .unwrap();
                world.servers.push(u);
            }
            2 => {
                // Allocation: a new machine asks the pool.
                let name = format!("m{:03}", world.machines);
                machine(&client, NS, "k9", &name, Some(CLASS), None).await;
                world.machines += 1;
            }
            3 => {
                // Release: a machine goes away.
                let list = mms.list(&ListParams::default()).await.unwrap().items;
                let live: Vec<_> = list
                    .iter()
                    .filter(|m| m.metadata.deletion_timestamp.is_none())
                    .collect();
                if !live.is_empty() {
                    let m = live[rng.next(live.len() as u64) as usize];
                    let _ = mms.delete(&m.name_any(), &DeleteParams::default()).await;
                }
            }
            _ => {
                // Wipe: the agent reports dirty, free, accepted servers clean.
                let list = servers_api
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items;
                for s in list.iter().filter(|s| {
                    s.name_any().starts_with("9e000000-")
                        && s.spec.accepted
                        && s.status
                            .as_ref()
                            .is_none_or(|st| !st.is_clean && !st.in_use)
                }) {
                    let u = s.name_any();
                    agent_call("MarkServerAsWiped", || {
                        let mut a = agent.clone();
                        let req = api::MarkServerAsWipedRequest { uuid: u.clone() };
                        async move { a.mark_server_as_wiped(req).await }
                    })
                    .await;
                }
            }
        }
        // A kill at a random point while the managers work on it.
        tokio::time::sleep(Duration::from_millis(rng.next(300))).await;
        match rng.next(4) {
            0 => {
                sidero.assert_running();
                sidero.kill9();
                kills.0 += 1;
                sidero.start();
            }
            1 => {
                caps.assert_running();
                caps.kill9();
                kills.1 += 1;
                caps.start();
            }
            2 => {
                sidero.kill9();
                caps.kill9();
                kills = (kills.0 + 1, kills.1 + 1);
                caps.start();
                sidero.start();
            }
            _ => {}
        }
        found.extend(double_claims(&client).await);
        if (i + 1) % 25 == 0 {
            checks += 1;
            let bad = settle(&client, &world).await;
            eprintln!(
                "iteration {}: {} servers, {} machines, kills sidero/caps {:?}, inconsistencies {}",
                i + 1,
                world.servers.len(),
                world.machines,
                kills,
                bad.len()
            );
            found.extend(bad);
        }
    }
    sidero.assert_running();
    caps.assert_running();
    let bound = mms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|m| mm_server(m).is_some())
        .count();
    eprintln!(
        "kill9: {ITERATIONS} iterations, {} servers, {} machines ({bound} bound now), SIGKILLs sidero {} caps {}, {} consistency checks, inconsistencies {} in {:?}",
        world.servers.len(),
        world.machines,
        kills.0,
        kills.1,
        checks,
        found.len(),
        test_start.elapsed()
    );
    let unique: BTreeSet<_> = found.iter().collect();
    assert!(unique.is_empty(), "inconsistencies: {unique:#?}");
    assert!(kills.0 >= 20 && kills.1 >= 20, "too few kills: {kills:?}");
    assert!(world.machines > 5 && world.servers.len() > 5);
    assert!(
        bound > 0,
        "nothing was ever allocated: the checks would be vacuous"
    );
}
