//! proptest strategies for the `metal.sidero.dev` types.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NodeAddress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use proptest::collection::{btree_map, vec};
use proptest::option::of as opt;
use proptest::prelude::*;
use serde_json::Value;

use super::hardware_strategies::hardware;
use crate::metal::common::{Bmc, ConfigPatch, CredentialSource, ManagementApi, SecretKeyRef};
use crate::metal::{v1alpha1 as v1, v1alpha2 as v2};
use crate::reference::ObjectReference;

pub(super) fn s() -> BoxedStrategy<String> {
    "[a-zA-Z0-9 ./:-]{0,8}".boxed()
}

pub(super) fn os() -> BoxedStrategy<Option<String>> {
    opt(s()).boxed()
}

pub(super) fn oi() -> BoxedStrategy<Option<i32>> {
    opt(any::<i32>()).boxed()
}

pub(super) fn strings() -> BoxedStrategy<Option<Vec<String>>> {
    opt(vec(s(), 0..3)).boxed()
}

pub(super) fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        s().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Value::from),
            btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

pub(super) fn label_map() -> BoxedStrategy<BTreeMap<String, String>> {
    btree_map("[a-z]{1,5}", "[a-z0-9]{0,5}", 1..3).boxed()
}

pub(super) fn meta() -> BoxedStrategy<ObjectMeta> {
    ("[a-z0-9-]{1,10}", opt(label_map()), opt(label_map()))
        .prop_map(|(name, labels, annotations)| ObjectMeta {
            name: Some(name),
            labels,
            annotations,
            ..Default::default()
        })
        .boxed()
}

pub(super) fn object_ref() -> BoxedStrategy<ObjectReference> {
    (os(), os(), os())
        .prop_map(|(kind, name, uid)| ObjectReference {
            kind,
            name,
            uid,
            ..Default::default()
        })
        .boxed()
}

pub(super) fn config_patches() -> BoxedStrategy<Option<Vec<ConfigPatch>>> {
    opt(vec(
        (s(), s(), opt(json_value())).prop_map(|(op, path, value)| ConfigPatch { op, path, value }),
        0..3,
    ))
    .boxed()
}

pub(super) fn credential() -> BoxedStrategy<CredentialSource> {
    opt(
        (s(), s(), s()).prop_map(|(namespace, name, key)| SecretKeyRef {
            namespace,
            name,
            key,
        }),
    )
    .prop_map(|secret_key_ref| CredentialSource { secret_key_ref })
    .boxed()
}

pub(super) fn bmc() -> BoxedStrategy<Bmc> {
    (
        s(),
        opt(any::<u32>()),
        os(),
        opt(credential()),
        os(),
        opt(credential()),
        os(),
    )
        .prop_map(
            |(endpoint, port, user, user_from, pass, pass_from, interface)| Bmc {
                endpoint,
                port,
                user,
                user_from,
                pass,
                pass_from,
                interface,
            },
        )
        .boxed()
}

pub(super) fn server_status() -> BoxedStrategy<v2::ServerStatus> {
    let address = (s(), s()).prop_map(|(type_, address)| NodeAddress { type_, address });
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        opt(vec(address, 0..2)),
        os(),
    )
        .prop_map(
            |(ready, in_use, is_clean, addresses, power)| v2::ServerStatus {
                ready,
                in_use,
                is_clean,
                conditions: None,
                addresses,
                power,
            },
        )
        .boxed()
}

pub(super) fn hub_server() -> BoxedStrategy<v2::Server> {
    let refs = (opt(object_ref()), opt(hardware()), os(), opt(bmc()));
    let rest = (
        opt(s().prop_map(|endpoint| ManagementApi { endpoint })),
        config_patches(),
        strings(),
        any::<bool>(),
        opt(any::<bool>()),
        opt(any::<bool>()),
        os(),
        os(),
    );
    (meta(), refs, rest, opt(server_status()))
        .prop_map(|(metadata, refs, rest, status)| {
            let (environment_ref, hardware, hostname, bmc) = refs;
            let (
                management_api,
                config_patches,
                strategic_patches,
                accepted,
                cordoned,
                pxe_boot_always,
                boot_from_disk_method,
                pxe_mode,
            ) = rest;
            v2::Server {
                metadata,
                spec: v2::ServerSpec {
                    environment_ref,
                    hardware,
                    hostname,
                    bmc,
                    management_api,
                    config_patches,
                    strategic_patches,
                    accepted,
                    cordoned,
                    pxe_boot_always,
                    boot_from_disk_method,
                    pxe_mode,
                },
                status,
            }
        })
        .boxed()
}

pub(super) fn selector() -> BoxedStrategy<LabelSelector> {
    let requirement = ("[a-z]{1,4}", "In|NotIn|Exists", opt(vec(s(), 0..2))).prop_map(
        |(key, operator, values)| LabelSelectorRequirement {
            key,
            operator,
            values,
        },
    );
    (opt(vec(requirement, 0..2)), opt(label_map()))
        .prop_map(|(match_expressions, match_labels)| LabelSelector {
            match_expressions,
            match_labels,
        })
        .boxed()
}

pub(super) fn class_status() -> BoxedStrategy<v2::ServerClassStatus> {
    (vec(s(), 0..2), vec(s(), 0..2))
        .prop_map(
            |(servers_available, servers_in_use)| v2::ServerClassStatus {
                servers_available,
                servers_in_use,
            },
        )
        .boxed()
}

pub(super) fn hub_class() -> BoxedStrategy<v2::ServerClass> {
    let qualifiers = (opt(vec(hardware(), 0..3)), opt(vec(label_map(), 0..2))).prop_map(
        |(hardware, label_selectors)| v2::Qualifiers {
            hardware,
            label_selectors,
        },
    );
    let spec = (
        opt(object_ref()),
        qualifiers,
        selector(),
        config_patches(),
        strings(),
        os(),
    )
        .prop_map(
            |(
                environment_ref,
                qualifiers,
                selector,
                config_patches,
                strategic_patches,
                boot_from_disk_method,
            )| {
                v2::ServerClassSpec {
                    environment_ref,
                    qualifiers,
                    selector,
                    config_patches,
                    strategic_patches,
                    boot_from_disk_method,
                }
            },
        );
    (meta(), spec, opt(class_status()))
        .prop_map(|(metadata, spec, status)| v2::ServerClass {
            metadata,
            spec,
            status,
        })
        .boxed()
}

pub(super) fn hub_environment() -> BoxedStrategy<v2::Environment> {
    let kernel =
        (os(), os(), strings()).prop_map(|(url, sha512, args)| v2::Kernel { url, sha512, args });
    let initrd = (os(), os()).prop_map(|(url, sha512)| v2::Initrd { url, sha512 });
    let condition =
        (os(), os(), s(), s()).prop_map(|(url, sha512, status, type_)| v2::AssetCondition {
            url,
            sha512,
            status,
            type_,
        });
    let status =
        opt(vec(condition, 0..3)).prop_map(|conditions| v2::EnvironmentStatus { conditions });
    (meta(), opt(kernel), opt(initrd), opt(status))
        .prop_map(|(metadata, kernel, initrd, status)| v2::Environment {
            metadata,
            spec: v2::EnvironmentSpec { kernel, initrd },
            status,
        })
        .boxed()
}

pub(super) fn spoke_server() -> BoxedStrategy<v1::Server> {
    let system = (os(), os(), os(), os(), os(), os()).prop_map(
        |(manufacturer, product_name, version, serial_number, sku_number, family)| {
            v1::SystemInformation {
                manufacturer,
                product_name,
                version,
                serial_number,
                sku_number,
                family,
            }
        },
    );
    let cpu = (os(), os()).prop_map(|(manufacturer, version)| v1::CpuInformation {
        manufacturer,
        version,
    });
    (hub_server(), opt(system), opt(cpu))
        .prop_map(|(hub, system, cpu)| {
            let mut spoke = v1::Server {
                metadata: hub.metadata,
                spec: crate::metal::convert::server_spec_to_v1alpha1(&hub.spec),
                status: hub.status,
            };
            spoke.spec.system = system;
            spoke.spec.cpu = cpu;
            spoke
        })
        .boxed()
}
