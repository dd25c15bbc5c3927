//! Helpers shared by the CRD tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

pub(super) fn crd(plural: &str) -> Value {
    let name = format!("{plural}.infrastructure.cluster.x-k8s.io");
    let crd = crate::infra::crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(&name));
    serde_json::to_value(crd.expect("crd exists")).unwrap()
}

pub(super) fn version<'a>(crd: &'a Value, name: &str) -> &'a Value {
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .expect("version")
}

pub(super) fn schema<'a>(crd: &'a Value, ver: &str, pointer: &str) -> &'a Value {
    let root = &version(crd, ver)["schema"]["openAPIV3Schema"];
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("{ver} {pointer}"))
}

pub(super) fn required(crd: &Value, ver: &str, pointer: &str) -> Value {
    schema(crd, ver, pointer)
        .get("required")
        .cloned()
        .unwrap_or(json!([]))
}
