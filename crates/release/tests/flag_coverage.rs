//! Every flag an operator can set on either manager is in its Deployment, through a
//! `${VAR:=default}` variable whose default means the binary's own default; the flags left
//! out are listed below with the reason. The flag sets come from the managers' own clap
//! definitions (what `--help` prints), so a new flag fails this test until it is either put
//! into the manifest (`crates/release/src/workloads.rs`) or allow-listed here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;

use clap::{CommandFactory, Parser};
use common::{docs, find, read, render, written};
use serde_json::Value;

/// Flags of sidero-controller-manager not in the Deployment, each with why.
const SIDERO_LEFT_OUT: &[(&str, &str)] = &[
    // In-cluster configuration; a kubeconfig is for running outside a pod (tests).
    ("kubeconfig", "in-cluster"),
    // Pinned by the pod spec: containerPort `healthz` 9440 and the probes that use it.
    ("health-addr", "probe port"),
    // Pinned by containerPort `webhook-server` 9443, the webhook Service's targetPort.
    ("webhook-port", "webhook Service"),
    // Where the `cert` volume (cert-manager's Secret) is mounted.
    ("webhook-cert-dir", "cert mount"),
    // The Lease lives in the pod's namespace, the only one where RBAC grants Leases.
    ("leader-election-namespace", "RBAC"),
    // Upstream's fixed Lease name: another name would let an old and a new replica both
    // lead during an upgrade.
    ("leader-election-id", "upgrade safety"),
    // The image's layout: the agent environment ships at /var/lib/sidero/env.
    ("env-dir", "image layout"),
    // Scratch folder inside the container for the prepared iPXE binaries.
    ("tftp-dir", "image layout"),
    // Port 69 is pinned by containerPort/Service `tftp`.
    ("tftp-addr", "tftp Service"),
    // Nodes are told `[<SideroLink address>]:4001` / `:4002` in their kernel arguments, so
    // the receivers must listen there.
    ("log-receiver-addr", "kernel args"),
    ("events-sink-addr", "kernel args"),
];

/// Flags of sidero-controller-manager whose Deployment value differs from the binary's
/// default on purpose.
const SIDERO_DEVIATIONS: &[&str] = &[
    // SideroLink runs in this process, replacing upstream's three extra containers.
    "--siderolink",
    // The image carries Debian's iPXE binaries, which have no embedded script.
    "--dhcp-ipxe-clients=http-script",
];

/// Flags of caps-controller-manager not in the Deployment, each with why (as above).
const CAPS_LEFT_OUT: &[(&str, &str)] = &[
    ("kubeconfig", "in-cluster"),
    ("health-addr", "probe port"),
    ("webhook-port", "webhook Service"),
    ("webhook-cert-dir", "cert mount"),
    ("leader-election-namespace", "RBAC"),
    ("leader-election-id", "upgrade safety"),
];

/// caps-controller-manager's deliberate differences: upstream's Deployment turns leader
/// election on, the binary's default is off.
const CAPS_DEVIATIONS: &[&str] = &["--enable-leader-election"];

/// The long names of a manager's flags, without clap's own `--help` and `--version`.
fn long_flags(cmd: &clap::Command) -> BTreeSet<String> {
    cmd.get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// The flag name of a `--name[=value]` argument.
fn name_of(arg: &str) -> &str {
    arg.trim_start_matches("--").split('=').next().unwrap()
}

/// The manager container's args of Deployment `name` in `comps`.
fn args_of(comps: &[Value], name: &str) -> Vec<String> {
    find(comps, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Checks one manager: every flag is in `args` or left out (never both), and every
/// valued argument in the unrendered manifest is exactly one `${VAR:=default}`.
fn check_coverage(
    manager: &str,
    flags: &BTreeSet<String>,
    raw_args: &[String],
    left_out: &[(&str, &str)],
) {
    let in_manifest: BTreeSet<&str> = raw_args.iter().map(|a| name_of(a)).collect();
    let left: BTreeSet<&str> = left_out.iter().map(|(f, _)| *f).collect();
    let missing: Vec<&String> = flags
        .iter()
        .filter(|f| !in_manifest.contains(f.as_str()) && !left.contains(f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{manager} flags neither in the Deployment nor allow-listed: {missing:?}"
    );
    for f in &left {
        assert!(flags.contains(*f), "{manager}: allow-listed {f} is no flag");
        assert!(
            !in_manifest.contains(f),
            "{manager}: {f} is allow-listed but in the Deployment"
        );
    }
    for a in raw_args {
        assert!(
            flags.contains(name_of(a)),
            "{manager}: {a} is not a flag of the binary"
        );
        if let Some((_, value)) = a.split_once('=') {
            let refs = sidero_release::vars::referenced(value);
            assert!(
                refs.len() == 1 && value.starts_with("${") && value.ends_with('}'),
                "{manager}: {a} is not set through one clusterctl variable"
            );
            assert!(refs[0].1.is_some(), "{manager}: {a} has no default");
        }
    }
}

#[test]
fn every_operator_flag_is_in_the_deployment_or_allow_listed() {
    let (_tmp, dir) = written();
    let raw = docs(&read(&dir, "infrastructure-components.yaml"));
    let sidero = long_flags(&sidero_controller_manager::config::Flags::command());
    let caps = long_flags(&caps_controller_manager::flags::Flags::command());
    // The lists are real: flags the brief names are among them.
    for f in [
        "dhcp-ipxe-clients",
        "insecure-agent-api",
        "agent-token-ttl",
        "ipxe-arm64-dir",
        "webhook-host",
        "leader-elect-lease-duration",
        "leader-elect-renew-deadline",
        "leader-elect-retry-period",
    ] {
        assert!(sidero.contains(f), "{f} in {sidero:?}");
    }
    assert!(caps.contains("leader-elect-retry-period"), "{caps:?}");
    check_coverage(
        "sidero-controller-manager",
        &sidero,
        &args_of(&raw, "sidero-controller-manager"),
        SIDERO_LEFT_OUT,
    );
    check_coverage(
        "caps-controller-manager",
        &caps,
        &args_of(&raw, "caps-controller-manager"),
        CAPS_LEFT_OUT,
    );
    println!(
        "flags: sidero-controller-manager {} ({} allow-listed), caps-controller-manager {} ({} allow-listed)",
        sidero.len(),
        SIDERO_LEFT_OUT.len(),
        caps.len(),
        CAPS_LEFT_OUT.len()
    );
}

#[test]
fn an_unlisted_flag_is_caught() {
    // The check itself: a flag neither in the args nor allow-listed fails it.
    let flags: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
    let args = vec!["--a=${A:=1}".to_string()];
    let caught = std::panic::catch_unwind(|| check_coverage("m", &flags, &args, &[]));
    let msg = *caught.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("[\"b\"]"), "{msg}");
    check_coverage("m", &flags, &args, &[("b", "test")]);
    // A value that is not a variable fails too.
    let args = vec!["--a=1".to_string()];
    assert!(std::panic::catch_unwind(|| check_coverage("m", &flags, &args, &[("b", "")])).is_err());
}

/// `argv` parsed by the manager's own parser, as `{:?}` (every field, so two parses can be
/// compared without `PartialEq`).
fn parsed<P: Parser + std::fmt::Debug>(argv: &[String]) -> String {
    let argv = std::iter::once("/manager".to_string()).chain(argv.iter().cloned());
    format!(
        "{:?}",
        P::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"))
    )
}

#[test]
fn default_variables_mean_the_binaries_defaults() {
    let (_tmp, dir) = written();
    let comps = render(&read(&dir, "infrastructure-components.yaml"), &[]);
    let dev = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        parsed::<sidero_controller_manager::config::Flags>(&args_of(
            &comps,
            "sidero-controller-manager"
        )),
        parsed::<sidero_controller_manager::config::Flags>(&dev(SIDERO_DEVIATIONS)),
        "sidero-controller-manager: the Deployment's defaults differ from the binary's beyond {SIDERO_DEVIATIONS:?}"
    );
    assert_eq!(
        parsed::<caps_controller_manager::flags::Flags>(&args_of(
            &comps,
            "caps-controller-manager"
        )),
        parsed::<caps_controller_manager::flags::Flags>(&dev(CAPS_DEVIATIONS)),
        "caps-controller-manager: the Deployment's defaults differ from the binary's beyond {CAPS_DEVIATIONS:?}"
    );
}

#[test]
fn new_variables_reach_the_flags() {
    let (_tmp, dir) = written();
    let comps = render(
        &read(&dir, "infrastructure-components.yaml"),
        &[
            ("SIDERO_CONTROLLER_MANAGER_DHCP_IPXE_CLIENTS", "upstream"),
            ("SIDERO_CONTROLLER_MANAGER_INSECURE_AGENT_API", "true"),
            ("SIDERO_CONTROLLER_MANAGER_AGENT_TOKEN_TTL", "2h"),
            ("SIDERO_CONTROLLER_MANAGER_IPXE_ARM64_DIR", "/ipxe/arm64"),
            ("SIDERO_CONTROLLER_MANAGER_WEBHOOK_HOST", "10.0.0.1"),
            (
                "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_LEASE_DURATION",
                "30s",
            ),
            (
                "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_RENEW_DEADLINE",
                "20s",
            ),
            ("SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_RETRY_PERIOD", "4s"),
            ("SIDERO_CONTROLLER_MANAGER_IPMI_CIPHER_SUITES", "3"),
            (
                "SIDERO_CONTROLLER_MANAGER_TALOS_ASSETS_BASE",
                "http://mirror.example/talos",
            ),
            ("CAPS_CONTROLLER_MANAGER_LEADER_ELECT_LEASE_DURATION", "40s"),
            ("CAPS_CONTROLLER_MANAGER_WEBHOOK_HOST", "10.0.0.2"),
            ("CAPS_CONTROLLER_MANAGER_LOGGING_FORMAT", "text"),
        ],
    );
    let argv = |name: &str| std::iter::once("/manager".to_string()).chain(args_of(&comps, name));
    let f =
        sidero_controller_manager::config::Flags::try_parse_from(argv("sidero-controller-manager"))
            .unwrap();
    assert_eq!(f.dhcp_ipxe_clients, "upstream");
    assert!(f.insecure_agent_api);
    assert_eq!(f.agent_token_ttl.as_secs(), 7200);
    assert_eq!(f.ipxe_arm64_dir, "/ipxe/arm64");
    assert_eq!(f.webhook_host, "10.0.0.1");
    let t = f.leader.timing();
    assert_eq!(
        (
            t.lease_duration.as_secs(),
            t.renew_deadline.as_secs(),
            t.retry_period.as_secs()
        ),
        (30, 20, 4)
    );
    assert_eq!(f.power.ipmi_cipher_suites, [3]);
    assert_eq!(f.talos_assets_base, "http://mirror.example/talos");
    let c = caps_controller_manager::flags::Flags::try_parse_from(argv("caps-controller-manager"))
        .unwrap();
    assert!(c.enable_leader_election);
    assert_eq!(c.leader_elect_lease_duration.as_secs(), 40);
    assert_eq!(c.webhook_host, "10.0.0.2");
    assert_eq!(format!("{:?}", c.logging_format), "Text");
}
