//! The ServerClass controller against a real API server: membership follows Server changes
//! within a second, class `any` is created and kept empty, bad selectors surface as Events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_api::metal::v1alpha2::{Server, ServerClass};
use sidero_controller_manager::controllers::serverclass;

async fn status(api: &Api<ServerClass>, name: &str) -> (Vec<String>, Vec<String>) {
    let c = api.get(name).await.unwrap();
    let s = c.status.unwrap_or_default();
    (s.servers_available, s.servers_in_use)
}

/// Polls until the class status equals `want`; returns how long it took.
async fn wait_for(api: &Api<ServerClass>, name: &str, want: (&[&str], &[&str])) -> Duration {
    let start = Instant::now();
    let want = (
        want.0.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        want.1.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    loop {
        let got = status(api, name).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name}: got {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn create_server(client: &Client, name: &str, labels: Value, accepted: bool) {
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name, "labels": labels},
        "spec": {"accepted": accepted, "hardware": {"system": {"manufacturer": "QEMU"}}}
    }))
    .unwrap();
    Api::<Server>::all(client.clone())
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_follows_servers() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("sidero_controller_manager=debug,kube_runtime=info")
        .try_init();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    serverclass::ensure_any(&client).await.unwrap();
    serverclass::ensure_any(&client).await.unwrap(); // idempotent
    tokio::spawn(serverclass::run(client.clone()));
    let classes: Api<ServerClass> = Api::all(client.clone());
    let servers: Api<Server> = Api::all(client.clone());

    let east: ServerClass = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": "east"},
        "spec": {"qualifiers": {"hardware": [{"system": {"manufacturer": "QEMU"}}]},
                 "selector": {"matchLabels": {"zone": "east"}}}
    }))
    .unwrap();
    classes.create(&PostParams::default(), &east).await.unwrap();
    create_server(&client, "s1", json!({"zone": "east"}), true).await;
    create_server(&client, "s2", json!({"zone": "west"}), true).await;
    create_server(&client, "s3", json!({"zone": "east"}), false).await;

    wait_for(&classes, "east", (&["s1"], &[])).await;
    wait_for(&classes, "any", (&["s1", "s2"], &[])).await;

    // A label change moves s2 into the class within a second.
    let took = {
        servers
            .patch(
                "s2",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"zone": "east"}}})),
            )
            .await
            .unwrap();
        wait_for(&classes, "east", (&["s1", "s2"], &[])).await
    };
    eprintln!("label change reflected in the class status after {took:?}");
    assert!(took < Duration::from_secs(1), "label change took {took:?}");

    // Accepting s3, then marking s1 in use, then cordoning s2.
    servers
        .patch(
            "s3",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accepted": true}})),
        )
        .await
        .unwrap();
    wait_for(&classes, "east", (&["s1", "s2", "s3"], &[])).await;
    servers
        .patch_status(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true, "inUse": true, "isClean": true}})),
        )
        .await
        .unwrap();
    wait_for(&classes, "east", (&["s2", "s3"], &["s1"])).await;
    servers
        .patch(
            "s2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"cordoned": true}})),
        )
        .await
        .unwrap();
    wait_for(&classes, "east", (&["s3"], &["s1"])).await;
    servers.delete("s3", &Default::default()).await.unwrap();
    wait_for(&classes, "east", (&[], &["s1"])).await;

    // Qualifiers put on `any` are removed again.
    classes
        .patch(
            "any",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"qualifiers": {"labelSelectors": [{"zone": "east"}]}}})),
        )
        .await
        .unwrap();
    let start = Instant::now();
    while !classes.get("any").await.unwrap().spec.qualifiers.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "any keeps its qualifiers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An invalid selector is reported as an Event on the class.
    let bad: ServerClass = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": "bad"},
        "spec": {"qualifiers": {}, "selector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": []}]}}
    }))
    .unwrap();
    classes.create(&PostParams::default(), &bad).await.unwrap();
    let events: Api<Event> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        let list = events.list(&ListParams::default()).await.unwrap();
        let found = list.items.iter().any(|e| {
            e.reason.as_deref() == Some("InvalidSelector")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("bad")
        });
        if found {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no InvalidSelector event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
