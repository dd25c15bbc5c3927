//! Fault: kube-apiserver stopped for 30 s (etcd keeps running) while both managers, as the
//! processes operators run, are allocating servers to MetalMachines and driving their power.
//!
//! `caps-controller-manager` allocates (the CAPI objects it needs are written by the test: no
//! CAPI controllers run); `sidero-controller-manager` powers and wipes. When the API server
//! goes away, two machines were allocated moments ago (their power-on is in flight) and two
//! more wait for a server: CAPS was frozen (SIGSTOP) while they were created, so it could not
//! allocate them before the outage. Meanwhile `/ipxe` keeps answering from
//! the manager's caches (an installed server boots from disk, others get the agent). After the
//! restart both managers reconnect by themselves and converge: every MetalMachine has exactly
//! one ServerBinding, no Server is bound twice, no binding is orphaned, every allocated server
//! got exactly one PXE + power-on, nothing is wiped again, and both managers are healthy.
//!
//! The recovery (API server back → everything converged) is printed and must stay under
//! [`RECOVERY_BOUND`]: with kube-runtime's default watch backoff (up to 30 s) and a flat 20 s
//! requeue after failed reconciles it took 70–100 s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../caps-controller-manager/tests/caps/fixtures.rs"]
mod fixtures;
#[path = "support/machine.rs"]
mod machine;
#[path = "outage/procs.rs"]
mod procs;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use machine::{Shared, machine};
use serde_json::json;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::{Server, ServerClass};

const OUTAGE: Duration = Duration::from_secs(30);
/// Generous, and still well below the 70–100 s the default backoffs took.
const RECOVERY_BOUND: Duration = Duration::from_secs(45);
const NS: &str = "outage";
const CLUSTER: &str = "oc";
const CLASS: &str = "outage-pool";
/// Clean servers the class machines are allocated.
const POOL: [&str; 4] = ["flt-a0", "flt-a1", "flt-a2", "flt-a3"];
/// Dirty servers being wiped.
const WIPING: [&str; 2] = ["flt-w0", "flt-w1"];
/// The installed server (boots from disk) and its machine.
const INSTALLED: &str = "flt-d0";

/// `GET url` with curl: (status, body, how long it took).
fn get(url: &str) -> (u16, String, Duration) {
    let t = Instant::now();
    let (code, body) = support::curl(url, &[]);
    (code, String::from_utf8(body).unwrap(), t.elapsed())
}

async fn wait_for<F: Fn(&Server) -> bool>(api: &Api<Server>, name: &str, what: &str, f: F) {
    let start = Instant::now();
    loop {
        if let Ok(s) = api.get(name).await
            && f(&s)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name}: {what}: {:?}",
            api.get(name).await.ok().and_then(|s| s.status)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn has_condition(s: &Server, t: &str, status: &str) -> bool {
    s.status
        .as_ref()
        .and_then(|st| st.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == status))
}

async fn server(api: &Api<Server>, name: &str, endpoint: &str, extra: serde_json::Value) {
    let mut spec = json!({"accepted": true, "managementApi": {"endpoint": endpoint}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
}

fn count(m: &Shared, call: &str) -> usize {
    m.lock()
        .unwrap()
        .calls
        .iter()
        .filter(|c| **c == call)
        .count()
}

/// Calls that change something (status queries excluded).
fn actions(m: &Shared) -> usize {
    m.lock()
        .unwrap()
        .calls
        .iter()
        .filter(|c| **c != "status")
        .count()
}

fn server_ref(m: &MetalMachine) -> Option<String> {
    m.spec.server_ref.as_ref().and_then(|r| r.name.clone())
}

/// Pool machines' PXE and power-on calls before the allocations.
type Before = BTreeMap<&'static str, (usize, usize)>;

/// Everything that keeps the managers from having converged (empty: converged).
async fn problems(
    client: &Client,
    machines: &BTreeMap<&str, Shared>,
    before: &Before,
    expected: &BTreeSet<String>,
) -> Vec<String> {
    let mms = match Api::<MetalMachine>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l.items,
        Err(e) => return vec![format!("listing MetalMachines: {e}")],
    };
    let bindings = match Api::<ServerBinding>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l.items,
        Err(e) => return vec![format!("listing ServerBindings: {e}")],
    };
    let servers: BTreeMap<String, Server> = match Api::<Server>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l.items.into_iter().map(|s| (s.name_any(), s)).collect(),
        Err(e) => return vec![format!("listing Servers: {e}")],
    };
    let mut bad = Vec::new();
    let names: BTreeSet<String> = mms.iter().map(|m| m.name_any()).collect();
    if &names != expected {
        bad.push(format!("MetalMachines {names:?}, expected {expected:?}"));
    }
    let mut claimed = BTreeMap::<String, Vec<String>>::new();
    for m in &mms {
        match server_ref(m) {
            Some(s) => claimed.entry(s).or_default().push(m.name_any()),
            None => bad.push(format!("machine {} waits for a server", m.name_any())),
        }
        let own: Vec<&ServerBinding> = bindings
            .iter()
            .filter(|b| {
                b.spec.metal_machine_ref.name.as_deref() == Some(m.name_any().as_str())
                    && b.spec.metal_machine_ref.namespace.as_deref() == Some(NS)
            })
            .collect();
        if own.len() != 1 {
            bad.push(format!(
                "machine {} has {} ServerBindings",
                m.name_any(),
                own.len()
            ));
        }
    }
    for (s, by) in &claimed {
        if by.len() > 1 {
            bad.push(format!("server {s} claimed by {by:?}"));
        }
    }
    for b in &bindings {
        let mm = b.spec.metal_machine_ref.name.clone().unwrap_or_default();
        let owner = mms.iter().find(|m| m.name_any() == mm);
        if owner.and_then(server_ref).as_deref() != Some(b.name_any().as_str()) {
            bad.push(format!(
                "binding {} is orphaned (machine {mm})",
                b.name_any()
            ));
        }
    }
    for name in POOL.iter().chain([&INSTALLED]) {
        let st = servers
            .get(*name)
            .and_then(|s| s.status.clone())
            .unwrap_or_default();
        if !st.in_use || st.is_clean || st.power.as_deref() != Some("on") {
            bad.push(format!(
                "server {name}: inUse={} isClean={} power={:?}",
                st.in_use, st.is_clean, st.power
            ));
        }
    }
    for name in POOL {
        let m = &machines[name];
        let (pxe, on) = before[name];
        if count(m, "pxeboot") <= pxe || count(m, "poweron") <= on {
            bad.push(format!("server {name} not PXE-booted and powered on yet"));
        }
    }
    bad
}

/// SIGSTOP (`stop`) or SIGCONT to a manager this test started (by its PID).
fn freeze(p: &procs::Proc, stop: bool) {
    let sig = if stop { "-STOP" } else { "-CONT" };
    let status = std::process::Command::new("kill")
        .args([sig, &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {}", p.child.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_outage_during_allocation_converges_quickly() {
    let mut cp = tokio::task::block_in_place(sidero_testenv::start_with_crds).unwrap();
    let client = cp.client().await.unwrap();
    fixtures::install_capi_crds(&client).await;
    fixtures::namespace(&client, NS).await;
    fixtures::cluster(&client, NS, CLUSTER).await;
    let class: ServerClass =
        serde_json::from_value(json!({"apiVersion": "metal.sidero.dev/v1alpha2",
        "kind": "ServerClass", "metadata": {"name": CLASS}, "spec": {"qualifiers": {}}}))
        .unwrap();
    Api::<ServerClass>::all(client.clone())
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
    let servers: Api<Server> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    if std::env::var_os("SIDERO_FAULT_KEEP_LOGS").is_some() {
        eprintln!("manager logs kept in {}", dir.path().display());
    }
    let http = procs::free_tcp();
    let mut sidero = procs::sidero(cp.kubeconfig(), dir.path(), http);
    let mut caps = procs::caps(cp.kubeconfig(), dir.path());
    let base = format!("http://127.0.0.1:{http}");
    let started = Instant::now();
    while sidero.healthz() != 200 || caps.healthz() != 200 {
        sidero.assert_running("starting");
        caps.assert_running("starting");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "managers not healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Two dirty servers being wiped, four clean ones for the pool, one to install.
    let mut machines = BTreeMap::new();
    for name in WIPING.iter().chain(&POOL).chain([&INSTALLED]) {
        let (endpoint, m) = machine().await;
        let extra = if *name == INSTALLED {
            json!({"bootFromDiskMethod": "ipxe-exit"})
        } else {
            json!({})
        };
        server(&servers, name, &endpoint, extra).await;
        machines.insert(*name, m);
    }
    for name in POOL.iter().chain([&INSTALLED]) {
        // What the agent's MarkServerAsWiped leaves behind.
        servers
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"isClean": true, "conditions": [
                    {"type": "PowerCycle", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
            )
            .await
            .unwrap();
    }
    for name in WIPING {
        wait_for(&servers, name, "wipe started", |s| {
            has_condition(s, "PowerCycle", "False")
        })
        .await;
    }
    for name in POOL.iter().chain([&INSTALLED]) {
        wait_for(&servers, name, "clean, off and ready", |s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.ready && st.power.as_deref() == Some("off"))
        })
        .await;
    }

    // The installed server: allocated by name, Talos installed (as the agent reports).
    fixtures::machine(&client, NS, CLUSTER, "m-d0", None, Some(INSTALLED)).await;
    let bindings: Api<ServerBinding> = Api::all(client.clone());
    fixtures::eventually(Duration::from_secs(60), "m-d0's binding", || async {
        bindings.get_opt(INSTALLED).await.unwrap()
    })
    .await;
    bindings
        .patch_status(
            INSTALLED,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{"type": "TalosInstalled",
                "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
        )
        .await
        .unwrap();
    wait_for(&servers, INSTALLED, "installed", |s| {
        has_condition(s, "PXEBooted", "True")
    })
    .await;
    let exit = sidero_netboot::script::EXIT_SCRIPT;
    let d0_url = format!("{base}/ipxe?uuid={INSTALLED}&arch=amd64");
    fixtures::eventually(
        Duration::from_secs(30),
        "flt-d0 boots from disk",
        || async { (get(&d0_url).1 == exit).then_some(()) },
    )
    .await;

    // Two machines allocated just before the outage (their power-on is in flight)...
    let before: Before = POOL
        .iter()
        .map(|n| {
            (
                *n,
                (
                    count(&machines[n], "pxeboot"),
                    count(&machines[n], "poweron"),
                ),
            )
        })
        .collect();
    let d0_actions = actions(&machines[INSTALLED]);
    let mms: Api<MetalMachine> = Api::namespaced(client.clone(), NS);
    for name in ["m-a0", "m-a1"] {
        fixtures::machine(&client, NS, CLUSTER, name, Some(CLASS), None).await;
    }
    for name in ["m-a0", "m-a1"] {
        fixtures::eventually(Duration::from_secs(60), "allocated", || async {
            server_ref(&mms.get(name).await.unwrap())
        })
        .await;
    }
    // ...and two waiting for a server: CAPS is frozen (SIGSTOP) while they are created and the
    // API server stops, so it cannot allocate them before the outage (their creation may
    // still wait in its watch connection's buffer; else the re-list after the reconnect
    // reveals them).
    freeze(&caps, true);
    for name in ["m-a2", "m-a3"] {
        fixtures::machine(&client, NS, CLUSTER, name, Some(CLASS), None).await;
    }
    let outage = Instant::now();
    tokio::task::block_in_place(|| cp.stop_apiserver());
    freeze(&caps, false);
    eprintln!("kube-apiserver stopped; m-a2 and m-a3 wait for a server");

    let mut answered = 0;
    while outage.elapsed() < OUTAGE {
        sidero.assert_running("during the outage");
        caps.assert_running("during the outage");
        // Installed: boots from disk, from the cache.
        let (code, body, took) = get(&d0_url);
        assert_eq!(
            (code, body.as_str()),
            (200, exit),
            "installed server during the outage"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        // Being wiped, and unknown: the agent.
        for uuid in ["flt-w0", "00000000-0000-4000-8000-00000000f00d"] {
            let (code, body, took) = get(&format!(
                "{base}/ipxe?uuid={uuid}&mac=52-54-00-00-00-01&arch=amd64"
            ));
            assert_eq!(code, 200, "{uuid}: {body}");
            assert!(body.contains("/env/agent-amd64/vmlinuz"), "{uuid}: {body}");
            assert!(took < Duration::from_secs(5), "{took:?}");
        }
        answered += 3;
        assert_eq!(
            (sidero.healthz(), caps.healthz()),
            (200, 200),
            "healthz during the outage"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::task::block_in_place(|| cp.start_apiserver()).unwrap();
    let back = Instant::now();
    eprintln!(
        "kube-apiserver back after {:?}; {answered} boot requests answered meanwhile",
        outage.elapsed()
    );

    // Converges, quickly.
    let expected: BTreeSet<String> = ["m-d0", "m-a0", "m-a1", "m-a2", "m-a3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut last = vec![String::from("not checked yet")];
    while back.elapsed() < Duration::from_secs(150) {
        let now = problems(&client, &machines, &before, &expected).await;
        if now != last {
            // How the recovery went, for the figures: what was still missing, when.
            eprintln!("{:>6.1?} after the restart: {now:?}", back.elapsed());
        }
        last = now;
        if last.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovery = back.elapsed();
    eprintln!(
        "recovery: converged {recovery:?} after the API server came back (bound {RECOVERY_BOUND:?})"
    );
    assert!(
        last.is_empty(),
        "not converged after {recovery:?}: {last:#?}\n--- sidero\n{}\n--- caps\n{}",
        sidero.tail(30),
        caps.tail(30)
    );
    assert!(
        recovery < RECOVERY_BOUND,
        "converged only {recovery:?} after the API server came back"
    );

    // Nothing lost or doubled: let any duplicate work show up before counting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still = problems(&client, &machines, &before, &expected).await;
    assert!(still.is_empty(), "{still:#?}");
    for name in POOL {
        let m = &machines[name];
        let (pxe, on) = before[name];
        assert_eq!(
            (count(m, "pxeboot") - pxe, count(m, "poweron") - on),
            (1, 1),
            "{name}: {:?}",
            m.lock().unwrap().calls
        );
    }
    for name in WIPING {
        let m = &machines[name];
        assert_eq!(
            (count(m, "pxeboot"), count(m, "poweron"), count(m, "reboot")),
            (1, 1, 0),
            "{name} wiped twice: {:?}",
            m.lock().unwrap().calls
        );
        let s = servers.get(name).await.unwrap();
        assert!(
            !s.status.is_some_and(|st| st.in_use),
            "{name} allocated while dirty"
        );
    }
    assert_eq!(
        actions(&machines[INSTALLED]),
        d0_actions,
        "the installed server was powered again: {:?}",
        machines[INSTALLED].lock().unwrap().calls
    );
    let d0 = servers.get(INSTALLED).await.unwrap();
    assert!(has_condition(&d0, "PXEBooted", "True"));
    sidero.assert_running("after the outage");
    caps.assert_running("after the outage");
    assert_eq!((sidero.healthz(), caps.healthz()), (200, 200), "healthz");
    let log = std::fs::read_to_string(&sidero.log).unwrap();
    assert!(
        log.contains("answering from the cache"),
        "no cached answer logged"
    );
    drop((sidero, caps));
    if std::env::var_os("SIDERO_FAULT_KEEP_LOGS").is_some() {
        let _ = dir.keep();
    }
}
