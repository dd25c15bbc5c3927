//! CRD structure checks against upstream's generated CRDs (v0.6.13): names, scope, versions,
//! printer columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::crd_util::{crd, version};

fn col(name: &str, type_: &str, path: &str, desc: Option<&str>, priority: Option<i32>) -> Value {
    let mut c = json!({"name": name, "type": type_, "jsonPath": path});
    if let Some(d) = desc {
        c["description"] = json!(d);
    }
    if let Some(p) = priority {
        c["priority"] = json!(p);
    }
    c
}

const CLUSTER_LABEL: &str = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name";
const AGE: &str = "The age of this resource";

#[test]
fn four_crds_without_labels() {
    let crds = crate::infra::crds();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "metalclusters.infrastructure.cluster.x-k8s.io",
            "metalmachines.infrastructure.cluster.x-k8s.io",
            "metalmachinetemplates.infrastructure.cluster.x-k8s.io",
            "serverbindings.infrastructure.cluster.x-k8s.io",
        ]
    );
    for c in &crds {
        assert!(c.metadata.labels.is_none() && c.metadata.annotations.is_none());
    }
}

#[test]
fn names_scope_and_versions() {
    let table = [
        (
            "metalclusters",
            "MetalCluster",
            "Namespaced",
            true,
            vec![("v1alpha2", false, true), ("v1alpha3", true, true)],
        ),
        (
            "metalmachines",
            "MetalMachine",
            "Namespaced",
            true,
            vec![("v1alpha2", false, true), ("v1alpha3", true, true)],
        ),
        (
            "metalmachinetemplates",
            "MetalMachineTemplate",
            "Namespaced",
            true,
            vec![("v1alpha2", false, false), ("v1alpha3", true, false)],
        ),
        (
            "serverbindings",
            "ServerBinding",
            "Cluster",
            false,
            vec![("v1alpha3", true, true)],
        ),
    ];
    for (plural, kind, scope, category, versions) in table {
        let c = crd(plural);
        let names = &c["spec"]["names"];
        assert_eq!(names["plural"], plural);
        assert_eq!(names["singular"], kind.to_lowercase());
        assert_eq!(names["kind"], kind);
        assert_eq!(names["listKind"], format!("{kind}List"));
        assert!(
            names.get("shortNames").is_none(),
            "{kind}: upstream has no short names"
        );
        let categories = if category {
            json!(["cluster-api"])
        } else {
            Value::Null
        };
        assert_eq!(
            names.get("categories").cloned().unwrap_or(Value::Null),
            categories,
            "{kind}"
        );
        assert_eq!(c["spec"]["scope"], scope, "{kind}");
        let got: Vec<_> = c["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let status = v.pointer("/subresources/status").is_some();
                (
                    v["name"].as_str().unwrap().to_owned(),
                    v["storage"] == true,
                    status,
                    v["served"] == true,
                )
            })
            .collect();
        let want: Vec<_> = versions
            .iter()
            .map(|(n, s, st)| ((*n).to_owned(), *s, *st, true))
            .collect();
        assert_eq!(got, want, "{kind}");
    }
}

#[test]
fn printer_columns() {
    let cluster = json!([
        col(
            "Cluster",
            "string",
            CLUSTER_LABEL,
            Some("Cluster to which this MetalCluster belongs"),
            None
        ),
        col("Ready", "boolean", ".status.ready", None, None),
        col(
            "Endpoint",
            "string",
            ".spec.controlPlaneEndpoint.host",
            Some("Control Plane Endpoint"),
            Some(1)
        ),
        col(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            Some(AGE),
            None
        ),
    ]);
    let machine = json!([
        col(
            "Ready",
            "string",
            ".status.ready",
            Some("MetalMachine ready status"),
            None
        ),
        col(
            "Cluster",
            "string",
            CLUSTER_LABEL,
            Some("Cluster to which this MetalMachine belongs"),
            Some(1)
        ),
        col(
            "Machine",
            "string",
            ".metadata.ownerReferences[?(@.kind==\"Machine\")].name",
            Some("Machine object to which this MetalMachine belongs"),
            Some(1)
        ),
        col(
            "Server",
            "string",
            ".spec.serverRef.name",
            Some("Server ID"),
            Some(1)
        ),
        col(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            Some(AGE),
            None
        ),
    ]);
    let binding = json!([
        col(
            "Ready",
            "string",
            ".status.ready",
            Some("ServerBinding ready status"),
            None
        ),
        col(
            "Server",
            "string",
            ".metadata.name",
            Some("Server ID"),
            Some(1)
        ),
        col(
            "ServerClass",
            "string",
            ".spec.serverClassRef.name",
            Some("Server Class"),
            Some(1)
        ),
        col(
            "MetalMachine",
            "string",
            ".spec.metalMachineRef.name",
            Some("Metal Machine"),
            Some(1)
        ),
        col(
            "Cluster",
            "string",
            CLUSTER_LABEL,
            Some("Cluster to which this ServerBinding belongs"),
            Some(1)
        ),
        col(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            Some(AGE),
            None
        ),
    ]);
    let table = [
        ("metalclusters", "v1alpha3", cluster),
        ("metalmachines", "v1alpha3", machine),
        ("serverbindings", "v1alpha3", binding),
        ("metalclusters", "v1alpha2", Value::Null),
        ("metalmachines", "v1alpha2", Value::Null),
        ("metalmachinetemplates", "v1alpha2", Value::Null),
        ("metalmachinetemplates", "v1alpha3", Value::Null),
    ];
    for (plural, ver, want) in table {
        let c = crd(plural);
        let got = version(&c, ver)
            .get("additionalPrinterColumns")
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(got, want, "{plural} {ver}");
    }
}
