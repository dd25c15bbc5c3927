//! The generated CRDs against upstream's manifests (names, scope, versions, printer columns,
//! required lists, schema shape).

use serde_json::{Value, json};

use crate::metal::crds;

fn crd(plural: &str) -> Value {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.plural == plural)
        .unwrap();
    serde_json::to_value(crd).unwrap()
}

fn version<'a>(crd: &'a Value, name: &str) -> &'a Value {
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()
}

fn schema<'a>(crd: &'a Value, ver: &str, pointer: &str) -> &'a Value {
    let root = &version(crd, ver)["schema"]["openAPIV3Schema"];
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("{ver} has no {pointer}"))
}

fn columns(crd: &Value, ver: &str) -> Vec<(String, String, String, Option<i64>)> {
    version(crd, ver)["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["type"].as_str().unwrap().to_owned(),
                c["jsonPath"].as_str().unwrap().to_owned(),
                c["priority"].as_i64(),
            )
        })
        .collect()
}

fn col(
    name: &str,
    type_: &str,
    path: &str,
    priority: Option<i64>,
) -> (String, String, String, Option<i64>) {
    (name.into(), type_.into(), path.into(), priority)
}

fn walk(value: &Value, found: &mut Vec<String>, path: &str) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "nullable" || key == "default" || key == "enum" {
                    found.push(format!("{path}/{key}"));
                }
                walk(child, found, &format!("{path}/{key}"));
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, found, path)),
        _ => {}
    }
}

#[test]
fn names_scope_and_versions() {
    let all = crds();
    assert_eq!(all.len(), 3);
    for (plural, singular, kind) in [
        ("servers", "server", "Server"),
        ("serverclasses", "serverclass", "ServerClass"),
        ("environments", "environment", "Environment"),
    ] {
        let crd = crd(plural);
        assert_eq!(
            crd["metadata"],
            json!({ "name": format!("{plural}.metal.sidero.dev") })
        );
        assert_eq!(crd["spec"]["group"], "metal.sidero.dev");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        let names = json!({
            "kind": kind, "listKind": format!("{kind}List"),
            "plural": plural, "singular": singular,
        });
        assert_eq!(
            crd["spec"]["names"], names,
            "no shortNames or categories upstream"
        );
        let versions: Vec<_> = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].clone(), v["served"].clone(), v["storage"].clone()))
            .collect();
        assert_eq!(
            versions,
            [
                (json!("v1alpha1"), json!(true), json!(false)),
                (json!("v1alpha2"), json!(true), json!(true)),
            ]
        );
        for ver in ["v1alpha1", "v1alpha2"] {
            assert_eq!(version(&crd, ver)["subresources"], json!({ "status": {} }));
            let root = schema(&crd, ver, "");
            assert_eq!(root["properties"]["metadata"], json!({ "type": "object" }));
            assert_eq!(root["properties"]["apiVersion"]["type"], "string");
            assert_eq!(root["properties"]["kind"]["type"], "string");
            assert!(root.get("title").is_none());
            assert_eq!(
                columns(&crd, ver).last().unwrap(),
                &col("Age", "date", ".metadata.creationTimestamp", None)
            );
            let mut found = Vec::new();
            walk(root, &mut found, "");
            assert!(
                found.is_empty(),
                "{plural} {ver}: upstream has none of {found:?}"
            );
        }
    }
}

#[test]
fn server_schema() {
    let crd = crd("servers");
    for ver in ["v1alpha1", "v1alpha2"] {
        assert_eq!(
            columns(&crd, ver),
            [
                col("Hostname", "string", ".spec.hostname", None),
                col("BMC IP", "string", ".spec.bmc.endpoint", Some(1)),
                col("Accepted", "boolean", ".spec.accepted", None),
                col("Cordoned", "boolean", ".spec.cordoned", None),
                col("Allocated", "boolean", ".status.inUse", None),
                col("Clean", "boolean", ".status.isClean", None),
                col("Power", "string", ".status.power", None),
                col("Age", "date", ".metadata.creationTimestamp", None),
            ]
        );
        assert_eq!(
            schema(&crd, ver, "/properties/spec/required"),
            &json!(["accepted"])
        );
        assert!(
            schema(&crd, ver, "/properties/status")
                .get("required")
                .is_none()
        );
        let spec = schema(&crd, ver, "/properties/spec/properties");
        assert_eq!(spec["environmentRef"]["x-kubernetes-map-type"], "atomic");
        assert_eq!(spec["bmc"]["required"], json!(["endpoint"]));
        assert_eq!(
            spec["bmc"]["properties"]["port"],
            json!({
                "description": "BMC port. Defaults to 623.", "format": "int32", "type": "integer",
            })
        );
        let secret = &spec["bmc"]["properties"]["userFrom"]["properties"]["secretKeyRef"];
        assert_eq!(secret["required"], json!(["key", "name", "namespace"]));
        assert_eq!(spec["managementApi"]["required"], json!(["endpoint"]));
        let patch = &spec["configPatches"]["items"];
        assert_eq!(patch["required"], json!(["op", "path"]));
        assert_eq!(
            patch["properties"]["value"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(spec["bootFromDiskMethod"]["type"], "string");
        assert_eq!(spec["pxeMode"]["type"], "string");
        let status = schema(&crd, ver, "/properties/status/properties");
        for field in ["ready", "inUse", "isClean"] {
            assert_eq!(status[field]["type"], "boolean");
        }
        assert_eq!(
            status["addresses"]["items"]["required"],
            json!(["address", "type"])
        );
        assert_eq!(
            status["conditions"]["items"]["required"],
            json!(["lastTransitionTime", "status", "type"])
        );
    }
    let v1 = schema(&crd, "v1alpha1", "/properties/spec/properties");
    let v2 = schema(&crd, "v1alpha2", "/properties/spec/properties");
    for field in ["system", "cpu"] {
        assert!(
            v1.get(field).is_some() && v2.get(field).is_none(),
            "{field}"
        );
    }
    for field in ["hardware", "strategicPatches"] {
        assert!(
            v2.get(field).is_some() && v1.get(field).is_none(),
            "{field}"
        );
    }
    let hardware = &v2["hardware"]["properties"];
    let int = |format: &str| json!({ "type": "integer", "format": format });
    let shape = |v: &Value| json!({ "type": v["type"], "format": v["format"] });
    let processor = &hardware["compute"]["properties"]["processors"]["items"]["properties"];
    assert_eq!(shape(&processor["coreCount"]), int("int32"));
    assert_eq!(
        shape(&hardware["network"]["properties"]["interfaceCount"]),
        int("int32")
    );
    let device = &hardware["storage"]["properties"]["devices"]["items"]["properties"];
    assert_eq!(device["size"]["format"], "int64");
    assert_eq!(device["type"]["type"], "string");
    assert_eq!(hardware["system"]["properties"]["uuid"]["type"], "string");
    assert_eq!(v2["strategicPatches"]["items"], json!({ "type": "string" }));
}

#[test]
fn serverclass_schema() {
    let crd = crd("serverclasses");
    for ver in ["v1alpha1", "v1alpha2"] {
        assert_eq!(
            columns(&crd, ver),
            [
                col("Available", "string", ".status.serversAvailable", None),
                col("In Use", "string", ".status.serversInUse", None),
                col("Age", "date", ".metadata.creationTimestamp", None),
            ]
        );
        assert!(
            schema(&crd, ver, "/properties/spec")
                .get("required")
                .is_none()
        );
        assert_eq!(
            schema(&crd, ver, "/properties/status/required"),
            &json!(["serversAvailable", "serversInUse"])
        );
        let spec = schema(&crd, ver, "/properties/spec/properties");
        assert_eq!(spec["selector"]["x-kubernetes-map-type"], "atomic");
        assert_eq!(
            spec["selector"]["properties"]["matchExpressions"]["items"]["required"],
            json!(["key", "operator"])
        );
        assert_eq!(spec["environmentRef"]["x-kubernetes-map-type"], "atomic");
        assert_eq!(spec["bootFromDiskMethod"]["type"], "string");
        let labels = &spec["qualifiers"]["properties"]["labelSelectors"]["items"];
        assert_eq!(labels["additionalProperties"], json!({ "type": "string" }));
    }
    let v1 = schema(&crd, "v1alpha1", "/properties/spec/properties");
    let v2 = schema(&crd, "v1alpha2", "/properties/spec/properties");
    let keys = |v: &Value| {
        v["qualifiers"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(v1), ["cpu", "labelSelectors", "systemInformation"]);
    assert_eq!(keys(v2), ["hardware", "labelSelectors"]);
    assert!(v1.get("strategicPatches").is_none());
    assert_eq!(v2["strategicPatches"]["items"], json!({ "type": "string" }));
}

#[test]
fn environment_schema() {
    let crd = crd("environments");
    for ver in ["v1alpha1", "v1alpha2"] {
        assert_eq!(
            columns(&crd, ver),
            [
                col("Kernel", "string", ".spec.kernel.url", None),
                col("Initrd", "string", ".spec.initrd.url", None),
                col(
                    "Ready",
                    "string",
                    ".status.conditions[?(@.type==\"Ready\")].status",
                    None
                ),
                col("Age", "date", ".metadata.creationTimestamp", None),
            ]
        );
        let condition = schema(&crd, ver, "/properties/status/properties/conditions/items");
        assert_eq!(condition["required"], json!(["status", "type"]));
        let kernel = schema(&crd, ver, "/properties/spec/properties/kernel/properties");
        assert_eq!(kernel["args"]["items"], json!({ "type": "string" }));
    }
    let v1 = &version(&crd, "v1alpha1")["schema"];
    let v2 = &version(&crd, "v1alpha2")["schema"];
    assert_eq!(v1, v2, "identical schema in both versions");
}
