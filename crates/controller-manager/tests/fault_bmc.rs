//! Fault: BMCs (management API endpoints) that time out, answer garbage, or lie about the
//! power state, under the Server controller against a real API server. Each says what is
//! wrong in a Warning Event and `status.power`, and none is hammered: the calls each BMC
//! receives over 15 s stay bounded (retries are paced by the 20 s requeue, not a tight loop).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::controllers::server;

const WINDOW: Duration = Duration::from_secs(15);

/// A management API that counts requests and answers `status` with `body`; power calls
/// succeed but change nothing (a BMC that lies when `body` says a fixed state).
async fn bmc(status_body: &'static str) -> (String, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let count = |n: State<Arc<AtomicUsize>>| async move {
        n.fetch_add(1, Ordering::SeqCst);
    };
    let app = Router::new()
        .route("/poweron", post(count))
        .route("/poweroff", post(count))
        .route("/reboot", post(count))
        .route("/pxeboot", post(count))
        .route(
            "/status",
            get(move |State(n): State<Arc<AtomicUsize>>| async move {
                n.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/json")], status_body)
            }),
        )
        .with_state(n.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, n)
}

/// A BMC that accepts connections and never answers; counts connections.
async fn silent_bmc() -> (String, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let c = n.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (addr, n)
}

async fn create(client: &Client, name: &str, endpoint: &str, clean: bool) {
    let api: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name},
        "spec": {"accepted": true, "managementApi": {"endpoint": endpoint}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
    if clean {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"isClean": true, "conditions": [
                {"type": "PowerCycle", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
        )
        .await
        .unwrap();
    }
}

async fn warnings(client: &Client, name: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                && e.type_.as_deref() == Some("Warning")
        })
        .filter_map(|e| e.note)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_bmcs_are_reported_and_not_hammered() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let select = sidero_power::SelectOptions {
        api_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    tokio::spawn(server::run(
        client.clone(),
        sidero_server::Config {
            default_pxe_mode: sidero_power::BootMode::Uefi,
            reboot_timeout: Duration::from_secs(1200),
        },
        select,
    ));

    let (silent, silent_n) = silent_bmc().await;
    let (garbage, garbage_n) = bmc("\u{1}\u{2}not json{{{").await;
    // Says "on" whatever it is told: a clean free server is powered off again and again?
    let (liar_on, liar_on_n) = bmc(r#"{"PoweredOn": true}"#).await;
    // Says "off" whatever it is told: a dirty server is powered on again and again?
    let (liar_off, liar_off_n) = bmc(r#"{"PoweredOn": false}"#).await;
    let start = Instant::now();
    create(&client, "bmc-silent", &silent, false).await;
    create(&client, "bmc-garbage", &garbage, false).await;
    create(&client, "bmc-liar-on", &liar_on, true).await;
    create(&client, "bmc-liar-off", &liar_off, false).await;

    // Readable: the failing ones say why, in Events and status.power.
    let servers: Api<Server> = Api::all(client.clone());
    for (name, needle) in [("bmc-silent", "no answer"), ("bmc-garbage", "")] {
        loop {
            let w = warnings(&client, name).await;
            let power = servers
                .get(name)
                .await
                .unwrap()
                .status
                .and_then(|s| s.power);
            if let Some(m) = w
                .iter()
                .find(|m| m.starts_with("Failed to determine power status: "))
                && power.as_deref() == Some("unknown")
            {
                assert!(m.to_lowercase().contains(needle), "{name}: {m}");
                eprintln!("{name}: {m}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{name}: no readable failure: {w:?} power {power:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Bounded: count what each BMC received over the window.
    tokio::time::sleep(WINDOW.saturating_sub(start.elapsed())).await;
    let counts = [
        ("silent", silent_n.load(Ordering::SeqCst)),
        ("garbage", garbage_n.load(Ordering::SeqCst)),
        ("liar-on", liar_on_n.load(Ordering::SeqCst)),
        ("liar-off", liar_off_n.load(Ordering::SeqCst)),
    ];
    eprintln!("BMC requests in {:?}: {counts:?}", start.elapsed());
    for (name, n) in counts {
        assert!(n >= 1, "{name} was never asked");
        // A reconcile makes at most a status query and two actions; the 20 s requeue and
        // the watch allow a handful in 15 s, a tight loop makes hundreds.
        assert!(n <= 12, "{name}: {n} requests in {WINDOW:?}");
    }
}
