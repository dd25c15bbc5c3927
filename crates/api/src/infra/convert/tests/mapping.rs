#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::super::{CONVERSION_DATA_ANNOTATION as DATA, ConversionError, convert};
use crate::condition::{Condition, Severity};
use crate::infra::{V1ALPHA2, V1ALPHA3, v1alpha2 as old, v1alpha3 as hub};
use crate::reference::ObjectReference;

fn meta(annotations: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some("x".into()),
        namespace: Some("default".into()),
        annotations: (!annotations.is_empty()).then(|| {
            annotations
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        }),
        ..Default::default()
    }
}

fn ep2(host: &str, port: i64) -> old::ApiEndpoint {
    old::ApiEndpoint {
        host: host.into(),
        port,
    }
}

fn ep3(host: &str, port: i32) -> hub::ApiEndpoint {
    hub::ApiEndpoint {
        host: host.into(),
        port,
    }
}

fn data(meta: &ObjectMeta) -> Value {
    serde_json::from_str(&meta.annotations.as_ref().unwrap()[DATA]).unwrap()
}

fn sref(name: &str) -> Option<ObjectReference> {
    Some(ObjectReference {
        name: Some(name.into()),
        ..Default::default()
    })
}

#[test]
fn metal_cluster_up_picks_the_endpoint() {
    let a = ep2("a", 1);
    let b = ep2("b", 2);
    let c = ep2("c", 3);
    // (spec endpoints, status endpoints, expected control plane endpoint)
    let table = [
        (vec![a.clone(), b.clone()], vec![c.clone()], ep3("a", 1)),
        (vec![], vec![c.clone(), b.clone()], ep3("c", 3)),
        (vec![], vec![], ep3("", 0)),
        (vec![b.clone()], vec![], ep3("b", 2)),
    ];
    for (spec, status, want) in table {
        let src = old::MetalCluster {
            metadata: meta(&[]),
            spec: old::MetalClusterSpec {
                api_endpoints: spec,
            },
            status: Some(old::MetalClusterStatus {
                ready: true,
                api_endpoints: status,
            }),
        };
        let got = hub::MetalCluster::try_from(src).unwrap();
        assert_eq!(got.spec.control_plane_endpoint, want);
        assert_eq!(
            got.status,
            Some(hub::MetalClusterStatus {
                ready: true,
                initialization: None
            })
        );
        assert_eq!(got.metadata, meta(&[]));
    }
}

#[test]
fn metal_cluster_up_wraps_the_port_like_go() {
    let src = old::MetalCluster {
        spec: old::MetalClusterSpec {
            api_endpoints: vec![ep2("h", (1 << 32) + 6443)],
        },
        ..Default::default()
    };
    assert_eq!(
        hub::MetalCluster::try_from(src)
            .unwrap()
            .spec
            .control_plane_endpoint
            .port,
        6443
    );
}

#[test]
fn metal_cluster_down() {
    // (endpoint, hub status, expected spoke spec endpoints, expected spoke status)
    let both = |e: old::ApiEndpoint, ready| {
        Some(old::MetalClusterStatus {
            ready,
            api_endpoints: vec![e],
        })
    };
    let table = [
        (
            ep3("h", 6443),
            Some(true),
            vec![ep2("h", 6443)],
            both(ep2("h", 6443), true),
        ),
        (
            ep3("", 6443),
            Some(false),
            vec![ep2("", 6443)],
            both(ep2("", 6443), false),
        ),
        (
            ep3("h", 0),
            None,
            vec![ep2("h", 0)],
            both(ep2("h", 0), false),
        ),
        (
            ep3("", 0),
            Some(true),
            vec![],
            Some(old::MetalClusterStatus {
                ready: true,
                api_endpoints: vec![],
            }),
        ),
        (ep3("", 0), None, vec![], None),
    ];
    for (endpoint, ready, want_spec, want_status) in table {
        let src = hub::MetalCluster {
            metadata: meta(&[("keep", "me")]),
            spec: hub::MetalClusterSpec {
                control_plane_endpoint: endpoint,
            },
            status: ready.map(|ready| hub::MetalClusterStatus {
                ready,
                initialization: None,
            }),
        };
        let got = old::MetalCluster::try_from(src.clone()).unwrap();
        assert_eq!(got.spec.api_endpoints, want_spec);
        assert_eq!(got.status, want_status);
        let mut hub_json = serde_json::to_value(&src).unwrap();
        hub_json.as_object_mut().unwrap().remove("metadata");
        assert_eq!(data(&got.metadata), hub_json);
        assert_eq!(got.metadata.annotations.as_ref().unwrap()["keep"], "me");
    }
}

fn full_hub_machine() -> hub::MetalMachine {
    let mut conditions = Vec::new();
    crate::condition::mark_false_at(
        &mut conditions,
        hub::PROVIDER_SET_CONDITION,
        hub::PROVIDER_UPDATE_FAILED_REASON,
        Severity::Warning,
        "no matching nodes found",
        jiff::Timestamp::from_second(1_700_000_000).unwrap(),
    );
    hub::MetalMachine {
        metadata: meta(&[]),
        spec: hub::MetalMachineSpec {
            provider_id: Some("sidero://abc".into()),
            server_ref: sref("abc"),
            server_class_ref: sref("any"),
        },
        status: Some(hub::MetalMachineStatus {
            ready: true,
            addresses: vec![hub::MachineAddress {
                type_: hub::ADDRESS_INTERNAL_IP.into(),
                address: "10.0.0.1".into(),
            }],
            failure_reason: Some("CreateError".into()),
            failure_message: Some("boom".into()),
            conditions,
            initialization: Some(hub::Initialization {
                provisioned: Some(true),
            }),
        }),
    }
}

#[test]
fn metal_machine_down_maps_failure_to_error() {
    let got = old::MetalMachine::try_from(full_hub_machine()).unwrap();
    assert_eq!(
        got.spec,
        old::MetalMachineSpec {
            provider_id: Some("sidero://abc".into()),
            server_ref: sref("abc")
        }
    );
    assert_eq!(
        got.status,
        Some(old::MetalMachineStatus {
            ready: true,
            error_reason: Some("CreateError".into()),
            error_message: Some("boom".into())
        })
    );
    let d = data(&got.metadata);
    assert_eq!(d["apiVersion"], V1ALPHA3);
    assert_eq!(d["kind"], "MetalMachine");
    assert!(d.get("metadata").is_none());
    assert_eq!(d["spec"]["serverClassRef"]["name"], "any");
    assert_eq!(d["status"]["conditions"][0]["type"], "ProviderSet");
}

#[test]
fn metal_machine_up_without_annotation_is_upstreams_mapping() {
    let src = old::MetalMachine {
        metadata: meta(&[]),
        spec: old::MetalMachineSpec {
            provider_id: Some("p".into()),
            server_ref: sref("s"),
        },
        status: Some(old::MetalMachineStatus {
            ready: true,
            error_reason: Some("R".into()),
            error_message: Some("M".into()),
        }),
    };
    let got = hub::MetalMachine::try_from(src).unwrap();
    assert_eq!(
        got.spec,
        hub::MetalMachineSpec {
            provider_id: Some("p".into()),
            server_ref: sref("s"),
            server_class_ref: None
        }
    );
    let want = hub::MetalMachineStatus {
        ready: true,
        failure_reason: Some("R".into()),
        failure_message: Some("M".into()),
        ..Default::default()
    };
    assert_eq!(got.status, Some(want));
}

#[test]
fn metal_machine_up_restores_hub_only_fields_and_keeps_spoke_edits() {
    let original = full_hub_machine();
    let mut spoke = old::MetalMachine::try_from(original.clone()).unwrap();
    spoke.spec.provider_id = Some("sidero://edited".into());
    spoke.status.as_mut().unwrap().error_message = None;
    let got = hub::MetalMachine::try_from(spoke).unwrap();
    let mut want = original;
    want.spec.provider_id = Some("sidero://edited".into());
    want.status.as_mut().unwrap().failure_message = None;
    assert_eq!(got, want);
    assert_eq!(got.metadata.annotations, None, "annotation dropped");
}

#[test]
fn template_both_ways() {
    let hub_t = hub::MetalMachineTemplate {
        metadata: meta(&[("a", "b")]),
        spec: hub::MetalMachineTemplateSpec {
            template: hub::MetalMachineTemplateResource {
                spec: hub::MetalMachineSpec {
                    provider_id: None,
                    server_ref: sref("s"),
                    server_class_ref: sref("c"),
                },
            },
        },
    };
    let down = old::MetalMachineTemplate::try_from(hub_t.clone()).unwrap();
    assert_eq!(
        down.spec.template.spec,
        old::MetalMachineSpec {
            provider_id: None,
            server_ref: sref("s")
        }
    );
    assert_eq!(
        data(&down.metadata)["spec"]["template"]["spec"]["serverClassRef"]["name"],
        "c"
    );
    let up = hub::MetalMachineTemplate::try_from(down).unwrap();
    assert_eq!(up, hub_t);
}

#[test]
fn invalid_annotation_is_an_error() {
    let src = old::MetalMachine {
        metadata: meta(&[(DATA, "{not json")]),
        ..Default::default()
    };
    assert!(matches!(
        hub::MetalMachine::try_from(src),
        Err(ConversionError::InvalidAnnotation(_))
    ));
}

#[test]
fn json_convert_dispatch() {
    let hub_json = serde_json::to_value(full_hub_machine()).unwrap();
    let down = convert(hub_json.clone(), V1ALPHA2).unwrap();
    assert_eq!(down["apiVersion"], V1ALPHA2);
    assert_eq!(down["status"]["errorReason"], "CreateError");
    assert_eq!(convert(down, V1ALPHA3).unwrap(), hub_json);
    assert_eq!(
        convert(hub_json.clone(), V1ALPHA3).unwrap(),
        hub_json,
        "identity"
    );

    let sb = json!({"apiVersion": V1ALPHA3, "kind": "ServerBinding", "metadata": {"name": "x"},
        "spec": {"metalMachineRef": {}}});
    assert_eq!(convert(sb.clone(), V1ALPHA3).unwrap(), sb);
    assert!(matches!(
        convert(sb, V1ALPHA2),
        Err(ConversionError::Unsupported { .. })
    ));

    let bad = json!({"apiVersion": V1ALPHA2, "kind": "MetalCluster", "metadata": {"name": "x"}, "spec": {"apiEndpoints": 3}});
    assert!(matches!(
        convert(bad, V1ALPHA3),
        Err(ConversionError::InvalidObject { .. })
    ));

    for kind in ["MetalCluster", "MetalMachineTemplate"] {
        let spoke = json!({"apiVersion": V1ALPHA2, "kind": kind, "metadata": {"name": "x"},
            "spec": {"template": {"spec": {}}}});
        let up = convert(spoke, V1ALPHA3).unwrap();
        assert_eq!(
            (&up["apiVersion"], &up["kind"]),
            (&json!(V1ALPHA3), &json!(kind))
        );
    }
}

#[test]
fn condition_helpers_survive_conversion_data() {
    // Conditions carried in the annotation keep their exact times.
    let original = full_hub_machine();
    let restored =
        hub::MetalMachine::try_from(old::MetalMachine::try_from(original.clone()).unwrap())
            .unwrap();
    let c: &Condition = &restored.status.unwrap().conditions[0];
    assert_eq!(c, &original.status.unwrap().conditions[0]);
}
