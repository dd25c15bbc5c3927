//! A BMC that boots a real machine, driven by the real Server controller: in a network
//! namespace (see `qemu_boot`), `ipmi_sim` is the machine's BMC, and its `chassis_control`
//! hook starts and stops a QEMU VM (BIOS, iPXE ROM) on the lab's bridge. An accepted, dirty
//! Server whose `spec.bmc` names that BMC (credentials in a Secret) is handed to the
//! manager: it sets PXE boot once and powers on over IPMI, the VM network-boots through our
//! proxy DHCP into `/ipxe` and the agent environment (an initramfs that prints a marker and
//! stays up); once the test, playing the agent, calls `MarkServerAsWiped` over the Agent
//! API, the controller powers it off and the BMC stops QEMU.
//!
//! Needs what `qemu_boot` needs plus `openipmi` and `ipmitool` (scripts/test.sh installs
//! them). QEMU runs with TCG, so timeouts are minutes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../qemu_boot/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{API_PORT, build_environment, field, log_events, start_manager};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use sidero_testenv::bmc_hook::{alive, qemu_hook, vm_pid};
use sidero_testenv::ipmi_sim::{self, PASSWORD, USER};
use sidero_testenv::lab::{Lab, MANAGER_IP, missing_prerequisite};
use sidero_testenv::vm::{self, Firmware};

const UUID: &str = "b3c0b3c0-0000-4000-8000-00000000b3c0";
const MAC: &str = "52:54:00:5e:b3:c0";
/// The BMC's address inside the namespace (RMCP's standard port).
const BMC_ADDR: &str = "127.0.0.1";
const BMC_PORT: u16 = 623;
/// Power on to the marker under TCG on a loaded 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);

fn wait<T>(what: &str, timeout: Duration, lab: &Lab, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}\n--- bmc log:\n{}\n{}",
            std::fs::read_to_string(lab.path("bmc/state/log")).unwrap_or_default(),
            harness::context(lab)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_boots_a_machine_through_its_bmc_and_powers_it_off_once_clean() {
    if let Some(why) = missing_prerequisite() {
        panic!("QEMU BMC test cannot run: {why}");
    }
    let env = build_environment(&[
        "--init",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/qemu_bmc/hold-init.sh"),
        "--module",
        "virtio_pci",
        "--module",
        "virtio_net",
    ]);
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let api_port: u16 = cp.url().rsplit(':').next().unwrap().parse().unwrap();

    let mut lab = Lab::new().unwrap();
    lab.forward_host_port(api_port).unwrap();
    lab.start_dnsmasq().unwrap();

    // The BMC, in the namespace; its hook powers the VM.
    let bmc_dir = lab.path("bmc");
    let state = bmc_dir.join("state");
    let qemu = vm::qemu_args(&lab, Firmware::Bios, UUID, MAC).unwrap();
    let args = ipmi_sim::prepare(&bmc_dir, BMC_ADDR, BMC_PORT, &qemu_hook(&qemu).unwrap()).unwrap();
    lab.kill_on_drop(state.join("vm.pid"));
    lab.spawn("ipmi_sim", "ipmi_sim", &args).unwrap();
    ipmi_sim::wait_ready(Some(&lab.ns), BMC_ADDR, BMC_PORT, Duration::from_secs(15)).unwrap();
    assert!(vm_pid(&state).is_none(), "the machine starts powered off");

    // The Server, as the agent would have registered it, accepted and dirty; BMC credentials
    // in a Secret.
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "bmc-b3c0", "namespace": "default"},
        "stringData": {"user": USER, "pass": PASSWORD}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let servers: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": UUID},
        "spec": {"accepted": true, "bmc": {
            "endpoint": BMC_ADDR, "port": BMC_PORT,
            "userFrom": {"secretKeyRef": {"namespace": "default", "name": "bmc-b3c0", "key": "user"}},
            "passFrom": {"secretKeyRef": {"namespace": "default", "name": "bmc-b3c0", "key": "pass"}}
        }}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();

    let started = Instant::now();
    start_manager(
        &mut lab,
        cp.kubeconfig(),
        &env,
        &["--ipmi-pxe-method=bios".to_string()],
    );

    // The controller sets PXE once, then powers on: the hook starts QEMU.
    let pid = wait(
        "power on through the BMC",
        Duration::from_secs(60),
        &lab,
        || vm_pid(&state),
    );
    let powered_on = started.elapsed();
    let bmc_log = std::fs::read_to_string(state.join("log")).unwrap();
    let sets: Vec<&str> = bmc_log.lines().collect();
    let pxe_at = sets.iter().position(|l| *l == "boot pxe");
    let on_at = sets.iter().position(|l| *l == "power 1");
    assert!(
        pxe_at.is_some() && pxe_at < on_at,
        "PXE once before power on: {sets:?}"
    );

    // Its network boot reaches /ipxe with its UUID and MAC, then the agent environment.
    let decision = wait("the VM's /ipxe request", BOOT_TIMEOUT, &lab, || {
        log_events(&lab.log("manager"), "ipxe decision")
            .into_iter()
            .find(|d| field(d, "uuid") == UUID)
    });
    let ipxe_at = started.elapsed();
    assert_eq!(
        field(&decision, "mac"),
        format!("Some(\"{MAC}\")"),
        "{decision}"
    );
    assert_eq!(field(&decision, "branch"), "agent", "{decision}");
    let serial = lab.path("serial.log");
    let marker = wait("the agent environment's marker", BOOT_TIMEOUT, &lab, || {
        let text =
            String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
        let at = text.find("SIDERO-MARKER ")?;
        let line = text[at..].split_once('\n')?.0.trim_end().to_owned();
        Some(line)
    });
    let marker_at = started.elapsed();
    assert!(marker.contains(&format!("uuid={UUID} ")), "{marker}");
    assert!(alive(pid), "the VM stays up in the agent environment");
    let s = servers.get(UUID).await.unwrap();
    let st = s.status.clone().unwrap_or_default();
    assert!(!st.is_clean && !st.ready, "{st:?}");

    // The agent reports the wipe over the Agent API (through a forward into the namespace):
    // the Server is clean, and the controller powers the machine off.
    let grpc_port = lab.forward_into_ns(MANAGER_IP, API_PORT).await.unwrap();
    let mut agent = AgentClient::connect(format!("http://127.0.0.1:{grpc_port}"))
        .await
        .unwrap();
    agent
        .mark_server_as_wiped(api::MarkServerAsWipedRequest { uuid: UUID.into() })
        .await
        .unwrap();
    let clean = Instant::now();
    wait(
        "QEMU stopped by the BMC",
        Duration::from_secs(60),
        &lab,
        || (!alive(pid)).then_some(()),
    );
    let off_after = clean.elapsed();
    let bmc_log = std::fs::read_to_string(state.join("log")).unwrap();
    assert_eq!(bmc_log.lines().last(), Some("power 0"), "{bmc_log}");
    let out = ipmi_sim::ipmitool(
        Some(&lab.ns),
        BMC_ADDR,
        BMC_PORT,
        &["chassis", "power", "status"],
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Chassis Power is off"),
        "{out:?}"
    );
    let mut ready = None;
    for _ in 0..100 {
        let s = servers.get(UUID).await.unwrap();
        let st = s.status.unwrap_or_default();
        if st.ready && st.is_clean && st.power.as_deref() == Some("off") {
            ready = Some(st);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready.is_some(), "the Server is clean, ready and off");
    // The controller said what it did, on the Server.
    let notes: Vec<String> = Api::<Event>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(UUID))
        .filter_map(|e| e.note)
        .collect();
    for want in [
        "Server powered on and set to PXE boot once.",
        "Server powered off.",
    ] {
        assert!(notes.iter().any(|n| n == want), "{want:?} not in {notes:?}");
    }
    eprintln!(
        "qemu bmc: powered on after {:.1}s, /ipxe after {:.1}s, marker after {:.1}s; \
         off {:.1}s after marked clean; BMC sets {:?}",
        powered_on.as_secs_f64(),
        ipxe_at.as_secs_f64(),
        marker_at.as_secs_f64(),
        off_after.as_secs_f64(),
        bmc_log.lines().collect::<Vec<_>>()
    );
}
