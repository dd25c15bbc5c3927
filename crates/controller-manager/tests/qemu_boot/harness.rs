//! Shared by the QEMU tests (`qemu_boot`, `qemu_bmc`): the boot environment built by
//! `tools/initramfs/build.sh`, the real manager started in a [`Lab`] namespace, and reading
//! its JSON log.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sidero_testenv::lab::{Lab, MANAGER_IP};

/// The port the manager listens on and advertises (in the namespace, so upstream's default).
pub const API_PORT: u16 = 8081;

/// Runs `tools/initramfs/build.sh <args>` (cached by its inputs) and returns the folder with
/// `vmlinuz` and `initramfs.xz`.
pub fn build_environment(args: &[&str]) -> PathBuf {
    sidero_testenv::bootenv::build_environment(args).unwrap()
}

/// Starts the manager in the namespace against the test API server (reached through
/// [`Lab::forward_host_port`]), serving `env` as the `agent-amd64` environment; `extra`
/// flags are appended. Waits until it serves.
pub fn start_manager(lab: &mut Lab, kubeconfig: &Path, env: &Path, extra: &[String]) {
    let env_dir = lab.path("env");
    std::fs::create_dir_all(env_dir.join("agent-amd64")).unwrap();
    for name in ["vmlinuz", "initramfs.xz"] {
        std::os::unix::fs::symlink(env.join(name), env_dir.join("agent-amd64").join(name)).unwrap();
    }
    let mut args: Vec<String> = vec![
        format!("--api-endpoint={MANAGER_IP}"),
        format!("--api-port={API_PORT}"),
        format!("--http-port={API_PORT}"),
        // Upstream's `:69`. The manager's address is the bridge's second one: a wildcard
        // TFTP socket alone would answer from the primary (10.214.0.1), which OVMF drops (it
        // then falls back to UEFI HTTP boot after ~90 s); the manager also binds
        // 10.214.0.2:69 for that, and the UEFI test checks the TFTP transfer.
        "--tftp-addr=:69".into(),
        "--dhcp-ipxe-clients=http-script".into(),
        "--enable-leader-election=false".into(),
        "--health-addr=127.0.0.1:0".into(),
        "--diagnostics-address=127.0.0.1:0".into(),
        "--ipxe-dir=/usr/lib/ipxe".into(),
        // The `default` Environment's assets: nothing to download in this test, and nothing
        // may leave the namespace.
        "--talos-assets-base=http://127.0.0.1:9".into(),
        format!("--tftp-dir={}", lab.path("tftp").display()),
        format!("--env-dir={}", env_dir.display()),
        format!("--kubeconfig={}", kubeconfig.display()),
    ];
    args.extend(extra.iter().cloned());
    lab.spawn(
        "manager",
        env!("CARGO_BIN_EXE_sidero-controller-manager"),
        &args,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lab.log("manager").contains("serving HTTP and gRPC") {
        assert!(
            lab.running("manager"),
            "manager exited:\n{}",
            lab.log("manager")
        );
        assert!(
            Instant::now() < deadline,
            "manager not serving:\n{}",
            lab.log("manager")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Everything the machine and the services printed, for failure messages.
pub fn context(lab: &Lab) -> String {
    format!(
        "--- serial:\n{}\n--- manager:\n{}\n--- qemu:\n{}\n--- dnsmasq:\n{}",
        String::from_utf8_lossy(&std::fs::read(lab.path("serial.log")).unwrap_or_default()),
        lab.log("manager"),
        lab.log("qemu"),
        std::fs::read_to_string(lab.path("dnsmasq-dhcp.log")).unwrap_or_default()
    )
}

/// The manager's JSON log lines whose message is `message`.
pub fn log_events(log: &str, message: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"].as_str() == Some(message))
        .collect()
}

/// A string field of a log line.
pub fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v["fields"][name].as_str().unwrap_or_default()
}
