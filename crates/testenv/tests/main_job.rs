//! The main job (`scripts/run.sh`, issue 8) once to completion: `sidero-lab --exit-when-done`
//! with the managers built as `scripts/run.sh` builds them. Three QEMU machines behind
//! `ipmi_sim` BMCs PXE-boot the real agent, are discovered, auto-accepted, wiped and `Ready`;
//! a cluster from `deploy/cluster-template.yaml` binds them; the Server controller powers them
//! on over IPMI and the Talos node simulators report their install. Checked from the lab's
//! summary and output, and from outside: afterwards no process it started is left, and its
//! network namespaces are gone. Prints the wall time, the acceptance figure ("under 15
//! minutes warm").
//!
//! Needs root and what `scripts/run.sh` installs (QEMU, dnsmasq, openipmi, ipmitool,
//! qemu-utils, iPXE); QEMU runs with TCG.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sidero_testenv::cargo_bin::workspace_bin;
use sidero_testenv::lab::missing_prerequisite;

/// The acceptance bound of the whole run.
const LIMIT: Duration = Duration::from_secs(15 * 60);

const UUIDS: [&str; 3] = [
    "4c4c4544-0000-4000-8000-000000000c01",
    "4c4c4544-0000-4000-8000-000000000a01",
    "4c4c4544-0000-4000-8000-000000000a02",
];

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

/// PIDs of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u64>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && alive(pid) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

#[test]
fn the_main_job_runs_to_completion_and_stops_everything_it_started() {
    if let Some(why) = missing_prerequisite() {
        panic!("the main job cannot run: {why}");
    }
    // As scripts/run.sh: both managers and sideroctl (the commands it prints) built.
    let manager = workspace_bin("sidero-controller-manager", "sidero-controller-manager").unwrap();
    let caps = workspace_bin("caps-controller-manager", "caps-controller-manager").unwrap();
    workspace_bin("sideroctl", "sideroctl").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let stdout_path = dir.path().join("stdout");

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sidero-lab"))
        .arg("--exit-when-done")
        .arg(format!("--summary={}", summary_path.display()))
        .env("SIDERO_MANAGER_BIN", &manager)
        .env("SIDERO_CAPS_BIN", &caps)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT + Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sidero-lab still running after {LIMIT:?}:\n{}",
                std::fs::read_to_string(&stdout_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let wall = started.elapsed();
    let out = std::fs::read_to_string(&stdout_path).unwrap();
    println!("{out}");
    assert!(status.success(), "sidero-lab failed: {status}\n{out}");

    // Readable output: phases in order, no log lines leaking, the next steps printed.
    let phases = [
        "==> building the agent boot environment",
        "==> starting etcd + kube-apiserver",
        "==> lab network namespace",
        "==> sidero-controller-manager in the namespace",
        "==> Cluster API core",
        "==> discovery",
        "==> creating cluster \"lab\"",
        "==> install",
        "Next, in another shell:",
        "==> stopping everything the lab started",
    ];
    let mut at = 0;
    for ph in phases {
        let found = out[at..].find(ph);
        assert!(found.is_some(), "{ph:?} missing or out of order:\n{out}");
        at += found.unwrap_or_default();
    }
    assert!(!out.contains("{\""), "no JSON log lines on stdout:\n{out}");
    for cmd in [
        "sideroctl get servers",
        "sideroctl describe server 4c4c4544-",
        "sideroctl logs --endpoint http://127.0.0.1:",
        "export KUBECONFIG=",
    ] {
        assert!(out.contains(cmd), "{cmd:?} not printed:\n{out}");
    }

    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    // Discovery: three servers accepted, clean, Ready and off, their BMCs recorded.
    let discovered = summary["discovered"].as_array().unwrap();
    assert_eq!(discovered.len(), 3, "{summary:#}");
    for s in discovered {
        assert!(UUIDS.contains(&s["name"].as_str().unwrap()), "{s}");
        for k in ["accepted", "clean", "ready"] {
            assert_eq!(s[k], true, "{k}: {s}");
        }
        assert_eq!(s["power"], "off", "{s}");
        assert!(s["bmc"].as_str().unwrap().starts_with("10.214.0.1"), "{s}");
    }
    let products: Vec<&str> = discovered
        .iter()
        .map(|s| s["product"].as_str().unwrap())
        .collect();
    assert_eq!(
        products.iter().filter(|p| **p == "lab-cp").count(),
        1,
        "{products:?}"
    );
    // Binding: three MetalMachines ready, each holding a different one of the servers,
    // installed, with the node's addresses.
    let machines = summary["final"]["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 3, "{summary:#}");
    let mut held: Vec<&str> = machines
        .iter()
        .map(|m| m["server"].as_str().unwrap())
        .collect();
    held.sort_unstable();
    let mut want = UUIDS.to_vec();
    want.sort_unstable();
    assert_eq!(held, want);
    for m in machines {
        assert_eq!(m["ready"], true, "{m}");
        assert_eq!(m["installed"], true, "{m}");
        let addrs: Vec<&str> = m["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            addrs.iter().any(|a| a.starts_with("InternalIP=10.214.0.2")),
            "{m}"
        );
    }
    // The servers are in use, powered on by the controller, and PXE-booted (install seen).
    for s in summary["final"]["servers"].as_array().unwrap() {
        assert_eq!(s["inUse"], true, "{s}");
        assert_eq!(s["pxeBooted"], true, "{s}");
        assert_eq!(s["power"], "on", "{s}");
    }
    // Each simulated node fetched its config, joined SideroLink and sent its install events.
    let talos = summary["talos"].as_array().unwrap();
    assert_eq!(talos.len(), 3);
    for steps in talos {
        let steps: Vec<&str> = steps
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for want in [
            "machine config fetched",
            "SideroLink up",
            "install events sent",
        ] {
            assert!(steps.iter().any(|s| s.contains(want)), "{want}: {steps:?}");
        }
    }

    // Nothing it started is left: no PID, no process naming its folders, no namespace.
    let pids: Vec<u64> = summary["pids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(pids.len() >= 12, "managers, peers, BMCs, nodes: {pids:?}");
    let left: Vec<u64> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
    for d in summary["dirs"].as_array().unwrap() {
        let d = d.as_str().unwrap();
        let left = processes_mentioning(d);
        assert!(left.is_empty(), "processes of {d} left: {left:#?}");
        assert!(!std::path::Path::new(d).exists(), "{d} removed");
    }
    let ns = summary["netns"].as_str().unwrap();
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.lines().any(|l| l.starts_with(ns)),
        "namespaces of {ns} left:\n{list}"
    );

    println!(
        "main job: {:.1}s wall (limit {LIMIT:?}); phases {}",
        wall.as_secs_f64(),
        summary["phases"]
    );
    assert!(wall < LIMIT, "the main job took {wall:?}");
}
