//! Two `sidero-controller-manager` replicas against the real control plane with upstream's
//! leader election (Lease `sidero-system/controller-leader-election-sidero-controller-manager`):
//! both serve the boot endpoints and report ready; only the Lease holder runs controllers;
//! after the leader is SIGKILLed the other takes the Lease and reconciles a Server created
//! after the kill (finalizer added) within 15 s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod manager_proc;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use manager_proc::{Manager, ensure_namespace, get};
use serde_json::json;
use sidero_api::metal::v1alpha2::{SERVER_FINALIZER, Server};

const LEASE: &str = "controller-leader-election-sidero-controller-manager";

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

/// The pid in a `<host>_<pid>_<nonce>` identity.
fn pid_of(identity: &str) -> Option<u32> {
    identity.split('_').rev().nth(1)?.parse().ok()
}

async fn create_server(servers: &Api<Server>, name: &str) {
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name}, "spec": {"accepted": false}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();
}

async fn has_finalizer(servers: &Api<Server>, name: &str) -> bool {
    servers.get_opt(name).await.ok().flatten().is_some_and(|s| {
        s.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == SERVER_FINALIZER)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_takes_over_within_15s_of_the_leaders_death() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    ensure_namespace(&client, "sidero-system").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "sidero-system");
    let servers: Api<Server> = Api::all(client.clone());

    // Both replicas with the Deployment's leader-election flag and default Lease settings.
    let flags = ["--enable-leader-election".to_string()];
    let mut a = Manager::start(cp.kubeconfig(), &flags);
    let mut b = Manager::start(cp.kubeconfig(), &flags);

    let start = Instant::now();
    let leader = loop {
        if let Some(h) = holder(&leases).await {
            break h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no leader:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let leader_pid = pid_of(&leader).unwrap();
    assert!(
        [a.pid(), b.pid()].contains(&leader_pid),
        "holder {leader} is neither replica ({}, {})",
        a.pid(),
        b.pid()
    );
    let (dead, survivor) = if a.pid() == leader_pid {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };

    // The leader reconciles; both replicas serve boot endpoints and report ready.
    create_server(&servers, "before-kill").await;
    let start = Instant::now();
    while !has_finalizer(&servers, "before-kill").await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "leader idle:\n{}",
            dead.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for m in [&*dead, &*survivor] {
        assert_eq!(get(&m.url("/boot.ipxe")).0, 200);
        let ready = get(&format!("http://127.0.0.1:{}/readyz", m.health));
        assert_eq!(ready, (200, "ok".to_string()), "{}", m.log());
        assert_eq!(
            get(&format!("http://127.0.0.1:{}/healthz", m.health)).0,
            200
        );
    }
    assert!(
        !survivor.log().contains("starting the controllers"),
        "the follower started controllers while the other led:\n{}",
        survivor.log()
    );

    // Kill the leader without letting it release the Lease.
    dead.kill();
    let killed = Instant::now();
    create_server(&servers, "after-kill").await;
    let mut took_over = None;
    loop {
        let h = holder(&leases).await;
        if took_over.is_none() && h.as_deref().and_then(pid_of) == Some(survivor.pid()) {
            took_over = Some(killed.elapsed());
        }
        if took_over.is_some() && has_finalizer(&servers, "after-kill").await {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "no takeover within 15 s (holder {h:?}):\n{}",
            survivor.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reconciled = killed.elapsed();
    println!(
        "failover: lease taken {:.1} s after SIGKILL, new server reconciled after {:.1} s",
        took_over.unwrap_or_default().as_secs_f64(),
        reconciled.as_secs_f64()
    );
    let lease = leases.get(LEASE).await.unwrap();
    assert!(lease.spec.unwrap().lease_transitions.unwrap_or(0) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_releases_the_lease() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    ensure_namespace(&client, "default").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let flags = [
        "--enable-leader-election".to_string(),
        "--leader-election-namespace=default".to_string(),
        "--leader-election-id=release-test".to_string(),
    ];
    let m = Manager::start(cp.kubeconfig(), &flags);
    let start = Instant::now();
    let held = |l: Option<Lease>| {
        l.and_then(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty())
    };
    while held(leases.get_opt("release-test").await.unwrap()).is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "{}", m.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGTERM, as the kubelet stops a pod: the Lease is emptied for the next replica.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &m.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while held(leases.get_opt("release-test").await.unwrap()).is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "lease not released:\n{}",
            m.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
