//! The rendered Deployment's arguments are accepted by sidero-controller-manager's own flag
//! parser and mean what the clusterctl variables say (defaults and set values).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use clap::Parser;
use common::{find, read, render, written};
use sidero_controller_manager::config::Flags;

fn parse(values: &[(&str, &str)]) -> Flags {
    let (_tmp, dir) = written();
    let comps = render(&read(&dir, "infrastructure-components.yaml"), values);
    let scm = find(&comps, "Deployment", "sidero-controller-manager");
    let c = &scm["spec"]["template"]["spec"]["containers"][0];
    let mut argv = vec![c["command"][0].as_str().unwrap().to_string()];
    argv.extend(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    Flags::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

#[test]
fn defaults_mean_upstream_defaults() {
    let f = parse(&[]);
    assert!(f.enable_leader_election && f.insecure_wipe && f.auto_bmc_setup && f.siderolink);
    assert!(!f.auto_accept_servers && !f.disable_dhcp_proxy && !f.insecure_diagnostics);
    assert_eq!(
        (f.api_port, f.http_port, f.wireguard_port),
        (8081, 8081, 51821)
    );
    assert_eq!(f.server_reboot_timeout, Duration::from_secs(20 * 60));
    assert_eq!(f.ipmi_pxe_method, "uefi");
    assert_eq!(f.boot_from_disk_method, "ipxe-exit");
    assert_eq!(f.diagnostics_address, ":8443");
    assert_eq!(f.power.test_power_simulated_explicit_failure_prob, 0.0);
    // `-` means empty: the node IP from API_ENDPOINT is used for both endpoints.
    assert_eq!(
        f.resolved_api_endpoint(Some("192.0.2.1")).unwrap(),
        "192.0.2.1"
    );
    assert!(f.resolved_api_endpoint(None).is_err());
    assert_eq!(f.wireguard_endpoint_host("192.0.2.1"), "192.0.2.1");
    assert_eq!(f.extra_agent_kernel_args(), "");
}

#[test]
fn set_values_reach_the_flags() {
    let f = parse(&[
        ("SIDERO_CONTROLLER_MANAGER_API_ENDPOINT", "sidero.example"),
        ("SIDERO_CONTROLLER_MANAGER_API_PORT", "9081"),
        ("SIDERO_CONTROLLER_MANAGER_CONTAINER_API_PORT", "9082"),
        (
            "SIDERO_CONTROLLER_MANAGER_EXTRA_AGENT_KERNEL_ARGS",
            "console=ttyS0",
        ),
        ("SIDERO_CONTROLLER_MANAGER_AUTO_ACCEPT_SERVERS", "true"),
        ("SIDERO_CONTROLLER_MANAGER_SERVER_REBOOT_TIMEOUT", "5m"),
        ("SIDERO_CONTROLLER_MANAGER_IPMI_PXE_METHOD", "bios"),
        (
            "SIDERO_CONTROLLER_MANAGER_SIDEROLINK_ENDPOINT",
            "wg.example",
        ),
        ("SIDERO_CONTROLLER_MANAGER_SIDEROLINK_PORT", "51900"),
        (
            "SIDERO_CONTROLLER_MANAGER_EVENTS_NEGATIVE_ADDRESS_FILTER",
            "10.0.0.0/8,192.168.0.0/16",
        ),
        (
            "SIDERO_CONTROLLER_MANAGER_TEST_POWER_SILENT_FAILURE",
            "0.25",
        ),
    ]);
    assert_eq!(
        f.resolved_api_endpoint(Some("192.0.2.1")).unwrap(),
        "sidero.example"
    );
    assert_eq!(
        (f.api_port, f.http_port, f.wireguard_port),
        (9081, 9082, 51900)
    );
    assert_eq!(f.extra_agent_kernel_args(), "console=ttyS0");
    assert!(f.auto_accept_servers);
    assert_eq!(f.server_reboot_timeout, Duration::from_secs(300));
    assert_eq!(f.ipmi_pxe_method, "bios");
    assert_eq!(f.wireguard_endpoint_host("192.0.2.1"), "wg.example");
    assert_eq!(f.negative_address_filter, ["10.0.0.0/8", "192.168.0.0/16"]);
    assert_eq!(f.power.test_power_simulated_silent_failure_prob, 0.25);
}
