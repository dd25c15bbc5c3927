//! Proptest strategies: hardware, servers and classes drawn from small pools so that
//! equalities, zero values and label hits are frequent.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use sidero_api::metal::v1alpha2::{
    ComputeInformation, HardwareInformation, MemoryInformation, MemoryModule, NetworkInformation,
    NetworkInterface, Processor, Qualifiers, Server, ServerClassSpec, ServerSpec, ServerStatus,
    StorageDevice, StorageInformation, SystemInformation,
};

use super::reference::{Rng, mask};

/// `None`, `Some("")` (Go zero) or one of a few values.
fn text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(String::new())),
        3 => prop::sample::select(vec!["a", "b", "QEMU"]).prop_map(|s| Some(s.to_owned())),
    ]
}

fn int() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(0)), 3 => (1..3).prop_map(Some)]
}

fn long() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), Just(Some(0)), Just(Some(1 << 40))]
}

fn list<T: std::fmt::Debug>(
    item: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<Vec<T>>> {
    option::of(vec(item, 0..3))
}

fn processor() -> impl Strategy<Value = Processor> {
    (text(), text(), text(), int(), int(), int()).prop_map(|(m, p, s, speed, c, t)| Processor {
        manufacturer: m,
        product_name: p,
        serial_number: s,
        speed,
        core_count: c,
        thread_count: t,
    })
}

fn module() -> impl Strategy<Value = MemoryModule> {
    (text(), text(), text(), text(), int(), int()).prop_map(|(m, p, s, t, size, speed)| {
        MemoryModule {
            manufacturer: m,
            product_name: p,
            serial_number: s,
            type_: t,
            size,
            speed,
        }
    })
}

fn device() -> impl Strategy<Value = StorageDevice> {
    (
        text(),
        long(),
        text(),
        text(),
        text(),
        text(),
        text(),
        text(),
    )
        .prop_map(|(t, size, p, s, n, d, u, w)| StorageDevice {
            type_: t,
            size,
            product_name: p,
            serial_number: s,
            name: n,
            device_name: d,
            uuid: u,
            wwid: w,
        })
}

fn interface() -> impl Strategy<Value = NetworkInterface> {
    let address =
        prop::sample::select(vec!["", "10.0.0.1/24", "fd00::1/64"]).prop_map(String::from);
    (int(), text(), text(), int(), text(), list(address)).prop_map(|(i, n, f, mtu, mac, a)| {
        NetworkInterface {
            index: i,
            name: n,
            flags: f,
            mtu,
            mac,
            addresses: a,
        }
    })
}

fn system() -> impl Strategy<Value = SystemInformation> {
    (text(), text(), text(), text(), text(), text(), text()).prop_map(|(u, m, p, v, s, k, f)| {
        SystemInformation {
            uuid: u,
            manufacturer: m,
            product_name: p,
            version: v,
            serial_number: s,
            sku_number: k,
            family: f,
        }
    })
}

/// Any hardware information (also used as a qualifier template).
pub fn hardware() -> impl Strategy<Value = HardwareInformation> {
    let compute =
        (int(), int(), int(), list(processor())).prop_map(|(c, t, p, ps)| ComputeInformation {
            total_core_count: c,
            total_thread_count: t,
            processor_count: p,
            processors: ps,
        });
    let memory = (text(), int(), list(module())).prop_map(|(t, c, m)| MemoryInformation {
        total_size: t,
        module_count: c,
        modules: m,
    });
    let storage = (text(), int(), list(device())).prop_map(|(t, c, d)| StorageInformation {
        total_size: t,
        device_count: c,
        devices: d,
    });
    let network = (int(), list(interface())).prop_map(|(c, i)| NetworkInformation {
        interface_count: c,
        interfaces: i,
    });
    (
        option::of(system()),
        option::of(compute),
        option::of(memory),
        option::of(storage),
        option::of(network),
    )
        .prop_map(
            |(system, compute, memory, storage, network)| HardwareInformation {
                system,
                compute,
                memory,
                storage,
                network,
            },
        )
}

const KEYS: [&str; 3] = ["zone", "rack", "example.com/tier"];
const VALUES: [&str; 3] = ["", "a", "b"];

pub fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(
        prop::sample::select(KEYS.to_vec()).prop_map(String::from),
        prop::sample::select(VALUES.to_vec()).prop_map(String::from),
        0..3,
    )
}

/// A server named `name`.
pub fn server(name: String) -> impl Strategy<Value = Server> {
    (
        any::<bool>(),
        option::of(any::<bool>()),
        any::<bool>(),
        option::of(labels()),
        option::of(hardware()),
    )
        .prop_map(move |(accepted, cordoned, in_use, labels, hardware)| {
            let mut server = Server::new(
                &name,
                ServerSpec {
                    accepted,
                    cordoned,
                    hardware,
                    ..ServerSpec::default()
                },
            );
            server.metadata.labels = labels;
            server.status = Some(ServerStatus {
                in_use,
                ..ServerStatus::default()
            });
            server
        })
}

/// Servers with distinct names `s0`, `s1`, ...
pub fn servers() -> impl Strategy<Value = Vec<Server>> {
    (0usize..6).prop_flat_map(|n| (0..n).map(|i| server(format!("s{i}"))).collect::<Vec<_>>())
}

/// One valid `matchExpressions` entry.
pub fn requirement() -> impl Strategy<Value = LabelSelectorRequirement> {
    let key = prop::sample::select(KEYS.to_vec()).prop_map(String::from);
    let values = vec(
        prop::sample::select(VALUES.to_vec()).prop_map(String::from),
        1..3,
    );
    let op = prop::sample::select(vec!["In", "NotIn", "Exists", "DoesNotExist"]);
    (key, op, values).prop_map(|(key, op, values)| LabelSelectorRequirement {
        key,
        operator: op.to_owned(),
        values: matches!(op, "In" | "NotIn").then_some(values),
    })
}

/// A valid label selector.
pub fn selector() -> impl Strategy<Value = LabelSelector> {
    (option::of(labels()), option::of(vec(requirement(), 0..3))).prop_map(|(ml, me)| {
        LabelSelector {
            match_labels: ml,
            match_expressions: me,
        }
    })
}

/// A sparse hardware template: random hardware with most of it masked away.
pub fn template() -> impl Strategy<Value = HardwareInformation> {
    (hardware(), any::<u64>()).prop_map(|(h, seed)| {
        let masked = mask(&serde_json::to_value(h).unwrap(), &mut Rng::new(seed));
        serde_json::from_value(masked).unwrap()
    })
}

/// Qualifiers with sparse templates, so they match generated servers often enough.
pub fn qualifiers() -> impl Strategy<Value = Qualifiers> {
    (list(template()), list(labels())).prop_map(|(hardware, label_selectors)| Qualifiers {
        hardware,
        label_selectors,
    })
}

/// A class spec with a valid selector.
pub fn class() -> impl Strategy<Value = ServerClassSpec> {
    (selector(), qualifiers()).prop_map(|(selector, qualifiers)| ServerClassSpec {
        selector,
        qualifiers,
        ..ServerClassSpec::default()
    })
}

/// Named classes (one of them possibly `any`).
pub fn classes() -> impl Strategy<Value = Vec<(String, ServerClassSpec)>> {
    vec(class(), 0..5).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    if i == 0 {
                        "any".to_owned()
                    } else {
                        format!("c{i}")
                    },
                    c,
                )
            })
            .collect()
    })
}
