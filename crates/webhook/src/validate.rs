//! The validating webhooks' decisions (spec §2.9), on the raw objects of an `AdmissionReview`
//! so both Server versions share one check.

use serde_json::Value;

use sidero_api::infra::v1alpha3::MetalMachineTemplateSpec;

use crate::status::{FieldError, StatusError, go_quote_list};

/// The admission operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `CREATE`
    Create,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
    /// `CONNECT` (never registered; allowed)
    Connect,
}

impl Operation {
    /// Parses the review's `operation`.
    pub fn parse(s: &str) -> Option<Operation> {
        Some(match s {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            _ => return None,
        })
    }
}

/// Valid `spec.bootFromDiskMethod` values, in upstream's order.
pub const BOOT_FROM_DISK_METHODS: &[&str] = &["", "ipxe-exit", "http-404", "ipxe-sanboot"];
/// Valid `spec.pxeMode` values.
pub const PXE_MODES: &[&str] = &["", "bios", "uefi"];
/// Valid JSON patch operations of `spec.configPatches[].op` (sorted, as upstream prints them).
pub const PATCH_OPS: &[&str] = &["add", "copy", "move", "remove", "replace", "test"];

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

fn one_of(field: String, value: &str, valid: &[&str]) -> Option<FieldError> {
    (!valid.contains(&value)).then(|| FieldError {
        field,
        value: value.to_string(),
        detail: format!("valid values are: {}", go_quote_list(valid)),
    })
}

/// A Server (either version) on create or update; deletes are always allowed.
///
/// One deliberate difference from upstream: an invalid `spec.pxeMode` is reported with its
/// own value (upstream prints the `bootFromDiskMethod` value there, a copy-paste slip).
pub fn server(op: Operation, object: &Value) -> Result<(), StatusError> {
    if !matches!(op, Operation::Create | Operation::Update) {
        return Ok(());
    }
    let mut errs = Vec::new();
    let bfd = str_at(object, &["spec", "bootFromDiskMethod"]).unwrap_or_default();
    errs.extend(one_of(
        "spec.bootFromDiskMethod".into(),
        bfd,
        BOOT_FROM_DISK_METHODS,
    ));
    let pxe = str_at(object, &["spec", "pxeMode"]).unwrap_or_default();
    errs.extend(one_of("spec.pxeMode".into(), pxe, PXE_MODES));
    let patches = object
        .get("spec")
        .and_then(|s| s.get("configPatches"))
        .and_then(Value::as_array);
    for (i, p) in patches.into_iter().flatten().enumerate() {
        let op = p.get("op").and_then(Value::as_str).unwrap_or_default();
        errs.extend(one_of(format!("spec.configPatches.{i}.op"), op, PATCH_OPS));
    }
    if errs.is_empty() {
        return Ok(());
    }
    let name = str_at(object, &["metadata", "name"]).unwrap_or_default();
    Err(StatusError::invalid(
        sidero_api::metal::GROUP,
        "Server",
        name,
        &errs,
    ))
}

/// A MetalMachineTemplate: its spec cannot change (deep equality), create and delete pass.
pub fn metal_machine_template(
    op: Operation,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    if op != Operation::Update {
        return Ok(());
    }
    let raw = |v: Option<&Value>| v.and_then(|v| v.get("spec")).cloned();
    let typed = |v: Option<Value>| {
        v.and_then(|v| serde_json::from_value::<MetalMachineTemplateSpec>(v).ok())
    };
    // Upstream compares the typed specs (reflect.DeepEqual): an absent optional field and an
    // explicit null are the same spec. Raw JSON decides only when a spec does not parse.
    let same = match (typed(raw(Some(object))), typed(raw(old))) {
        (Some(new), Some(old)) => new == old,
        _ => raw(Some(object)) == raw(old),
    };
    if same {
        Ok(())
    } else {
        Err(StatusError::bad_request(
            "MetalMachineTemplate.Spec is immutable",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn srv(spec: Value) -> Value {
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "s1"}, "spec": spec})
    }

    #[test]
    fn server_table() {
        let bfd = r#"valid values are: ["" "ipxe-exit" "http-404" "ipxe-sanboot"]"#;
        let cases: Vec<(Value, Option<&str>)> = vec![
            (json!({"accepted": false}), None),
            (json!({"bootFromDiskMethod": ""}), None),
            (json!({"bootFromDiskMethod": "ipxe-exit"}), None),
            (json!({"bootFromDiskMethod": "http-404"}), None),
            (json!({"bootFromDiskMethod": "ipxe-sanboot"}), None),
            (json!({"pxeMode": "bios"}), None),
            (json!({"pxeMode": "uefi"}), None),
            (
                json!({"configPatches": [{"op": "add", "path": "/a"}, {"op": "test", "path": "/b"}]}),
                None,
            ),
            (
                json!({"bootFromDiskMethod": "magic"}),
                Some(
                    r#"Server.metal.sidero.dev "s1" is invalid: spec.bootFromDiskMethod: Invalid value: "magic": valid values are: ["" "ipxe-exit" "http-404" "ipxe-sanboot"]"#,
                ),
            ),
            (
                json!({"pxeMode": "efi"}),
                Some(
                    r#"Server.metal.sidero.dev "s1" is invalid: spec.pxeMode: Invalid value: "efi": valid values are: ["" "bios" "uefi"]"#,
                ),
            ),
            (
                json!({"configPatches": [{"op": "add", "path": "/a"}, {"op": "delete", "path": "/b"}]}),
                Some(
                    r#"Server.metal.sidero.dev "s1" is invalid: spec.configPatches.1.op: Invalid value: "delete": valid values are: ["add" "copy" "move" "remove" "replace" "test"]"#,
                ),
            ),
            (
                json!({"configPatches": [{"path": "/a"}]}),
                Some(
                    r#"Server.metal.sidero.dev "s1" is invalid: spec.configPatches.0.op: Invalid value: "": valid values are: ["add" "copy" "move" "remove" "replace" "test"]"#,
                ),
            ),
            (
                json!({"bootFromDiskMethod": "x", "pxeMode": "y"}),
                Some(
                    r#"Server.metal.sidero.dev "s1" is invalid: [spec.bootFromDiskMethod: Invalid value: "x": valid values are: ["" "ipxe-exit" "http-404" "ipxe-sanboot"], spec.pxeMode: Invalid value: "y": valid values are: ["" "bios" "uefi"]]"#,
                ),
            ),
        ];
        for (spec, want) in cases {
            for op in [Operation::Create, Operation::Update] {
                let got = server(op, &srv(spec.clone())).err().map(|e| e.message);
                assert_eq!(got.as_deref(), want, "{spec} {op:?}");
            }
            assert_eq!(server(Operation::Delete, &srv(spec.clone())), Ok(()));
        }
        let e = server(
            Operation::Create,
            &srv(json!({"bootFromDiskMethod": "magic"})),
        )
        .unwrap_err();
        let s = e.to_status();
        assert_eq!(
            s["details"]["causes"][0]["message"].as_str().unwrap(),
            format!("Invalid value: \"magic\": {bfd}")
        );
        assert_eq!(
            (
                s["details"]["kind"].as_str(),
                s["details"]["group"].as_str()
            ),
            (Some("Server"), Some("metal.sidero.dev"))
        );
    }

    #[test]
    fn v1alpha1_servers_get_the_same_checks() {
        let mut o = srv(json!({"pxeMode": "efi", "cpu": {"manufacturer": "x"}}));
        o["apiVersion"] = json!("metal.sidero.dev/v1alpha1");
        assert!(server(Operation::Create, &o).is_err());
    }

    #[test]
    fn metal_machine_template_table() {
        let t = |class: &str| json!({"spec": {"template": {"spec": {"serverClassRef": {"name": class}}}}, "metadata": {"labels": {"a": class}}});
        let cases = [
            (Operation::Create, t("a"), None, true),
            (Operation::Delete, t("a"), None, true),
            (Operation::Update, t("a"), Some(t("a")), true),
            (Operation::Update, t("b"), Some(t("a")), false),
            (
                Operation::Update,
                json!({"spec": {}}),
                Some(json!({"spec": {"x": 1}})),
                false,
            ),
            (
                Operation::Update,
                json!({"spec": {"template": {"spec": {"providerID": null}}}}),
                Some(json!({"spec": {"template": {"spec": {}}}})),
                true,
            ),
            (
                Operation::Update,
                json!({"spec": {"template": {"spec": {"providerID": "sidero://a"}}}}),
                Some(json!({"spec": {"template": {"spec": {}}}})),
                false,
            ),
        ];
        for (op, new, old, ok) in cases {
            let got = metal_machine_template(op, &new, old.as_ref());
            assert_eq!(got.is_ok(), ok, "{op:?} {new} {old:?}");
            if let Err(e) = got {
                assert_eq!(
                    (e.code, e.message.as_str()),
                    (400, "MetalMachineTemplate.Spec is immutable")
                );
            }
        }
        // Metadata changes are not spec changes.
        let mut relabelled = t("a");
        relabelled["metadata"]["labels"]["a"] = json!("z");
        assert!(metal_machine_template(Operation::Update, &relabelled, Some(&t("a"))).is_ok());
    }
}
