//! The Server controller against a real API server and a machine behind the management API
//! (a small HTTP server in the test that records power calls): the wipe flow PXE-boots a
//! dirty server, a clean one is powered off, an allocated one is powered on, and a server
//! without power management says what it waits for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::controllers::server;

/// A simulated machine: its power state and every call made to it.
#[derive(Default)]
struct Machine {
    on: bool,
    calls: Vec<&'static str>,
}
type Shared = Arc<Mutex<Machine>>;

async fn machine() -> (String, Shared) {
    let m: Shared = Arc::default();
    let call = |name: &'static str, power: Option<bool>| {
        move |State(m): State<Shared>| async move {
            let mut m = m.lock().unwrap();
            m.calls.push(name);
            if let Some(p) = power {
                m.on = p;
            }
        }
    };
    let app = Router::new()
        .route("/poweron", post(call("poweron", Some(true))))
        .route("/poweroff", post(call("poweroff", Some(false))))
        .route("/reboot", post(call("reboot", Some(true))))
        .route("/pxeboot", post(call("pxeboot", None)))
        .route(
            "/status",
            get(|State(m): State<Shared>| async move {
                axum::Json(json!({"PoweredOn": m.lock().unwrap().on}))
            }),
        )
        .with_state(m.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, m)
}

async fn wait_until<F: Fn(&Server) -> bool>(
    api: &Api<Server>,
    name: &str,
    what: &str,
    f: F,
) -> Server {
    let start = Instant::now();
    loop {
        let s = api.get(name).await.unwrap();
        if f(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: {:?}",
            s.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn condition<'a>(s: &'a Server, t: &str) -> Option<&'a sidero_api::condition::Condition> {
    s.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

async fn start_controller(client: &Client) {
    let config = sidero_server::Config {
        default_pxe_mode: sidero_power::BootMode::Uefi,
        reboot_timeout: Duration::from_secs(1200),
    };
    tokio::spawn(server::run(
        client.clone(),
        config,
        sidero_power::SelectOptions::default(),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_power_off_and_allocation() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    start_controller(&client).await;
    let servers: Api<Server> = Api::all(client.clone());
    let (endpoint, m) = machine().await;

    // Accepted and dirty: PXE once, then power on, and a PowerCycle condition to wait on.
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "srv-wipe"},
        "spec": {"accepted": true, "managementApi": {"endpoint": endpoint}}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();
    let s = wait_until(&servers, "srv-wipe", "wipe started", |s| {
        condition(s, "PowerCycle").is_some_and(|c| c.reason.as_deref() == Some("InProgress"))
    })
    .await;
    assert!(
        s.finalizers()
            .iter()
            .any(|f| f == "storage.finalizers.server.k8s.io")
    );
    let c = condition(&s, "PowerCycle").unwrap();
    assert_eq!(c.status, "False");
    assert!(
        c.message
            .as_deref()
            .unwrap()
            .starts_with("Server power cycled for wiping at ")
    );
    assert_eq!(m.lock().unwrap().calls[..2], ["pxeboot", "poweron"]);
    assert!(!s.status.as_ref().unwrap().ready);

    // The agent reports the wipe: the clean, free server is powered off and ready.
    servers
        .patch_status(
            "srv-wipe",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"isClean": true, "conditions": [
                {"type": "PowerCycle", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
        )
        .await
        .unwrap();
    wait_until(&servers, "srv-wipe", "powered off and ready", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.ready && st.power.as_deref() == Some("off"))
    })
    .await;
    assert!(m.lock().unwrap().calls.contains(&"poweroff"));

    // Allocated: in use, dirty again, PXE once and powered on.
    let b: ServerBinding = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": "srv-wipe"},
        "spec": {"metalMachineRef": {"kind": "MetalMachine", "name": "m", "namespace": "default"},
                 "siderolink": {"address": "", "publicKey": ""}}
    }))
    .unwrap();
    let calls_before = m.lock().unwrap().calls.len();
    Api::<ServerBinding>::all(client.clone())
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
    wait_until(&servers, "srv-wipe", "allocated", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.in_use && !st.is_clean && st.power.as_deref() == Some("on"))
    })
    .await;
    assert_eq!(
        m.lock().unwrap().calls[calls_before..],
        ["pxeboot", "poweron"]
    );

    a_server_without_power_management_says_what_it_waits_for(&client).await;
    bound_before_first_reconcile_keeps_its_finalizer(&client, &endpoint).await;
}

/// A Server that is already bound (and owned) on its first reconcile ends with the finalizer,
/// no owner references, and in use.
async fn bound_before_first_reconcile_keeps_its_finalizer(client: &Client, endpoint: &str) {
    let b: ServerBinding = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": "srv-bound"},
        "spec": {"metalMachineRef": {"kind": "MetalMachine", "name": "m2", "namespace": "default"},
                 "siderolink": {"address": "", "publicKey": ""}}
    }))
    .unwrap();
    Api::<ServerBinding>::all(client.clone())
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
    let servers: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "srv-bound", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
            "name": "owner", "uid": "4a1c6a2e-0000-4000-8000-000000000001"}]},
        "spec": {"accepted": true, "managementApi": {"endpoint": endpoint}}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();
    let has_finalizer = |s: &Server| {
        s.finalizers()
            .iter()
            .any(|f| f == "storage.finalizers.server.k8s.io")
    };
    wait_until(&servers, "srv-bound", "bound, finalizer, no owners", |s| {
        has_finalizer(s)
            && s.owner_references().is_empty()
            && s.status.as_ref().is_some_and(|st| st.in_use)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = servers.get("srv-bound").await.unwrap();
    assert!(
        has_finalizer(&s),
        "finalizer lost: {:?}",
        s.metadata.finalizers
    );
}

/// Part of the single test below: one controller per process, as with leader election.
async fn a_server_without_power_management_says_what_it_waits_for(client: &Client) {
    let servers: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "srv-unmanaged"}, "spec": {"accepted": true}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();
    let s = wait_until(&servers, "srv-unmanaged", "waiting condition", |s| {
        condition(s, "PowerCycle").is_some_and(|c| c.reason.as_deref() == Some("WaitingForAgent"))
    })
    .await;
    let msg = condition(&s, "PowerCycle")
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(msg.contains("network-boot into the agent"), "{msg}");
}
