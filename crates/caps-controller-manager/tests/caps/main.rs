//! The CAPS controllers against a real API server: allocation from a class, explicit refs
//! checked, binding state mirrored into the MetalMachine, the workload Node's providerID set
//! through a second API server, and release on deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod fixtures;

use std::time::Duration;

use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::{metalcluster, metalmachine, serverbinding};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::condition;
use sidero_api::infra::v1alpha3::{MetalCluster, MetalMachine, ServerBinding};

use fixtures::*;

const LIMIT: Duration = Duration::from_secs(30);

async fn start() -> Client {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("caps_controller_manager=debug")
        .try_init();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    install_capi_crds(&client).await;
    tokio::spawn(metalmachine::run(
        client.clone(),
        CapiResources::at("v1beta1"),
    ));
    tokio::spawn(metalcluster::run(client.clone()));
    tokio::spawn(serverbinding::run(client.clone()));
    client
}

async fn get_mm(client: &Client, ns: &str, name: &str) -> Option<MetalMachine> {
    Api::<MetalMachine>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

fn reason_of(mm: &MetalMachine, type_: &str) -> Option<String> {
    let s = mm.status.as_ref()?;
    condition::get(&s.conditions, type_).and_then(|c| c.reason.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_status_provider_id_and_release() {
    let client = start().await;
    let ns = "caps-life";
    namespace(&client, ns).await;
    cluster(&client, ns, "c1").await;
    let names: Vec<String> = (0..3).map(|i| format!("life-{i}")).collect();
    for n in &names {
        server(&client, n, true).await;
    }
    server(&client, "life-dirty", false).await;
    class(&client, "life-workers", &names).await;
    machine(&client, ns, "c1", "m1", Some("life-workers"), None).await;

    // Allocated from the class, in the class's order; the binding is the lock.
    let mm = eventually(LIMIT, "m1 bound", || async {
        get_mm(&client, ns, "m1")
            .await
            .filter(|m| m.spec.provider_id.is_some() && m.status.as_ref().is_some_and(|s| s.ready))
    })
    .await;
    let server = mm
        .spec
        .server_ref
        .as_ref()
        .and_then(|r| r.name.clone())
        .unwrap();
    // Both tests of this binary run a controller: two instances race for m1 here, and only
    // one server may end up bound to it.
    assert!(names.contains(&server), "{server}");
    assert_eq!(mm.spec.provider_id, Some(format!("sidero://{server}")));
    let held = eventually(LIMIT, "one binding for m1", || async {
        let all = Api::<ServerBinding>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let held: Vec<String> = all
            .iter()
            .filter(|b| b.spec.metal_machine_ref.name.as_deref() == Some("m1"))
            .map(|b| b.name_any())
            .collect();
        (held.len() == 1).then_some(held)
    })
    .await;
    assert_eq!(held, std::slice::from_ref(&server));
    assert!(
        mm.finalizers()
            .iter()
            .any(|f| f == sidero_caps::METAL_MACHINE_FINALIZER)
    );
    assert_eq!(
        mm.status
            .as_ref()
            .unwrap()
            .initialization
            .as_ref()
            .unwrap()
            .provisioned,
        Some(true)
    );
    let bindings: Api<ServerBinding> = Api::all(client.clone());
    let b = bindings.get(&server).await.unwrap();
    assert_eq!(b.spec.metal_machine_ref.name.as_deref(), Some("m1"));
    assert_eq!(
        b.spec
            .server_class_ref
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("life-workers")
    );
    assert_eq!(
        b.labels()
            .get("cluster.x-k8s.io/cluster-name")
            .map(String::as_str),
        Some("c1")
    );
    // No kubeconfig Secret yet: ProviderSet says why.
    assert_eq!(
        reason_of(&mm, "ProviderSet").as_deref(),
        Some("ProviderUpdateFailed")
    );
    // The ServerBinding controller marks the binding ready (its Server exists).
    eventually(LIMIT, "binding ready", || async {
        bindings
            .get(&server)
            .await
            .ok()
            .filter(|b| b.status.as_ref().is_some_and(|s| s.ready))
    })
    .await;

    // What the events sink writes into the binding shows up on the MetalMachine.
    let patch = json!({"spec": {"addresses": ["10.5.0.7"], "hostname": "node-7"}});
    bindings
        .patch(&server, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let status = json!({"status": {"ready": true, "conditions": [
        {"type": "TalosInstalled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    bindings
        .patch_status(&server, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    // Two writes, so two reconciles: the first may copy the addresses before the condition.
    let mm = eventually(LIMIT, "addresses and conditions copied", || async {
        get_mm(&client, ns, "m1").await.filter(|m| {
            m.status.as_ref().is_some_and(|s| {
                s.addresses.len() == 2 && condition::is_true(&s.conditions, "TalosInstalled")
            })
        })
    })
    .await;
    let s = mm.status.as_ref().unwrap();
    assert_eq!(
        (
            s.addresses[0].type_.as_str(),
            s.addresses[0].address.as_str()
        ),
        ("InternalIP", "10.5.0.7")
    );
    assert_eq!(
        (
            s.addresses[1].type_.as_str(),
            s.addresses[1].address.as_str()
        ),
        ("Hostname", "node-7")
    );
    assert!(condition::is_true(&s.conditions, "TalosInstalled"));

    // The workload cluster: a second API server with the server's Node.
    let workload = sidero_testenv::ControlPlane::start().unwrap();
    let wclient = workload.client().await.unwrap();
    let node: Node = serde_json::from_value(
        json!({"metadata": {"name": "node-7", "labels": {"metal.sidero.dev/uuid": server}}}),
    )
    .unwrap();
    Api::<Node>::all(wclient.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let kubeconfig = std::fs::read_to_string(workload.kubeconfig()).unwrap();
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "c1-kubeconfig", "namespace": ns,
        "labels": {"cluster.x-k8s.io/cluster-name": "c1"}}, "stringData": {"value": kubeconfig}}),
    )
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    eventually(LIMIT, "ProviderSet=True", || async {
        get_mm(&client, ns, "m1")
            .await
            .filter(|m| condition::is_true(&m.status.as_ref().unwrap().conditions, "ProviderSet"))
    })
    .await;
    let node = Api::<Node>::all(wclient).get("node-7").await.unwrap();
    assert_eq!(
        node.spec.unwrap().provider_id.as_deref(),
        Some(format!("sidero://{server}").as_str())
    );

    // An explicit ref to a dirty server is refused with a reason (upstream binds it).
    machine(&client, ns, "c1", "m-dirty", None, Some("life-dirty")).await;
    let mm = eventually(LIMIT, "refusal", || async {
        get_mm(&client, ns, "m-dirty")
            .await
            .filter(|m| reason_of(m, "ServerAllocated").is_some())
    })
    .await;
    assert_eq!(
        reason_of(&mm, "ServerAllocated").as_deref(),
        Some("ServerNotClean")
    );
    assert!(bindings.get_opt("life-dirty").await.unwrap().is_none());
    // An explicit ref to a server bound to m1 is refused too.
    machine(&client, ns, "c1", "m-steal", None, Some(server.as_str())).await;
    let mm = eventually(LIMIT, "refusal", || async {
        get_mm(&client, ns, "m-steal")
            .await
            .filter(|m| reason_of(m, "ServerAllocated").is_some())
    })
    .await;
    assert_eq!(
        reason_of(&mm, "ServerAllocated").as_deref(),
        Some("ServerBoundElsewhere")
    );
    // Deleting the thief does not release m1's server.
    Api::<MetalMachine>::namespaced(client.clone(), ns)
        .delete("m-steal", &DeleteParams::default())
        .await
        .unwrap();
    eventually(LIMIT, "m-steal gone", || async {
        get_mm(&client, ns, "m-steal").await.is_none().then_some(())
    })
    .await;
    assert!(bindings.get_opt(&server).await.unwrap().is_some());

    // Release: deleting m1 deletes its binding, then the finalizer goes.
    Api::<MetalMachine>::namespaced(client.clone(), ns)
        .delete("m1", &DeleteParams::default())
        .await
        .unwrap();
    eventually(LIMIT, "m1 gone", || async {
        get_mm(&client, ns, "m1").await.is_none().then_some(())
    })
    .await;
    assert!(bindings.get_opt(&server).await.unwrap().is_none());
    let left = bindings.list(&ListParams::default()).await.unwrap();
    assert!(
        left.items
            .iter()
            .all(|b| !b.name_any().starts_with("life-")),
        "orphaned bindings left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metalcluster_becomes_ready_once_owned() {
    let client = start().await;
    let ns = "caps-cluster";
    namespace(&client, ns).await;
    let api: Api<MetalCluster> = Api::namespaced(client.clone(), ns);
    let mc: MetalCluster = serde_json::from_value(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalCluster",
        "metadata": {"name": "mc", "namespace": ns}, "spec": {"controlPlaneEndpoint": {"host": "10.5.0.10", "port": 6443}}}))
    .unwrap();
    api.create(&PostParams::default(), &mc).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !api.get("mc").await.unwrap().status.is_some_and(|s| s.ready),
        "ready without an owner Cluster"
    );
    let owner = json!({"metadata": {"ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "name": "c", "uid": "7e57"}]}});
    api.patch("mc", &PatchParams::default(), &Patch::Merge(owner))
        .await
        .unwrap();
    let mc = eventually(LIMIT, "metalcluster ready", || async {
        api.get("mc")
            .await
            .ok()
            .filter(|m| m.status.as_ref().is_some_and(|s| s.ready))
    })
    .await;
    assert!(
        mc.finalizers()
            .iter()
            .any(|f| f == sidero_caps::METAL_CLUSTER_FINALIZER)
    );
    assert_eq!(
        mc.status.unwrap().initialization.unwrap().provisioned,
        Some(true)
    );
    api.delete("mc", &DeleteParams::default()).await.unwrap();
    eventually(LIMIT, "metalcluster deleted", || async {
        api.get_opt("mc").await.unwrap().is_none().then_some(())
    })
    .await;
}
