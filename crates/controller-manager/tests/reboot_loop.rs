//! The wipe flow's reboot-timeout loop under silently lost power commands (spec §9.4): the
//! real Server controller (in process, with the crate's seeded failure injection), a real
//! API server, and a machine behind the management API that records what really reached
//! it. Nobody plays the agent, so the controller must re-issue "PXE once + power on /
//! cycle" after each reboot timeout — not sooner (no tight loop) and not never — until the
//! machine has really PXE-booted although commands were dropped. `reboot_loop_manager`
//! does the same through the manager binary and upstream's flags.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "support/machine.rs"]
mod machine;

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::controllers::server;
use sidero_power::{FailureInjection, InjectionScope, SelectOptions};

const REBOOT_TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_failures_are_retried_after_the_reboot_timeout_only() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let injection = FailureInjection::with_seed(0.0, 0.5, 0x5eed_0005);
    let select = SelectOptions {
        injection: Some(injection.clone()),
        injection_scope: InjectionScope::ManagementApiOnly,
        ..SelectOptions::default()
    };
    let config = sidero_server::Config {
        default_pxe_mode: sidero_power::BootMode::Uefi,
        reboot_timeout: REBOOT_TIMEOUT,
    };
    tokio::spawn(server::run(client.clone(), config, select));
    let (endpoint, m) = machine::machine().await;
    let servers: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "srv-loop"},
        "spec": {"accepted": true, "managementApi": {"endpoint": endpoint}}
    }))
    .unwrap();
    let started = Instant::now();
    servers.create(&PostParams::default(), &s).await.unwrap();
    let obs = machine::observe(
        &servers,
        "srv-loop",
        &m,
        started,
        3,
        Duration::from_secs(90),
    )
    .await;

    let stats = injection.stats();
    let machine = m.lock().unwrap();
    let total = stats.explicit + stats.silent + stats.passed;
    eprintln!(
        "reboot loop (in process): {:.1}s, {} sequences, {total} power calls ({} silently \
         dropped), at the machine: {:?}, {} PXE boots",
        obs.elapsed.as_secs_f64(),
        obs.issued.len(),
        stats.silent,
        machine.calls,
        machine.pxe_boots
    );
    assert!(stats.silent > 0 && stats.explicit == 0, "{stats:?}");
    machine::assert_converged_without_tight_loop(&obs, &machine, total, REBOOT_TIMEOUT, 3);
}
