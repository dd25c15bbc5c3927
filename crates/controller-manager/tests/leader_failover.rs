//! Two `sidero-controller-manager` replicas against the real control plane with upstream's
//! leader election (Lease `sidero-system/controller-leader-election-sidero-controller-manager`):
//! both serve the boot endpoints and report ready; only the Lease holder runs controllers.
//! After the leader is SIGKILLed the other takes the Lease within 15 s, reconciles a Server
//! created after the kill (finalizer added) and *boots* another one: an accepted, dirty Server
//! whose `spec.bmc` is a real `ipmi_sim` on loopback. The survivor sets PXE once and powers it
//! on over IPMI; the test, seeing `power 1` in the BMC's chassis hook record, plays the
//! machine's iPXE (`/boot.ipxe`, its `chain` to `/ipxe?uuid=…&mac=…`, the agent environment's
//! kernel and initramfs) and then its agent (`MarkServerAsWiped` with the `sidero.token=` the
//! script handed out) against the survivor, which powers the machine off and reports it clean.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod manager_proc;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::PostParams;
use manager_proc::{Manager, ensure_namespace, get};
use serde_json::json;
use sidero_api::metal::v1alpha2::{SERVER_FINALIZER, Server};
use sidero_controller_manager::agent::auth::AGENT_TOKEN_METADATA;
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use sidero_testenv::ipmi_sim::{IpmiSim, PASSWORD, USER};

const LEASE: &str = "controller-leader-election-sidero-controller-manager";

/// The machine behind the BMC: SMBIOS UUID (the Server's name) and its NIC.
const UUID: &str = "fa11fa11-0000-4000-8000-00000000b007";
const MAC: &str = "52:54:00:fa:11:07";

/// Every test here starts managers that lead some Lease and so run the Server controller over
/// the shared API server: one at a time, so that the BMC's commands can only come from the
/// replica under test.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

/// The pid in a `<host>_<pid>_<nonce>` identity.
fn pid_of(identity: &str) -> Option<u32> {
    identity.split('_').rev().nth(1)?.parse().ok()
}

async fn create_server(servers: &Api<Server>, name: &str) {
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name}, "spec": {"accepted": false}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();
}

async fn has_finalizer(servers: &Api<Server>, name: &str) -> bool {
    servers.get_opt(name).await.ok().flatten().is_some_and(|s| {
        s.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == SERVER_FINALIZER)
    })
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Failure context: both replicas' log tails and the BMC's record.
fn context(dead: &Manager, survivor: &Manager, bmc: &IpmiSim) -> String {
    format!(
        "--- killed leader (pid {}) log tail:\n{}\n--- survivor (pid {}) log tail:\n{}\n--- BMC sets: {:?}",
        dead.pid(),
        tail(&dead.log(), 40),
        survivor.pid(),
        tail(&survivor.log(), 60),
        bmc.state("log").lines().collect::<Vec<_>>()
    )
}

/// The accepted, dirty Server of the machine behind `bmc` (credentials in a Secret).
async fn create_bmc_server(client: &kube::Client, bmc: &IpmiSim) {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bmc-failover", "namespace": "default"},
        "stringData": {"user": USER, "pass": PASSWORD}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let server: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": UUID},
        "spec": {"accepted": true, "bmc": {
            "endpoint": "127.0.0.1", "port": bmc.port,
            "userFrom": {"secretKeyRef": {"namespace": "default", "name": "bmc-failover", "key": "user"}},
            "passFrom": {"secretKeyRef": {"namespace": "default", "name": "bmc-failover", "key": "pass"}}
        }}
    }))
    .unwrap();
    Api::<Server>::all(client.clone())
        .create(&PostParams::default(), &server)
        .await
        .unwrap();
}

/// The `/ipxe` URL the `chain` line of `/boot.ipxe` makes for this machine, with iPXE's
/// settings expanded as a BIOS iPXE on net0 would (`hexhyp` MAC, empty domain and serial).
fn chain_url(boot_script: &str) -> String {
    let line = boot_script
        .lines()
        .find_map(|l| l.strip_prefix("chain --replace "))
        .unwrap_or_else(|| panic!("no chain line in /boot.ipxe:\n{boot_script}"));
    let url = line.split(" || ").next().unwrap();
    url.replace("${uuid}", UUID)
        .replace("${net${idx}/mac:hexhyp}", &MAC.replace(':', "-"))
        .replace("${domain}", "")
        .replace("${hostname}", "")
        .replace("${serial}", "")
        .replace("${buildarch}", "i386")
}

/// The value of `key=` in an iPXE `kernel` line.
fn kernel_arg<'a>(script: &'a str, key: &str) -> Option<&'a str> {
    let kernel = script.lines().find(|l| l.starts_with("kernel "))?;
    kernel
        .split_whitespace()
        .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
}

/// Notes and reporting instances of the Events about Server `name`.
async fn events_of(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    Api::<Event>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.note.unwrap_or_default(),
                e.reporting_instance.unwrap_or_default(),
            )
        })
        .collect()
}

/// Polls `f` every 100 ms until it yields, failing after `timeout` with `context()`.
async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> F,
    context: impl Fn() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_takes_over_within_15s_of_the_leaders_death_and_boots_a_new_server() {
    let _serial = SERIAL.lock().await;
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    ensure_namespace(&client, "sidero-system").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "sidero-system");
    let servers: Api<Server> = Api::all(client.clone());
    // The machine's BMC, powered off; its hook records every `set`.
    let bmc = IpmiSim::start().unwrap();

    // Both replicas with the Deployment's leader-election flag and default Lease settings;
    // POD_NAME names each in the Events it records, as in a pod.
    let flags = ["--enable-leader-election".to_string()];
    let mut a = Manager::start_with_env(cp.kubeconfig(), &flags, &[("POD_NAME", "replica-a")]);
    let mut b = Manager::start_with_env(cp.kubeconfig(), &flags, &[("POD_NAME", "replica-b")]);

    let start = Instant::now();
    let leader = loop {
        if let Some(h) = holder(&leases).await {
            break h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no leader:\n--- a:\n{}\n--- b:\n{}",
            tail(&a.log(), 40),
            tail(&b.log(), 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let leader_pid = pid_of(&leader).unwrap();
    assert!(
        [a.pid(), b.pid()].contains(&leader_pid),
        "holder {leader} is neither replica ({}, {})",
        a.pid(),
        b.pid()
    );
    let (dead, survivor, survivor_name) = if a.pid() == leader_pid {
        (&mut a, &mut b, "replica-b")
    } else {
        (&mut b, &mut a, "replica-a")
    };

    // The leader reconciles; both replicas serve boot endpoints and report ready.
    create_server(&servers, "before-kill").await;
    let start = Instant::now();
    while !has_finalizer(&servers, "before-kill").await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "leader idle:\n{}",
            dead.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for m in [&*dead, &*survivor] {
        assert_eq!(get(&m.url("/boot.ipxe")).0, 200);
        let ready = get(&format!("http://127.0.0.1:{}/readyz", m.health));
        assert_eq!(ready, (200, "ok".to_string()), "{}", m.log());
        assert_eq!(
            get(&format!("http://127.0.0.1:{}/healthz", m.health)).0,
            200
        );
    }
    assert!(
        !survivor.log().contains("starting the controllers"),
        "the follower started controllers while the other led:\n{}",
        survivor.log()
    );
    assert_eq!(bmc.state("log"), "", "nobody touched the BMC yet");

    // Kill the leader without letting it release the Lease; then the two new Servers.
    dead.kill();
    let killed = Instant::now();
    create_server(&servers, "after-kill").await;
    create_bmc_server(&client, &bmc).await;
    let mut took_over = None;
    loop {
        let h = holder(&leases).await;
        if took_over.is_none() && h.as_deref().and_then(pid_of) == Some(survivor.pid()) {
            took_over = Some(killed.elapsed());
        }
        if took_over.is_some() && has_finalizer(&servers, "after-kill").await {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "no takeover within 15 s (holder {h:?}):\n{}",
            context(dead, survivor, &bmc)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took_over = took_over.unwrap_or_default();
    let reconciled = killed.elapsed();
    let lease = leases.get(LEASE).await.unwrap();
    assert!(lease.spec.unwrap().lease_transitions.unwrap_or(0) >= 1);
    let ctx = || context(dead, survivor, &bmc);

    // The survivor boots the new machine through its BMC: PXE once, then power on.
    wait_for(
        "power on through the BMC",
        Duration::from_secs(30),
        || async { (bmc.state("power") == "1").then_some(()) },
        ctx,
    )
    .await;
    let powered_on = killed.elapsed();
    let sets = bmc.state("log");
    let sets: Vec<&str> = sets.lines().collect();
    let pxe: Vec<usize> = (0..sets.len()).filter(|i| sets[*i] == "boot pxe").collect();
    let on = sets.iter().position(|l| *l == "power 1");
    assert!(
        pxe.len() == 1 && Some(pxe[0]) < on,
        "PXE once, before power on: {sets:?}"
    );
    assert_eq!(bmc.state("boot"), "pxe", "{sets:?}");
    let events = wait_for(
        "the power-on Event",
        Duration::from_secs(10),
        || async {
            let ev = events_of(&client, UUID).await;
            ev.iter()
                .any(|(n, _)| n == "Server powered on and set to PXE boot once.")
                .then_some(ev)
        },
        ctx,
    )
    .await;
    for (note, by) in &events {
        assert_eq!(by, survivor_name, "{note:?} reported by {by:?}: {events:?}");
    }
    assert!(
        tail(&survivor.log(), 10_000).contains("starting the controllers"),
        "{}",
        ctx()
    );

    // Powered on, the machine network-boots as iPXE would, from the survivor: the embedded
    // script, its chain to /ipxe, then the agent environment's kernel and initramfs.
    let (status, script) = get(&survivor.url("/boot.ipxe"));
    assert_eq!(status, 200, "{script}");
    let url = chain_url(&script);
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:{}/ipxe?uuid={UUID}&mac=",
            survivor.http
        )),
        "the script chains to the survivor: {url}"
    );
    let env_dir = survivor.dir.path().join("env/agent-amd64");
    std::fs::create_dir_all(&env_dir).unwrap();
    std::fs::write(env_dir.join("vmlinuz"), b"agent kernel").unwrap();
    std::fs::write(env_dir.join("initramfs.xz"), b"agent initramfs").unwrap();
    let (status, agent_script) = get(&url);
    let ipxe_at = killed.elapsed();
    assert_eq!(status, 200, "{agent_script}\n{}", ctx());
    let lines: Vec<&str> = agent_script.lines().collect();
    assert_eq!(lines.first(), Some(&"#!ipxe"), "{agent_script}");
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.starts_with("kernel /env/agent-amd64/vmlinuz ")),
        "{agent_script}"
    );
    assert_eq!(
        lines.get(2..),
        Some(&["initrd /env/agent-amd64/initramfs.xz", "boot"][..]),
        "{agent_script}"
    );
    assert_eq!(
        kernel_arg(&agent_script, "sidero.mac"),
        Some(MAC),
        "{agent_script}"
    );
    let endpoint = kernel_arg(&agent_script, "sidero.endpoint").unwrap();
    assert_eq!(
        endpoint,
        format!("127.0.0.1:{}", survivor.http),
        "{agent_script}"
    );
    let token = kernel_arg(&agent_script, "sidero.token")
        .unwrap_or_else(|| panic!("an accepted server's agent gets a token:\n{agent_script}"))
        .to_string();
    for (file, want) in [
        ("vmlinuz", "agent kernel"),
        ("initramfs.xz", "agent initramfs"),
    ] {
        let fetched = get(&survivor.url(&format!("/env/agent-amd64/{file}")));
        assert_eq!(fetched, (200, want.to_string()), "{file}");
    }
    let st = servers.get(UUID).await.unwrap().status.unwrap_or_default();
    assert!(!st.is_clean && !st.ready, "dirty until wiped: {st:?}");

    // The agent, booted, reports the wipe on the endpoint it was given: a foreign token is
    // refused, its own is accepted; the survivor powers the machine off.
    let mut agent = AgentClient::connect(format!("http://{endpoint}"))
        .await
        .unwrap();
    let wiped = |t: &str| {
        let mut r = tonic::Request::new(api::MarkServerAsWipedRequest { uuid: UUID.into() });
        r.metadata_mut()
            .insert(AGENT_TOKEN_METADATA, t.parse().unwrap());
        r
    };
    let refused = agent
        .mark_server_as_wiped(wiped("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    agent.mark_server_as_wiped(wiped(&token)).await.unwrap();
    let wiped_at = killed.elapsed();
    wait_for(
        "power off through the BMC",
        Duration::from_secs(30),
        || async { (bmc.state("power") == "0").then_some(()) },
        ctx,
    )
    .await;
    let off_at = killed.elapsed();
    let st = wait_for(
        "the Server clean, ready and off",
        Duration::from_secs(20),
        || async {
            let st = servers.get(UUID).await.ok()?.status?;
            (st.is_clean && st.ready && st.power.as_deref() == Some("off")).then_some(st)
        },
        ctx,
    )
    .await;
    assert!(st.is_clean);
    let clean_at = killed.elapsed();
    let sets = bmc.state("log");
    assert_eq!(sets.lines().last(), Some("power 0"), "{sets}");
    assert_eq!(
        sets.lines().filter(|l| *l == "boot pxe").count(),
        1,
        "PXE set once: {sets}"
    );
    let events = events_of(&client, UUID).await;
    assert!(
        events
            .iter()
            .any(|(n, by)| n == "Server powered off." && by == survivor_name),
        "{events:?}"
    );
    println!(
        "failover: lease taken {:.1} s after SIGKILL, new server reconciled after {:.1} s; \
         boot timeline after SIGKILL: PXE+power on {:.1} s, /ipxe {:.1} s, wiped {:.1} s, \
         power off {:.1} s, clean {:.1} s; BMC sets {:?}",
        took_over.as_secs_f64(),
        reconciled.as_secs_f64(),
        powered_on.as_secs_f64(),
        ipxe_at.as_secs_f64(),
        wiped_at.as_secs_f64(),
        off_at.as_secs_f64(),
        clean_at.as_secs_f64(),
        sets.lines().collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_releases_the_lease() {
    let _serial = SERIAL.lock().await;
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    ensure_namespace(&client, "default").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let flags = [
        "--enable-leader-election".to_string(),
        "--leader-election-namespace=default".to_string(),
        "--leader-election-id=release-test".to_string(),
    ];
    let m = Manager::start(cp.kubeconfig(), &flags);
    let start = Instant::now();
    let held = |l: Option<Lease>| {
        l.and_then(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty())
    };
    while held(leases.get_opt("release-test").await.unwrap()).is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", m.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGTERM, as the kubelet stops a pod: the Lease is emptied for the next replica.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &m.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while held(leases.get_opt("release-test").await.unwrap()).is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "lease not released:\n{}",
            m.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
