//! CRD schema checks against upstream's generated CRDs (v0.6.13): required lists, field
//! shapes, and no schemars artefacts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::crd_util::{crd, required, schema};

#[test]
fn required_lists() {
    let table = [
        ("metalclusters", "v1alpha3", "", json!(["spec"])),
        ("metalclusters", "v1alpha3", "/properties/spec", json!([])),
        (
            "metalclusters",
            "v1alpha3",
            "/properties/spec/properties/controlPlaneEndpoint",
            json!(["host", "port"]),
        ),
        (
            "metalclusters",
            "v1alpha3",
            "/properties/status",
            json!(["ready"]),
        ),
        (
            "metalclusters",
            "v1alpha2",
            "/properties/spec/properties/apiEndpoints/items",
            json!(["host", "port"]),
        ),
        (
            "metalclusters",
            "v1alpha2",
            "/properties/status",
            json!(["ready"]),
        ),
        (
            "metalclusters",
            "v1alpha2",
            "/properties/status/properties/apiEndpoints/items",
            json!(["host", "port"]),
        ),
        ("metalmachines", "v1alpha3", "/properties/spec", json!([])),
        ("metalmachines", "v1alpha3", "/properties/status", json!([])),
        (
            "metalmachines",
            "v1alpha3",
            "/properties/status/properties/addresses/items",
            json!(["address", "type"]),
        ),
        (
            "metalmachines",
            "v1alpha3",
            "/properties/status/properties/conditions/items",
            json!(["lastTransitionTime", "status", "type"]),
        ),
        (
            "metalmachines",
            "v1alpha2",
            "/properties/status",
            json!(["ready"]),
        ),
        (
            "metalmachinetemplates",
            "v1alpha3",
            "/properties/spec",
            json!(["template"]),
        ),
        (
            "metalmachinetemplates",
            "v1alpha3",
            "/properties/spec/properties/template",
            json!(["spec"]),
        ),
        (
            "metalmachinetemplates",
            "v1alpha2",
            "/properties/spec",
            json!(["template"]),
        ),
        (
            "metalmachinetemplates",
            "v1alpha2",
            "/properties/spec/properties/template",
            json!(["spec"]),
        ),
        ("serverbindings", "v1alpha3", "", json!(["spec"])),
        (
            "serverbindings",
            "v1alpha3",
            "/properties/spec",
            json!(["metalMachineRef"]),
        ),
        (
            "serverbindings",
            "v1alpha3",
            "/properties/spec/properties/siderolink",
            json!(["address", "publicKey"]),
        ),
        (
            "serverbindings",
            "v1alpha3",
            "/properties/status",
            json!([]),
        ),
    ];
    for (plural, ver, pointer, want) in table {
        assert_eq!(
            required(&crd(plural), ver, pointer),
            want,
            "{plural} {ver} {pointer}"
        );
    }
}

#[test]
fn field_shapes() {
    let mc = crd("metalclusters");
    let port3 = schema(
        &mc,
        "v1alpha3",
        "/properties/spec/properties/controlPlaneEndpoint/properties/port",
    );
    assert_eq!(
        (&port3["type"], &port3["format"]),
        (&json!("integer"), &json!("int32"))
    );
    let port2 = schema(
        &mc,
        "v1alpha2",
        "/properties/spec/properties/apiEndpoints/items/properties/port",
    );
    assert_eq!(port2["type"], "integer");
    assert!(port2.get("format").is_none(), "Go int has no format");

    let refs = [
        (
            "metalmachines",
            "v1alpha3",
            "/properties/spec/properties/serverRef",
        ),
        (
            "metalmachines",
            "v1alpha3",
            "/properties/spec/properties/serverClassRef",
        ),
        (
            "metalmachines",
            "v1alpha2",
            "/properties/spec/properties/serverRef",
        ),
        (
            "metalmachinetemplates",
            "v1alpha3",
            "/properties/spec/properties/template/properties/spec/properties/serverClassRef",
        ),
        (
            "serverbindings",
            "v1alpha3",
            "/properties/spec/properties/metalMachineRef",
        ),
        (
            "serverbindings",
            "v1alpha3",
            "/properties/spec/properties/serverClassRef",
        ),
    ];
    for (plural, ver, pointer) in refs {
        let c = crd(plural);
        let r = schema(&c, ver, pointer);
        assert_eq!(r["x-kubernetes-map-type"], "atomic", "{plural} {pointer}");
        let mut keys: Vec<_> = r["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "apiVersion",
                "fieldPath",
                "kind",
                "name",
                "namespace",
                "resourceVersion",
                "uid"
            ]
        );
    }

    let mmt = crd("metalmachinetemplates");
    for ver in ["v1alpha2", "v1alpha3"] {
        assert_eq!(schema(&mmt, ver, "/properties/status/type"), "object");
    }
    let sb = crd("serverbindings");
    let ltt = schema(
        &sb,
        "v1alpha3",
        "/properties/status/properties/conditions/items/properties/lastTransitionTime",
    );
    assert_eq!(
        (&ltt["type"], &ltt["format"]),
        (&json!("string"), &json!("date-time"))
    );
}

fn walk(v: &Value, path: &str, found: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if ["nullable", "default", "title", "anyOf", "oneOf", "allOf"].contains(&k.as_str())
                {
                    found.push(format!("{path}/{k}"));
                }
                walk(child, &format!("{path}/{k}"), found);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| walk(c, &format!("{path}/{i}"), found)),
        _ => {}
    }
}

#[test]
fn schemas_are_plain_like_controller_gen() {
    for plural in [
        "metalclusters",
        "metalmachines",
        "metalmachinetemplates",
        "serverbindings",
    ] {
        let c = crd(plural);
        for v in c["spec"]["versions"].as_array().unwrap() {
            let root = &v["schema"]["openAPIV3Schema"];
            let mut found = Vec::new();
            walk(root, "", &mut found);
            assert!(found.is_empty(), "{plural}: {found:?}");
            assert_eq!(root["properties"]["apiVersion"]["type"], "string");
            assert_eq!(root["properties"]["kind"]["type"], "string");
            assert_eq!(root["properties"]["metadata"], json!({"type": "object"}));
            // Deliberately stricter than upstream: a spec-less object would break typed watchers.
            assert_eq!(root["required"], json!(["spec"]));
        }
    }
}
