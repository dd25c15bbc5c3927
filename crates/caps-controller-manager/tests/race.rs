//! 50 MetalMachines against 30 clean servers while the controller is killed and restarted at
//! seeded random points: no server bound twice, no machine with two servers, no orphaned
//! binding, 30 machines bound and 20 waiting with a condition that says why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "caps/fixtures.rs"]
mod fixtures;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::metalmachine;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use sidero_api::condition;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};

use fixtures::*;

/// A small seeded generator (xorshift64*): the kill points are reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_machines_thirty_servers_with_restarts() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    install_capi_crds(&client).await;
    let ns = "race";
    namespace(&client, ns).await;
    cluster(&client, ns, "rc").await;
    let servers: Vec<String> = (0..30).map(|i| format!("race-{i:02}")).collect();
    for s in &servers {
        server(&client, s, true).await;
    }
    class(&client, "race-pool", &servers).await;

    let seed = std::env::var("SIDERO_RACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("race seed {seed:#x} (SIDERO_RACE_SEED)");
    let mut rng = Rng(seed);
    let mut task = tokio::spawn(metalmachine::run(
        client.clone(),
        CapiResources::at("v1beta1"),
    ));
    // Machines arrive while the controller is being killed and restarted.
    let mut restarts = 0;
    for i in 0..50 {
        machine(
            &client,
            ns,
            "rc",
            &format!("m{i:02}"),
            Some("race-pool"),
            None,
        )
        .await;
        if rng.next(8) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.next(400))).await;
            task.abort();
            restarts += 1;
            task = tokio::spawn(metalmachine::run(
                client.clone(),
                CapiResources::at("v1beta1"),
            ));
        }
    }
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200 + rng.next(1500))).await;
        task.abort();
        restarts += 1;
        task = tokio::spawn(metalmachine::run(
            client.clone(),
            CapiResources::at("v1beta1"),
        ));
    }
    eprintln!("controller restarted {restarts} times");

    let mms: Api<MetalMachine> = Api::namespaced(client.clone(), ns);
    let bindings: Api<ServerBinding> = Api::all(client.clone());
    let settled = eventually(
        Duration::from_secs(120),
        "30 bound and 20 waiting",
        || async {
            let all = mms.list(&ListParams::default()).await.unwrap().items;
            let bound = all
                .iter()
                .filter(|m| m.status.as_ref().is_some_and(|s| s.ready))
                .count();
            let waiting = all
                .iter()
                .filter(|m| {
                    m.status
                        .as_ref()
                        .and_then(|s| condition::get(&s.conditions, "ServerAllocated"))
                        .and_then(|c| c.reason.as_deref())
                        == Some("NoServerAvailable")
                })
                .count();
            (bound == 30 && waiting == 20).then_some(all)
        },
    )
    .await;
    task.abort();

    let all_bindings = bindings.list(&ListParams::default()).await.unwrap().items;
    let race: Vec<&ServerBinding> = all_bindings
        .iter()
        .filter(|b| b.name_any().starts_with("race-"))
        .collect();
    assert_eq!(race.len(), 30, "one binding per server");
    let mut per_machine: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in &race {
        per_machine
            .entry(b.spec.metal_machine_ref.name.clone().unwrap())
            .or_default()
            .push(b.name_any());
    }
    assert!(
        per_machine.values().all(|v| v.len() == 1),
        "a machine holds two servers: {per_machine:?}"
    );
    // Every binding is the server its machine names: nothing orphaned.
    let refs: BTreeMap<String, String> = settled
        .iter()
        .filter_map(|m| Some((m.name_any(), m.spec.server_ref.as_ref()?.name.clone()?)))
        .collect();
    assert_eq!(refs.len(), 30);
    for (machine, held) in &per_machine {
        assert_eq!(
            refs.get(machine),
            Some(&held[0]),
            "binding {} of {machine} is not its serverRef",
            held[0]
        );
    }
    let distinct: BTreeSet<&String> = refs.values().collect();
    assert_eq!(distinct.len(), 30);
}
