//! The wipe flow's reboot-timeout loop under silently lost power commands (spec §9.4): the
//! real Server controller, a real API server, and a machine behind the management API that
//! records what really reached it, with upstream's silent failure injection (seeded) in
//! between. Nobody plays the agent, so the controller must re-issue "PXE once + power on /
//! cycle" after each `--server-reboot-timeout` — not sooner (no tight loop) and not never —
//! and the machine ends up really PXE-booted although commands were dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::controllers::server;
use sidero_power::{FailureInjection, InjectionScope, SelectOptions};

const REBOOT_TIMEOUT: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(13);

/// What really reached the machine.
#[derive(Default)]
struct Machine {
    on: bool,
    pxe_armed: bool,
    /// Power-ons/reboots that consumed a PXE-once setting: real network boots.
    pxe_boots: u32,
    calls: Vec<(&'static str, Instant)>,
}
type Shared = Arc<Mutex<Machine>>;

fn record(m: &Shared, name: &'static str) {
    let mut m = m.lock().unwrap();
    m.calls.push((name, Instant::now()));
    match name {
        "pxeboot" => m.pxe_armed = true,
        "poweron" | "reboot" => {
            if (name == "reboot" || !m.on) && m.pxe_armed {
                m.pxe_armed = false;
                m.pxe_boots += 1;
            }
            m.on = true;
        }
        "poweroff" => m.on = false,
        _ => {}
    }
}

async fn machine() -> (String, Shared) {
    let m: Shared = Arc::default();
    let call = |name: &'static str| move |State(m): State<Shared>| async move { record(&m, name) };
    let app = Router::new()
        .route("/poweron", post(call("poweron")))
        .route("/poweroff", post(call("poweroff")))
        .route("/reboot", post(call("reboot")))
        .route("/pxeboot", post(call("pxeboot")))
        .route(
            "/status",
            get(|State(m): State<Shared>| async move {
                let on = m.lock().unwrap().on;
                axum::Json(json!({"PoweredOn": on}))
            }),
        )
        .with_state(m.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_failures_are_retried_after_the_reboot_timeout_only() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let injection = FailureInjection::with_seed(0.0, 0.4, 0x5eed_0005);
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
    let (endpoint, m) = machine().await;
    let servers: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "srv-loop"},
        "spec": {"accepted": true, "managementApi": {"endpoint": endpoint}}
    }))
    .unwrap();
    let started = Instant::now();
    servers.create(&PostParams::default(), &s).await.unwrap();

    // Each issued sequence stamps the PowerCycle condition's message with its time.
    let mut issued: Vec<(String, Instant)> = Vec::new();
    while started.elapsed() < WINDOW {
        let s = servers.get("srv-loop").await.unwrap();
        let msg = s
            .status
            .as_ref()
            .and_then(|st| st.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PowerCycle"))
            .and_then(|c| c.message.clone());
        if let Some(msg) = msg
            && issued.last().map(|(m, _)| m) != Some(&msg)
        {
            issued.push((msg, Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let stats = injection.stats();
    let machine = m.lock().unwrap();
    let total_calls = stats.explicit + stats.silent + stats.passed;
    let real: Vec<&str> = machine.calls.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "reboot loop: {:.1}s, {} sequences issued, {total_calls} power calls ({} silently dropped), \
         at the machine: {real:?}, {} PXE boots",
        elapsed.as_secs_f64(),
        issued.len(),
        stats.silent,
        machine.pxe_boots
    );

    // Failures were injected, and the controller kept retrying: one sequence per timeout.
    assert!(stats.silent > 0, "{stats:?}");
    assert!(stats.explicit == 0, "{stats:?}");
    let periods = elapsed.as_secs_f64() / REBOOT_TIMEOUT.as_secs_f64();
    assert!(
        issued.len() >= 3 && (issued.len() as f64) <= periods + 2.0,
        "sequences issued {} in {periods:.1} timeouts: {issued:?}",
        issued.len()
    );
    for w in issued.windows(2) {
        let gap = w[1].1 - w[0].1;
        // Messages carry whole seconds; the poll adds up to 100 ms.
        assert!(
            gap >= REBOOT_TIMEOUT - Duration::from_millis(1100),
            "re-issued after {gap:?} (< reboot timeout): {issued:?}"
        );
    }
    // No tight loop: at most a status query per requeue (timeout/3) and per own status
    // write, plus two actions per sequence.
    let requeues = elapsed.as_secs_f64() / (REBOOT_TIMEOUT.as_secs_f64() / 3.0);
    let bound = (2.0 * requeues) as u64 + 2 * issued.len() as u64 + 12;
    assert!(total_calls <= bound, "{total_calls} calls > {bound}");
    // Converged: at least one "PXE once, then power on/cycle" really reached the machine.
    assert!(machine.pxe_boots >= 1, "never really PXE-booted: {real:?}");
    assert!(machine.on);
}
