#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

use super::super::{CONVERSION_DATA_ANNOTATION, convert};
use crate::condition::Condition;
use crate::infra::{V1ALPHA2, V1ALPHA3, v1alpha2 as old, v1alpha3 as hub};
use crate::reference::ObjectReference;

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9.:/-]{0,12}"
}

fn map() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    of(btree_map("[a-z]{1,6}(/[a-z]{1,4})?", text(), 1..4))
}

fn object_meta() -> impl Strategy<Value = ObjectMeta> {
    (
        text(),
        of(text()),
        map(),
        map(),
        of(any::<i64>()),
        vec("[a-z.]{1,10}", 0..2),
    )
        .prop_map(
            |(name, namespace, labels, annotations, generation, finalizers)| ObjectMeta {
                name: Some(name),
                namespace,
                labels,
                annotations,
                generation,
                finalizers: (!finalizers.is_empty()).then_some(finalizers),
                ..Default::default()
            },
        )
}

fn reference() -> impl Strategy<Value = Option<ObjectReference>> {
    of((
        of(text()),
        of(text()),
        of(text()),
        of(text()),
        of(text()),
        of(text()),
        of(text()),
    )
        .prop_map(
            |(api_version, field_path, kind, name, namespace, resource_version, uid)| {
                ObjectReference {
                    api_version,
                    field_path,
                    kind,
                    name,
                    namespace,
                    resource_version,
                    uid,
                }
            },
        ))
}

fn condition() -> impl Strategy<Value = Condition> {
    let s = || of("[A-Za-z ]{1,10}");
    (
        "[A-Z][a-z]{1,8}",
        "True|False|Unknown",
        of("Error|Warning|Info"),
        0i64..4_000_000_000,
        s(),
        s(),
    )
        .prop_map(
            |(type_, status, severity, secs, reason, message)| Condition {
                type_,
                status,
                severity,
                last_transition_time: Time(jiff::Timestamp::from_second(secs).unwrap()),
                reason,
                message,
            },
        )
}

fn machine_spec() -> impl Strategy<Value = hub::MetalMachineSpec> {
    (of(text()), reference(), reference()).prop_map(
        |(provider_id, server_ref, server_class_ref)| hub::MetalMachineSpec {
            provider_id,
            server_ref,
            server_class_ref,
        },
    )
}

fn machine_status() -> impl Strategy<Value = hub::MetalMachineStatus> {
    let address = ("Hostname|InternalIP|ExternalIP", text())
        .prop_map(|(type_, address)| hub::MachineAddress { type_, address });
    (
        any::<bool>(),
        vec(address, 0..3),
        of(text()),
        of(text()),
        vec(condition(), 0..3),
        of(of(any::<bool>())),
    )
        .prop_map(
            |(ready, addresses, failure_reason, failure_message, conditions, provisioned)| {
                hub::MetalMachineStatus {
                    ready,
                    addresses,
                    failure_reason,
                    failure_message,
                    conditions,
                    initialization: provisioned
                        .map(|provisioned| hub::Initialization { provisioned }),
                }
            },
        )
}

fn hub_cluster() -> impl Strategy<Value = hub::MetalCluster> {
    (
        object_meta(),
        prop_oneof![Just(String::new()), text()],
        prop_oneof![Just(0), any::<i32>()],
        of((any::<bool>(), of(of(any::<bool>())))),
    )
        .prop_map(|(metadata, host, port, status)| hub::MetalCluster {
            metadata,
            spec: hub::MetalClusterSpec {
                control_plane_endpoint: hub::ApiEndpoint { host, port },
            },
            status: status.map(|(ready, provisioned)| hub::MetalClusterStatus {
                ready,
                initialization: provisioned.map(|provisioned| hub::Initialization { provisioned }),
            }),
        })
}

fn hub_machine() -> impl Strategy<Value = hub::MetalMachine> {
    (object_meta(), machine_spec(), of(machine_status())).prop_map(|(metadata, spec, status)| {
        hub::MetalMachine {
            metadata,
            spec,
            status,
        }
    })
}

fn hub_template() -> impl Strategy<Value = hub::MetalMachineTemplate> {
    (object_meta(), machine_spec()).prop_map(|(metadata, spec)| hub::MetalMachineTemplate {
        metadata,
        spec: hub::MetalMachineTemplateSpec {
            template: hub::MetalMachineTemplateResource { spec },
        },
    })
}

/// Hub → spoke → hub, typed and through JSON, must give back the hub object exactly.
fn hub_round_trip<H, S>(original: H) -> Result<(), TestCaseError>
where
    H: Clone + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    H: TryFrom<S, Error = super::super::ConversionError>,
    S: TryFrom<H, Error = super::super::ConversionError> + serde::Serialize,
{
    let spoke = S::try_from(original.clone()).unwrap();
    let spoke_json = serde_json::to_value(&spoke).unwrap();
    prop_assert_eq!(&spoke_json["apiVersion"], V1ALPHA2);
    prop_assert!(spoke_json["metadata"]["annotations"][CONVERSION_DATA_ANNOTATION].is_string());
    prop_assert_eq!(&H::try_from(spoke).unwrap(), &original);
    let via_json = convert(
        convert(serde_json::to_value(&original).unwrap(), V1ALPHA2).unwrap(),
        V1ALPHA3,
    )
    .unwrap();
    prop_assert_eq!(serde_json::from_value::<H>(via_json).unwrap(), original);
    Ok(())
}

fn without_data(mut meta: ObjectMeta) -> ObjectMeta {
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(CONVERSION_DATA_ANNOTATION);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
    meta
}

proptest! {
    #[test]
    fn metal_cluster_hub_spoke_hub(original in hub_cluster()) {
        hub_round_trip::<hub::MetalCluster, old::MetalCluster>(original)?;
    }

    #[test]
    fn metal_machine_hub_spoke_hub(original in hub_machine()) {
        hub_round_trip::<hub::MetalMachine, old::MetalMachine>(original)?;
    }

    #[test]
    fn template_hub_spoke_hub(original in hub_template()) {
        hub_round_trip::<hub::MetalMachineTemplate, old::MetalMachineTemplate>(original)?;
    }

    /// Every v1alpha2 MetalMachine field has a v1alpha3 home, so spoke → hub → spoke is
    /// lossless too (apart from the annotation the down-conversion adds).
    #[test]
    fn metal_machine_spoke_hub_spoke(original in hub_machine()) {
        let mut spoke = old::MetalMachine::try_from(original).unwrap();
        spoke.metadata = without_data(spoke.metadata);
        let back = old::MetalMachine::try_from(hub::MetalMachine::try_from(spoke.clone()).unwrap()).unwrap();
        prop_assert_eq!(without_data(back.metadata.clone()), spoke.metadata.clone());
        prop_assert_eq!(back.spec, spoke.spec);
        prop_assert_eq!(back.status, spoke.status);
    }

    /// A v1alpha2 MetalCluster whose endpoint lists agree survives spoke → hub → spoke.
    #[test]
    fn metal_cluster_spoke_hub_spoke(host in "[a-z0-9.]{1,12}", port in any::<i32>(), ready in any::<bool>()) {
        let ep = old::ApiEndpoint { host, port: port.into() };
        let spoke = old::MetalCluster {
            metadata: ObjectMeta { name: Some("c".into()), ..Default::default() },
            spec: old::MetalClusterSpec { api_endpoints: vec![ep.clone()] },
            status: Some(old::MetalClusterStatus { ready, api_endpoints: vec![ep] }),
        };
        let mut back = old::MetalCluster::try_from(hub::MetalCluster::try_from(spoke.clone()).unwrap()).unwrap();
        back.metadata = without_data(back.metadata);
        prop_assert_eq!(back, spoke);
    }
}
