//! The reboot-timeout loop through the `sidero-controller-manager` binary with upstream's
//! flags (`--test-power-simulated-silent-failure-prob`, `--server-reboot-timeout`) and ours
//! (`--management-api-timeout`): the same promises as `reboot_loop`, the failures now drawn
//! from the OS-seeded generator, counted at the machine (calls that got through).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "support/machine.rs"]
mod machine;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;

const REBOOT_TIMEOUT: Duration = Duration::from_secs(3);

/// Kills the manager when the test ends, also on panic.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_retries_silently_lost_commands_after_its_reboot_timeout() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tftp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("manager.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sidero-controller-manager"))
        .args(["--api-endpoint=127.0.0.1", "--http-bind=127.0.0.1"])
        .arg(format!("--http-port={http}"))
        .arg(format!("--tftp-addr=127.0.0.1:{tftp}"))
        .args([
            "--disable-dhcp-proxy",
            "--enable-leader-election=false",
            "--health-addr=127.0.0.1:0",
            "--diagnostics-address=127.0.0.1:0",
            "--ipxe-dir=/usr/lib/ipxe",
            "--talos-assets-base=http://127.0.0.1:9/talos",
            "--test-power-simulated-silent-failure-prob=0.5",
            "--management-api-timeout=2s",
        ])
        .arg(format!(
            "--server-reboot-timeout={}s",
            REBOOT_TIMEOUT.as_secs()
        ))
        .arg(format!("--tftp-dir={}", dir.path().join("tftp").display()))
        .arg(format!("--env-dir={}", dir.path().join("env").display()))
        .arg(format!("--kubeconfig={}", cp.kubeconfig().display()))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let _guard = Guard(child);

    let (endpoint, m) = machine::machine().await;
    let servers: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "srv-loop-manager"},
        "spec": {"accepted": true, "managementApi": {"endpoint": endpoint}}
    }))
    .unwrap();
    let started = Instant::now();
    servers.create(&PostParams::default(), &s).await.unwrap();
    let obs = machine::observe(
        &servers,
        "srv-loop-manager",
        &m,
        started,
        3,
        Duration::from_secs(90),
    )
    .await;
    let machine = m.lock().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    eprintln!(
        "reboot loop (manager binary): {:.1}s, {} sequences, at the machine ({} calls): {:?}, \
         {} PXE boots",
        obs.elapsed.as_secs_f64(),
        obs.issued.len(),
        machine.calls.len(),
        machine.calls,
        machine.pxe_boots
    );
    assert!(
        log.contains("test_power_simulated_silent_failure_prob: 0.5"),
        "the flag reached the power settings:\n{log}"
    );
    machine::assert_converged_without_tight_loop(
        &obs,
        &machine,
        machine.calls.len() as u64,
        REBOOT_TIMEOUT,
        3,
    );
}
