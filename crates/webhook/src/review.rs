//! `ConversionReview` and `AdmissionReview` handling on raw request bodies (pure).
//!
//! A body that is not a review at all is a [`ReviewError`] (HTTP 400, as controller-runtime);
//! a review whose objects cannot be converted or are rejected gets an HTTP 200 response whose
//! `result`/`status` says why, which the API server turns into the client's error.

use serde_json::{Value, json};

use crate::status::StatusError;
use crate::validate::{self, Operation};

/// A request body that is not a usable review.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    /// Not JSON.
    #[error("request body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not the expected review kind or without a `request`.
    #[error("expected a {0} with a request")]
    NotAReview(&'static str),
}

/// Converts `object` to `desired_api_version` if both are in `group`.
pub fn convert_object(group: &str, object: &Value, desired: &str) -> Result<Value, String> {
    let (obj_group, _) = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .ok_or("object has no apiVersion of the form group/version")?;
    let desired_group = desired.split_once('/').map(|(g, _)| g).unwrap_or_default();
    if obj_group != group || desired_group != group {
        return Err(format!(
            "this webhook converts only {group} objects, not {obj_group} to {desired}"
        ));
    }
    if group == sidero_api::metal::GROUP {
        sidero_api::metal::convert::convert_object(object, desired).map_err(|e| e.to_string())
    } else if group == sidero_api::infra::GROUP {
        sidero_api::infra::convert::convert(object.clone(), desired).map_err(|e| e.to_string())
    } else {
        Err(format!("no conversions for group {group}"))
    }
}

fn parse(body: &[u8]) -> Result<Value, ReviewError> {
    serde_json::from_slice(body).map_err(|e| ReviewError::NotJson(e.to_string()))
}

/// Answers a `ConversionReview` (`apiextensions.k8s.io/v1`, or `v1beta1`, same shape) for the
/// kinds of `group`. All objects convert or the whole review fails, as the API server
/// requires.
pub fn conversion(group: &str, body: &[u8]) -> Result<Value, ReviewError> {
    let review = parse(body)?;
    const KIND: &str = "ConversionReview";
    let request = match (
        review.get("kind").and_then(Value::as_str),
        review.get("request"),
    ) {
        (Some(KIND), Some(r)) if r.is_object() => r,
        _ => return Err(ReviewError::NotAReview(KIND)),
    };
    let api_version = review
        .get("apiVersion")
        .cloned()
        .unwrap_or_else(|| json!("apiextensions.k8s.io/v1"));
    let uid = request.get("uid").cloned().unwrap_or(json!(""));
    let desired = request
        .get("desiredAPIVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let objects = request
        .get("objects")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let converted: Result<Vec<Value>, String> = objects
        .iter()
        .map(|o| convert_object(group, o, desired))
        .collect();
    let response = match converted {
        Ok(objs) => json!({
            "uid": uid,
            "convertedObjects": objs,
            "result": {"metadata": {}, "status": "Success"},
        }),
        Err(message) => {
            tracing::warn!(%desired, %message, "conversion failed");
            json!({
                "uid": uid,
                "convertedObjects": [],
                "result": {"metadata": {}, "status": "Failure", "message": message},
            })
        }
    };
    Ok(json!({"apiVersion": api_version, "kind": KIND, "response": response}))
}

/// Which validating webhook a path serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validator {
    /// Servers, both versions.
    Server,
    /// MetalMachineTemplates (v1alpha3).
    MetalMachineTemplate,
}

/// Answers an `AdmissionReview` (`admission.k8s.io/v1`) with `validator`'s decision.
pub fn admission(validator: Validator, body: &[u8]) -> Result<Value, ReviewError> {
    let review = parse(body)?;
    const KIND: &str = "AdmissionReview";
    let request = match (
        review.get("kind").and_then(Value::as_str),
        review.get("request"),
    ) {
        (Some(KIND), Some(r)) if r.is_object() => r,
        _ => return Err(ReviewError::NotAReview(KIND)),
    };
    let api_version = review
        .get("apiVersion")
        .cloned()
        .unwrap_or_else(|| json!("admission.k8s.io/v1"));
    let uid = request.get("uid").cloned().unwrap_or(json!(""));
    let op = request
        .get("operation")
        .and_then(Value::as_str)
        .and_then(Operation::parse);
    let object = request.get("object").filter(|o| o.is_object());
    let old = request.get("oldObject").filter(|o| o.is_object());
    let null = Value::Null;
    let decision = match (op, validator) {
        (None, _) => Err(StatusError::bad_request("unknown admission operation")),
        (Some(op), Validator::Server) => validate::server(op, object.unwrap_or(&null)),
        (Some(op), Validator::MetalMachineTemplate) => {
            validate::metal_machine_template(op, object.unwrap_or(&null), old)
        }
    };
    let response = match decision {
        Ok(()) => json!({"uid": uid, "allowed": true, "status": {"metadata": {}, "code": 200}}),
        Err(e) => {
            tracing::info!(?validator, message = %e, "admission denied");
            json!({"uid": uid, "allowed": false, "status": e.to_status()})
        }
    };
    Ok(json!({"apiVersion": api_version, "kind": KIND, "response": response}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const METAL: &str = "metal.sidero.dev";
    const INFRA: &str = "infrastructure.cluster.x-k8s.io";

    fn conversion_review(desired: &str, objects: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {"uid": "u-1", "desiredAPIVersion": desired, "objects": objects},
        }))
        .unwrap()
    }

    fn v1alpha1_server() -> Value {
        json!({
            "apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Server",
            "metadata": {"name": "s1", "uid": "x", "resourceVersion": "7"},
            "spec": {"accepted": true, "cpu": {"manufacturer": "Intel", "version": "Xeon"},
                     "system": {"manufacturer": "Dell", "productName": "R630"}},
        })
    }

    #[test]
    fn converts_servers_up_and_back() {
        let out = conversion(
            METAL,
            &conversion_review("metal.sidero.dev/v1alpha2", vec![v1alpha1_server()]),
        )
        .unwrap();
        let r = &out["response"];
        assert_eq!(r["uid"], "u-1");
        assert_eq!(r["result"]["status"], "Success");
        let hub = &r["convertedObjects"][0];
        assert_eq!(hub["apiVersion"], "metal.sidero.dev/v1alpha2");
        assert_eq!(
            hub["spec"]["hardware"]["compute"]["processors"][0]["productName"],
            "Xeon"
        );
        assert_eq!(hub["spec"]["hardware"]["system"]["productName"], "R630");
        assert_eq!(hub["metadata"]["resourceVersion"], "7");

        let back = conversion(
            METAL,
            &conversion_review("metal.sidero.dev/v1alpha1", vec![hub.clone()]),
        )
        .unwrap();
        let old = &back["response"]["convertedObjects"][0];
        assert_eq!(old["spec"]["cpu"], v1alpha1_server()["spec"]["cpu"]);
        assert_eq!(old["spec"]["system"], v1alpha1_server()["spec"]["system"]);
    }

    #[test]
    fn converts_metal_machines_up_and_back() {
        let mm = json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha2", "kind": "MetalMachine",
            "metadata": {"name": "m1", "namespace": "default"},
            "spec": {"providerID": "sidero://s1", "serverRef": {"kind": "Server", "name": "s1"}},
            "status": {"ready": true, "errorReason": "r", "errorMessage": "m"},
        });
        let out = conversion(
            INFRA,
            &conversion_review("infrastructure.cluster.x-k8s.io/v1alpha3", vec![mm.clone()]),
        )
        .unwrap();
        let hub = &out["response"]["convertedObjects"][0];
        assert_eq!(hub["status"]["failureReason"], "r");
        assert_eq!(hub["spec"]["providerID"], "sidero://s1");
        let back = conversion(
            INFRA,
            &conversion_review(
                "infrastructure.cluster.x-k8s.io/v1alpha2",
                vec![hub.clone()],
            ),
        )
        .unwrap();
        let old = &back["response"]["convertedObjects"][0];
        assert_eq!(old["spec"], mm["spec"]);
        assert_eq!(old["status"], mm["status"]);
    }

    #[test]
    fn failures_are_reported_in_the_review() {
        let cases: Vec<(&str, &str, Value, &str)> = vec![
            // an infra object sent to the metal webhook
            (
                METAL,
                "infrastructure.cluster.x-k8s.io/v1alpha3",
                json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha2", "kind": "MetalMachine", "metadata": {}}),
                "converts only metal.sidero.dev",
            ),
            // unknown kind
            (
                METAL,
                "metal.sidero.dev/v1alpha2",
                json!({"apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Gadget", "metadata": {}}),
                "Gadget",
            ),
            // a corrupt conversion-data annotation
            (
                METAL,
                "metal.sidero.dev/v1alpha2",
                json!({"apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Server",
                    "metadata": {"annotations": {"cluster.x-k8s.io/conversion-data": "{not json"}},
                    "spec": {"accepted": false}}),
                "conversion-data",
            ),
            (
                INFRA,
                "infrastructure.cluster.x-k8s.io/v1alpha3",
                json!({"kind": "MetalMachine"}),
                "apiVersion",
            ),
        ];
        for (group, desired, obj, needle) in cases {
            let out = conversion(group, &conversion_review(desired, vec![obj])).unwrap();
            let r = &out["response"];
            assert_eq!(r["result"]["status"], "Failure");
            let msg = r["result"]["message"].as_str().unwrap();
            assert!(msg.contains(needle), "{msg} lacks {needle}");
            assert_eq!(r["convertedObjects"], json!([]));
        }
    }

    #[test]
    fn same_version_objects_pass_unchanged() {
        let s = v1alpha1_server();
        let out = conversion(
            METAL,
            &conversion_review("metal.sidero.dev/v1alpha1", vec![s.clone()]),
        )
        .unwrap();
        assert_eq!(out["response"]["convertedObjects"][0], s);
    }

    #[test]
    fn bodies_that_are_not_reviews() {
        assert!(matches!(
            conversion(METAL, b"\xff"),
            Err(ReviewError::NotJson(_))
        ));
        assert_eq!(
            conversion(METAL, b"{}"),
            Err(ReviewError::NotAReview("ConversionReview"))
        );
        assert_eq!(
            admission(
                Validator::Server,
                br#"{"kind":"ConversionReview","request":{}}"#
            ),
            Err(ReviewError::NotAReview("AdmissionReview"))
        );
    }

    fn admission_review(op: &str, object: Value, old: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "a-1", "operation": op, "object": object, "oldObject": old},
        }))
        .unwrap()
    }

    #[test]
    fn admission_table() {
        let bad = json!({"metadata": {"name": "s1"}, "spec": {"bootFromDiskMethod": "nope"}});
        let good = json!({"metadata": {"name": "s1"}, "spec": {}});
        let t = |c: &str| json!({"spec": {"template": {"spec": {"serverClassRef": {"name": c}}}}});
        let cases = [
            (Validator::Server, "CREATE", good.clone(), Value::Null, true),
            (Validator::Server, "CREATE", bad.clone(), Value::Null, false),
            (
                Validator::Server,
                "UPDATE",
                bad.clone(),
                good.clone(),
                false,
            ),
            (Validator::Server, "DELETE", Value::Null, bad.clone(), true),
            (Validator::Server, "BOGUS", good.clone(), Value::Null, false),
            (
                Validator::MetalMachineTemplate,
                "CREATE",
                t("a"),
                Value::Null,
                true,
            ),
            (
                Validator::MetalMachineTemplate,
                "UPDATE",
                t("a"),
                t("a"),
                true,
            ),
            (
                Validator::MetalMachineTemplate,
                "UPDATE",
                t("b"),
                t("a"),
                false,
            ),
            (
                Validator::MetalMachineTemplate,
                "DELETE",
                Value::Null,
                t("a"),
                true,
            ),
        ];
        for (v, op, obj, old, allowed) in cases {
            let out = admission(v, &admission_review(op, obj, old)).unwrap();
            let r = &out["response"];
            assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(r["uid"], "a-1");
            assert_eq!(r["allowed"], allowed, "{v:?} {op}");
            if !allowed {
                assert!(r["status"]["code"].as_u64().unwrap() >= 400);
                assert!(!r["status"]["message"].as_str().unwrap().is_empty());
            }
        }
    }
}
