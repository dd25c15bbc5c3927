//! Benchmark (not a test): time from 200 Machines created to 200 MetalMachines bound, with our
//! watch-driven controller and with upstream's trigger model (MetalMachine and ServerBinding
//! watches only, every wait re-checked after 20 s; spec §3.5) measured the same way in the same
//! run against the same real kube-apiserver. Prints figures and ratios.
//!
//! `cargo bench -p caps-controller-manager --bench allocation` (`SIDERO_BENCH_MACHINES` sets
//! the count, default 200).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/caps/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::metalmachine::{self, Triggers};
use futures::StreamExt;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use sidero_api::infra::v1alpha3::MetalMachine;

use fixtures::*;

/// When the bootstrap data appears relative to the Machine.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// The Machines carry their bootstrap data secret from the start.
    BootstrapAtCreation,
    /// CABPT sets the bootstrap data secret after the Machines exist (the usual CAPI order).
    BootstrapLater,
}

struct Run {
    all_bound: Duration,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    client: &Client,
    tag: &str,
    n: usize,
    scenario: Scenario,
    triggers: Triggers,
) -> Run {
    let ns = format!("bench-{tag}");
    namespace(client, &ns).await;
    cluster(client, &ns, "bc").await;
    let servers: Vec<String> = (0..n).map(|i| format!("bench-{tag}-{i:03}")).collect();
    futures::stream::iter(servers.iter())
        .for_each_concurrent(16, |s| server(client, s, true))
        .await;
    let class_name = format!("bench-{tag}");
    class(client, &class_name, &servers).await;

    let controller = tokio::spawn(metalmachine::run_with(
        client.clone(),
        CapiResources::at("v1beta1"),
        triggers,
    ));
    let bootstrap_now = matches!(scenario, Scenario::BootstrapAtCreation);
    let names: Vec<String> = (0..n).map(|i| format!("m{i:03}")).collect();
    let start = Instant::now();
    futures::stream::iter(names.iter())
        .for_each_concurrent(16, |m| {
            machine_with(client, &ns, "bc", m, Some(&class_name), None, bootstrap_now)
        })
        .await;
    let mut started = start;
    if !bootstrap_now {
        // Every MetalMachine has been seen waiting before the bootstrap provider finishes.
        tokio::time::sleep(Duration::from_secs(2)).await;
        started = Instant::now();
        futures::stream::iter(names.iter())
            .for_each_concurrent(16, |m| bootstrap_ready(client, &ns, m))
            .await;
    }
    let mms: Api<MetalMachine> = Api::namespaced(client.clone(), &ns);
    let mut bound_at: BTreeMap<String, Duration> = BTreeMap::new();
    let limit = Duration::from_secs(300);
    while bound_at.len() < n {
        assert!(
            started.elapsed() < limit,
            "{tag}: not all bound after {limit:?}"
        );
        for m in mms.list(&ListParams::default()).await.unwrap().items {
            if m.status.as_ref().is_some_and(|s| s.ready) {
                bound_at
                    .entry(m.name_any())
                    .or_insert_with(|| started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    controller.abort();
    let _ = controller.await;
    let mut times: Vec<Duration> = bound_at.into_values().collect();
    times.sort();
    Run {
        all_bound: *times.last().unwrap(),
        p50: percentile(&times, 0.50),
        p99: percentile(&times, 0.99),
    }
}

fn main() {
    let n: usize = std::env::var("SIDERO_BENCH_MACHINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = sidero_testenv::shared().unwrap().client().await.unwrap();
        install_capi_crds(&client).await;
        println!("allocation benchmark: {n} Machines, {n} clean servers in one ServerClass");
        println!(
            "{:<24} {:<18} {:>10} {:>10} {:>10}",
            "scenario", "controller", "all bound", "p50", "p99"
        );
        for (i, scenario) in [Scenario::BootstrapAtCreation, Scenario::BootstrapLater]
            .into_iter()
            .enumerate()
        {
            let ours = measure(
                &client,
                &format!("w{i}"),
                n,
                scenario,
                Triggers::Dependencies,
            )
            .await;
            let base = measure(
                &client,
                &format!("p{i}"),
                n,
                scenario,
                Triggers::PollingBaseline,
            )
            .await;
            for (label, r) in [("ours (watches)", &ours), ("upstream model", &base)] {
                println!(
                    "{:<24} {:<18} {:>9.2}s {:>9.2}s {:>9.2}s",
                    format!("{scenario:?}"),
                    label,
                    r.all_bound.as_secs_f64(),
                    r.p50.as_secs_f64(),
                    r.p99.as_secs_f64()
                );
            }
            println!(
                "{:<24} ratio upstream/ours: all bound {:.1}x, p50 {:.1}x, p99 {:.1}x",
                format!("{scenario:?}"),
                base.all_bound.as_secs_f64() / ours.all_bound.as_secs_f64(),
                base.p50.as_secs_f64() / ours.p50.as_secs_f64().max(0.001),
                base.p99.as_secs_f64() / ours.p99.as_secs_f64().max(0.001)
            );
        }
    });
}
