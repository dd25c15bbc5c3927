//! The CRDs on a real kube-apiserver: every sample applies unchanged and reads back equal,
//! our types read what the server returns without losing a field, invalid objects are
//! refused by the schema with a readable message, and kubectl shows upstream's columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use serde_json::Value;

use sidero_api::infra::v1alpha3::{
    MetalCluster, MetalMachine, MetalMachineTemplate, ServerBinding,
};
use sidero_api::metal::v1alpha2::{Environment, Server, ServerClass};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

/// Every document of every sample file, with the file it came from.
fn samples() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        out.extend(docs.into_iter().map(|d| (name.clone(), d)));
    }
    out
}

async fn client() -> Client {
    sidero_testenv::shared().unwrap().client().await.unwrap()
}

fn gvk_of(v: &Value) -> GroupVersionKind {
    let (group, version) = v["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    GroupVersionKind::gvk(group, version, v["kind"].as_str().unwrap())
}

async fn api_for(client: &Client, v: &Value) -> Api<DynamicObject> {
    let (ar, caps) = pinned_kind(client, &gvk_of(v)).await.unwrap();
    match caps.scope {
        Scope::Cluster => Api::all_with(client.clone(), &ar),
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            v["metadata"]["namespace"].as_str().unwrap(),
            &ar,
        ),
    }
}

async fn create(client: &Client, v: &Value) -> Result<Value, kube::Error> {
    let api = api_for(client, v).await;
    let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
    let created = api.create(&PostParams::default(), &obj).await?;
    Ok(serde_json::to_value(created).unwrap())
}

/// Every field of `want` is in `got` with the same value (`got` may have more, such as the
/// metadata the server fills in).
fn assert_contains(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let gv = g
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} lost; got {got}"));
                assert_contains(gv, wv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: array length");
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                assert_contains(gv, wv, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

/// Reads the server's JSON into our type and writes it back: nothing may be lost.
fn typed_roundtrip(kind: &str, server_json: &Value) -> Value {
    fn rt<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
        let t: T = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("our type cannot read the server's object: {e}\n{v}"));
        serde_json::to_value(t).unwrap()
    }
    match kind {
        "Server" => rt::<Server>(server_json),
        "ServerClass" => rt::<ServerClass>(server_json),
        "Environment" => rt::<Environment>(server_json),
        "MetalCluster" => rt::<MetalCluster>(server_json),
        "MetalMachine" => rt::<MetalMachine>(server_json),
        "MetalMachineTemplate" => rt::<MetalMachineTemplate>(server_json),
        "ServerBinding" => rt::<ServerBinding>(server_json),
        other => panic!("no typed round trip for {other}"),
    }
}

#[tokio::test]
async fn every_sample_applies_and_reads_back_equal() {
    let client = client().await;
    let samples = samples();
    let kinds: std::collections::BTreeSet<_> = samples
        .iter()
        .map(|(_, v)| v["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.len(), 7, "samples cover all seven kinds: {kinds:?}");
    for (file, sample) in &samples {
        let created = create(&client, sample)
            .await
            .unwrap_or_else(|e| panic!("{file}: the API server refused the sample: {e}"));
        assert_contains(&created, sample, file);

        let api = api_for(&client, sample).await;
        let read = api
            .get(sample["metadata"]["name"].as_str().unwrap())
            .await
            .unwrap();
        let read = serde_json::to_value(read).unwrap();
        assert_contains(&read, sample, file);

        let typed = typed_roundtrip(sample["kind"].as_str().unwrap(), &read);
        assert_contains(&typed, &read, &format!("{file} (typed)"));
    }
}

/// The expected schema errors: (what is wrong, object, substring of the API error).
fn invalid_objects() -> Vec<(&'static str, Value, &'static str)> {
    use serde_json::json;
    vec![
        (
            "Server without spec.accepted",
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
                   "metadata": {"name": "invalid-no-accepted"}, "spec": {"hostname": "x"}}),
            "spec.accepted: Required value",
        ),
        (
            "Server with a non-boolean accepted",
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
                   "metadata": {"name": "invalid-accepted-type"}, "spec": {"accepted": "yes"}}),
            "spec.accepted: Invalid value",
        ),
        (
            "Server BMC without endpoint",
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
                   "metadata": {"name": "invalid-bmc"},
                   "spec": {"accepted": false, "bmc": {"user": "admin"}}}),
            "spec.bmc.endpoint: Required value",
        ),
        (
            "Server config patch without op",
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
                   "metadata": {"name": "invalid-patch"},
                   "spec": {"accepted": false, "configPatches": [{"path": "/machine"}]}}),
            "spec.configPatches[0].op: Required value",
        ),
        (
            "ServerBinding without metalMachineRef",
            json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
                   "metadata": {"name": "invalid-binding"},
                   "spec": {"siderolink": {"address": "", "publicKey": ""}}}),
            "spec.metalMachineRef: Required value",
        ),
        (
            "MetalCluster endpoint without host",
            json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalCluster",
                   "metadata": {"name": "invalid-endpoint", "namespace": "default"},
                   "spec": {"controlPlaneEndpoint": {"port": 6443}}}),
            "spec.controlPlaneEndpoint.host: Required value",
        ),
        (
            "MetalMachineTemplate without template.spec",
            json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachineTemplate",
                   "metadata": {"name": "invalid-template", "namespace": "default"},
                   "spec": {"template": {}}}),
            "spec.template.spec: Required value",
        ),
    ]
}

#[tokio::test]
async fn invalid_objects_are_refused_by_the_schema() {
    let client = client().await;
    for (what, obj, expected) in invalid_objects() {
        match create(&client, &obj).await {
            Ok(_) => panic!("{what}: accepted, expected {expected:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(expected),
                    "{what}: got {msg:?}, expected {expected:?}"
                );
            }
        }
    }
}

fn kubectl(args: &[&str]) -> String {
    let kc = sidero_testenv::shared().unwrap().kubeconfig().to_path_buf();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .output()
        .expect("kubectl on PATH (scripts/test.sh puts the one built in tools/peers first)");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn kubectl_lists_the_crds_and_upstream_columns() {
    sidero_testenv::shared().unwrap();
    let crds = kubectl(&["get", "crds", "-o", "name"]);
    let mut names: Vec<&str> = crds
        .lines()
        .map(|l| l.trim_start_matches("customresourcedefinition.apiextensions.k8s.io/"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "environments.metal.sidero.dev",
            "metalclusters.infrastructure.cluster.x-k8s.io",
            "metalmachines.infrastructure.cluster.x-k8s.io",
            "metalmachinetemplates.infrastructure.cluster.x-k8s.io",
            "serverbindings.infrastructure.cluster.x-k8s.io",
            "serverclasses.metal.sidero.dev",
            "servers.metal.sidero.dev",
        ]
    );

    // Columns as upstream declares them (spec §2.1–§2.7); priority-1 columns only with -o wide.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["get", "servers"],
            &[
                "NAME",
                "HOSTNAME",
                "ACCEPTED",
                "CORDONED",
                "ALLOCATED",
                "CLEAN",
                "POWER",
                "AGE",
            ],
        ),
        (
            &["get", "servers", "-o", "wide"],
            &[
                "NAME",
                "HOSTNAME",
                "BMC",
                "IP",
                "ACCEPTED",
                "CORDONED",
                "ALLOCATED",
                "CLEAN",
                "POWER",
                "AGE",
            ],
        ),
        (
            &["get", "serverclasses"],
            &["NAME", "AVAILABLE", "IN", "USE", "AGE"],
        ),
        (
            &["get", "environments"],
            &["NAME", "KERNEL", "INITRD", "READY", "AGE"],
        ),
        (
            &["get", "metalclusters", "-A"],
            &["NAMESPACE", "NAME", "CLUSTER", "READY", "AGE"],
        ),
        (
            &["get", "metalmachines", "-A"],
            &["NAMESPACE", "NAME", "READY", "AGE"],
        ),
        (&["get", "serverbindings"], &["NAME", "READY", "AGE"]),
        (
            &["get", "serverbindings", "-o", "wide"],
            &[
                "NAME",
                "READY",
                "SERVER",
                "SERVERCLASS",
                "METALMACHINE",
                "CLUSTER",
                "AGE",
            ],
        ),
    ];
    // Every table needs a row for kubectl to print a header; use copies under other names so
    // this test does not race the one that creates the samples themselves.
    let client = client().await;
    for (file, mut sample) in samples() {
        let name = format!("kubectl-{}", sample["metadata"]["name"].as_str().unwrap());
        sample["metadata"]["name"] = Value::String(name);
        create(&client, &sample)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    for (args, want) in cases {
        assert_eq!(header(&kubectl(args)), *want, "kubectl {args:?}");
    }
}
