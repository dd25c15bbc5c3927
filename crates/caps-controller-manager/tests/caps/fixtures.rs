//! Objects for the CAPS tests: stand-in CAPI CRDs (these tests exercise our controllers
//! against a real API server; the run with the real CAPI managers is in the CAPI-stack tests),
//! clean servers, classes, and a Cluster/Machine/MetalMachine chain.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_api::infra::v1alpha3::MetalMachine;
use sidero_api::metal::v1alpha2::{Server, ServerClass};

/// Installs `clusters` and `machines` of `cluster.x-k8s.io/v1beta1` with open schemas.
pub async fn install_capi_crds(client: &Client) {
    let crd = |plural: &str, kind: &str| -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.cluster.x-k8s.io")},
            "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
                "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
                "versions": [{"name": "v1beta1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }))
        .unwrap()
    };
    sidero_testenv::crds::install(
        client,
        &[crd("clusters", "Cluster"), crd("machines", "Machine")],
    )
    .await
    .unwrap();
}

fn capi(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn create_dynamic(api: &Api<DynamicObject>, v: Value) -> DynamicObject {
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

/// Creates a namespace.
pub async fn namespace(client: &Client, ns: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
    )
    .await
    .unwrap();
}

/// A Cluster whose infrastructure is ready.
pub async fn cluster(client: &Client, ns: &str, name: &str) {
    create_dynamic(
        &capi(client, ns, "Cluster"),
        json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": name, "namespace": ns}, "spec": {}, "status": {"infrastructureReady": true}}),
    )
    .await;
}

/// A Server with the given cleanliness (accepted, not in use).
pub async fn server(client: &Client, name: &str, clean: bool) {
    let api: Api<Server> = Api::all(client.clone());
    let s: Server = serde_json::from_value(
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name}, "spec": {"accepted": true}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
    let status = json!({"status": {"ready": true, "inUse": false, "isClean": clean}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

/// A ServerClass listing `available` (as the manager's ServerClass controller would).
pub async fn class(client: &Client, name: &str, available: &[String]) {
    let api: Api<ServerClass> = Api::all(client.clone());
    let c: ServerClass = serde_json::from_value(
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": name}, "spec": {"qualifiers": {}}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &c).await.unwrap();
    let status = json!({"status": {"serversAvailable": available, "serversInUse": []}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

/// A Machine (with bootstrap data) owning a MetalMachine that asks for `class` or `server_ref`.
pub async fn machine(
    client: &Client,
    ns: &str,
    cluster: &str,
    name: &str,
    class: Option<&str>,
    server_ref: Option<&str>,
) {
    machine_with(client, ns, cluster, name, class, server_ref, true).await;
}

/// [`machine`], with the bootstrap data secret set now (`bootstrap`) or left for
/// [`bootstrap_ready`] (as while CABPT is still generating the config).
pub async fn machine_with(
    client: &Client,
    ns: &str,
    cluster: &str,
    name: &str,
    class: Option<&str>,
    server_ref: Option<&str>,
    bootstrap: bool,
) {
    let boot = if bootstrap {
        json!({"dataSecretName": format!("{name}-bootstrap")})
    } else {
        json!({})
    };
    let m = create_dynamic(
        &capi(client, ns, "Machine"),
        json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
            "metadata": {"name": name, "namespace": ns, "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
            "spec": {"clusterName": cluster, "bootstrap": boot,
                     "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine", "name": name}}}),
    )
    .await;
    let mut spec = json!({});
    if let Some(c) = class {
        spec["serverClassRef"] =
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass", "name": c});
    }
    if let Some(s) = server_ref {
        spec["serverRef"] = json!({"kind": "Server", "name": s});
    }
    let mm: MetalMachine = serde_json::from_value(json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine",
        "metadata": {"name": name, "namespace": ns, "labels": {"cluster.x-k8s.io/cluster-name": cluster},
            "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine", "name": name, "uid": m.metadata.uid.unwrap()}]},
        "spec": spec}))
    .unwrap();
    Api::<MetalMachine>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &mm)
        .await
        .unwrap();
}

/// Sets the Machine's bootstrap data secret, as the bootstrap provider does when it is done.
pub async fn bootstrap_ready(client: &Client, ns: &str, name: &str) {
    capi(client, ns, "Machine")
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"bootstrap": {"dataSecretName": format!("{name}-bootstrap")}}}),
            ),
        )
        .await
        .unwrap();
}

/// Polls `check` until it returns `Some` or `limit` passes (then panics with `what`).
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
