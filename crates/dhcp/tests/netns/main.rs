//! End to end on a real L2 segment: in two network namespaces joined by a veth pair, dnsmasq
//! (the site DHCP server, addresses only) and our proxy share the server end; a PXE client on
//! the other end gets its address from dnsmasq and its boot file from us, then asks our boot
//! server port 4011. Needs root, `ip` and `dnsmasq` (scripts/test.sh installs them).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;
mod lab;
mod roles;

use std::time::{Duration, Instant};

use lab::{Lab, missing_prerequisite};

/// Not a test of its own: the entry point of the processes the lab re-executes inside a
/// namespace (a no-op in a normal run).
#[test]
fn netns_helper_entrypoint() {
    let iface = std::env::var("SIDERO_DHCP_NETNS_IFACE").unwrap_or_default();
    match std::env::var("SIDERO_DHCP_NETNS_ROLE").as_deref() {
        Ok("proxy") => roles::proxy(&iface),
        Ok("client") => roles::client(&iface),
        _ => {}
    }
}

#[test]
fn pxe_client_gets_address_from_dnsmasq_and_boot_file_from_proxy() {
    // scripts/test.sh installs the prerequisites: a missing one is a failure, not a skip.
    if let Some(why) = missing_prerequisite() {
        panic!("network namespace test cannot run: {why}");
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    lab.start_dnsmasq();

    let (srv, srv_if) = (lab.srv.clone(), lab.srv_if.clone());
    let (proxy, mut proxy_out) = lab.spawn_helper(&srv, "proxy", &srv_if);
    assert!(
        proxy_out
            .wait_for("READY", Duration::from_secs(20))
            .is_some(),
        "proxy did not start:\n{}",
        proxy_out.seen
    );

    let (cli, cli_if) = (lab.cli.clone(), lab.cli_if.clone());
    let (client, mut client_out) = lab.spawn_helper(&cli, "client", &cli_if);
    let ok = client_out.wait_for("CLIENT OK", Duration::from_secs(30));
    let client_clean = lab.stop_helper(client, Duration::from_secs(5));
    assert!(
        ok.is_some() && client_clean,
        "client failed:\n{}\n--- dnsmasq log:\n{}",
        client_out.seen,
        lab.dnsmasq_log()
    );
    let ok = ok.unwrap_or_default();
    let lease = ok
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lease="))
        .unwrap()
        .to_owned();
    assert!(lease.starts_with("10.213.0."), "{ok}");
    assert!(lab.leases().contains(&lease), "dnsmasq recorded the lease");

    // Graceful shutdown of the proxy (stdin closed), then its counters.
    assert!(
        lab.stop_helper(proxy, Duration::from_secs(10)),
        "proxy did not stop cleanly"
    );
    let counts = proxy_out
        .wait_for("COUNTS", Duration::from_secs(5))
        .unwrap_or_default();
    assert!(counts.contains("dhcp/x86-uefi="), "{counts}");
    assert!(counts.contains("pxe/x86-uefi=1"), "{counts}");
    assert!(
        counts.contains("dhcp/wrong_message_type="),
        "REQUEST on 67 ignored: {counts}"
    );
    eprintln!(
        "netns e2e: {ok}; proxy {counts}; {:.2}s",
        started.elapsed().as_secs_f64()
    );
}
