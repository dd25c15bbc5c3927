//! proptest strategies for `HardwareInformation`.

use proptest::collection::vec;
use proptest::option::of as opt;
use proptest::prelude::*;

use super::strategies::{oi, os, strings};
use crate::metal::v1alpha2 as v2;

pub(super) fn system() -> BoxedStrategy<v2::SystemInformation> {
    (os(), os(), os(), os(), os(), os(), os())
        .prop_map(
            |(uuid, manufacturer, product_name, version, serial_number, sku_number, family)| {
                v2::SystemInformation {
                    uuid,
                    manufacturer,
                    product_name,
                    version,
                    serial_number,
                    sku_number,
                    family,
                }
            },
        )
        .boxed()
}

pub(super) fn compute() -> BoxedStrategy<v2::ComputeInformation> {
    let processor = (os(), os(), os(), oi(), oi(), oi()).prop_map(
        |(manufacturer, product_name, serial_number, speed, core_count, thread_count)| {
            v2::Processor {
                manufacturer,
                product_name,
                serial_number,
                speed,
                core_count,
                thread_count,
            }
        },
    );
    (oi(), oi(), oi(), opt(vec(processor, 0..3)))
        .prop_map(
            |(total_core_count, total_thread_count, processor_count, processors)| {
                v2::ComputeInformation {
                    total_core_count,
                    total_thread_count,
                    processor_count,
                    processors,
                }
            },
        )
        .boxed()
}

pub(super) fn memory() -> BoxedStrategy<v2::MemoryInformation> {
    let module = (os(), os(), os(), os(), oi(), oi()).prop_map(
        |(manufacturer, product_name, serial_number, type_, size, speed)| v2::MemoryModule {
            manufacturer,
            product_name,
            serial_number,
            type_,
            size,
            speed,
        },
    );
    (os(), oi(), opt(vec(module, 0..2)))
        .prop_map(
            |(total_size, module_count, modules)| v2::MemoryInformation {
                total_size,
                module_count,
                modules,
            },
        )
        .boxed()
}

pub(super) fn storage() -> BoxedStrategy<v2::StorageInformation> {
    let device = (os(), opt(any::<i64>()), os(), os(), os(), os(), os(), os()).prop_map(
        |(type_, size, product_name, serial_number, name, device_name, uuid, wwid)| {
            v2::StorageDevice {
                type_,
                size,
                product_name,
                serial_number,
                name,
                device_name,
                uuid,
                wwid,
            }
        },
    );
    (os(), oi(), opt(vec(device, 0..2)))
        .prop_map(
            |(total_size, device_count, devices)| v2::StorageInformation {
                total_size,
                device_count,
                devices,
            },
        )
        .boxed()
}

pub(super) fn network() -> BoxedStrategy<v2::NetworkInformation> {
    let interface = (oi(), os(), os(), oi(), os(), strings()).prop_map(
        |(index, name, flags, mtu, mac, addresses)| v2::NetworkInterface {
            index,
            name,
            flags,
            mtu,
            mac,
            addresses,
        },
    );
    (oi(), opt(vec(interface, 0..2)))
        .prop_map(|(interface_count, interfaces)| v2::NetworkInformation {
            interface_count,
            interfaces,
        })
        .boxed()
}

pub(super) fn hardware() -> BoxedStrategy<v2::HardwareInformation> {
    (
        opt(system()),
        opt(compute()),
        opt(memory()),
        opt(storage()),
        opt(network()),
    )
        .prop_map(
            |(system, compute, memory, storage, network)| v2::HardwareInformation {
                system,
                compute,
                memory,
                storage,
                network,
            },
        )
        .boxed()
}
