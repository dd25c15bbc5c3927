//! RFC 6902 JSON patches, applied to the `v1alpha1` machine config document.
//!
//! Upstream refuses JSON patches once a config has several documents; here they apply to the
//! machine config document and leave the others alone, so adding an `ExtensionServiceConfig`
//! does not break a ServerClass's JSON patches.

use serde_json::Value;

use crate::{Config, Error};

/// Applies a JSON patch (a JSON array of operations) to the config's machine config document.
/// Nothing changes when an operation fails (RFC 6902 §5: the patch applies as a whole).
pub fn apply_json_patch(config: &mut Config, ops: &Value) -> Result<(), Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(ops.clone()).map_err(|e| Error::JsonPatch(e.to_string()))?;
    if patch.0.is_empty() {
        return Ok(());
    }
    let doc = config.machine_config_mut().ok_or(Error::NoMachineConfig)?;
    let mut value = Value::Object(std::mem::take(doc));
    let result = json_patch::patch(&mut value, &patch);
    // json_patch rolls back on failure, so `value` is the original document then.
    if let Value::Object(m) = value {
        *doc = m;
    }
    result.map_err(|e| Error::JsonPatch(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_to_the_machine_config_document_only() {
        let mut c = Config::parse(
            "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\n---\nversion: v1alpha1\nmachine: {}\n",
        )
        .unwrap();
        let ops = json!([{"op": "add", "path": "/machine/network", "value": {"hostname": "n1"}}]);
        apply_json_patch(&mut c, &ops).unwrap();
        assert_eq!(c.docs[1]["machine"]["network"]["hostname"], "n1");
        assert!(c.docs[0].get("machine").is_none());
    }

    #[test]
    fn a_failing_patch_changes_nothing_and_says_why() {
        let mut c = Config::parse("version: v1alpha1\nmachine: {a: 1}\n").unwrap();
        let before = c.clone();
        let ops = json!([
            {"op": "replace", "path": "/machine/a", "value": 2},
            {"op": "replace", "path": "/machine/missing/x", "value": 3}
        ]);
        let err = apply_json_patch(&mut c, &ops).unwrap_err();
        assert!(err.to_string().contains("/machine/missing/x"), "{err}");
        assert_eq!(c, before);
        let err = apply_json_patch(&mut c, &json!([{"op": "explode", "path": "/"}])).unwrap_err();
        assert!(matches!(err, Error::JsonPatch(_)));
        let mut typed = Config::parse("apiVersion: v1alpha1\nkind: X\n").unwrap();
        let ops = json!([{"op": "add", "path": "/a", "value": 1}]);
        assert!(matches!(
            apply_json_patch(&mut typed, &ops),
            Err(Error::NoMachineConfig)
        ));
    }
}
