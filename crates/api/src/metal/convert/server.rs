//! `Server` conversion: v1alpha1 `system`/`cpu` ↔ v1alpha2 `hardware`.

use super::{ConversionError, annotate, restore};
use crate::metal::v1alpha1 as v1;
use crate::metal::v1alpha2 as v2;

/// Hub → v1alpha1, storing the hub object in the conversion-data annotation.
pub fn server_to_v1alpha1(hub: &v2::Server) -> Result<v1::Server, ConversionError> {
    Ok(v1::Server {
        metadata: annotate(&hub.metadata, hub)?,
        spec: server_spec_to_v1alpha1(&hub.spec),
        status: hub.status.clone(),
    })
}

/// v1alpha1 → hub, restoring hub-only fields from the conversion-data annotation if present.
pub fn server_to_v1alpha2(spoke: &v1::Server) -> Result<v2::Server, ConversionError> {
    let (metadata, restored) = restore::<v2::ServerSpec>(&spoke.metadata)?;
    let mut spec = server_spec_to_v1alpha2(&spoke.spec);
    if let Some(restored) = restored {
        spec.strategic_patches = restored.strategic_patches;
        spec.hardware = restore_hardware(
            restored.hardware,
            spoke.spec.system.as_ref(),
            spoke.spec.cpu.as_ref(),
        );
    }
    Ok(v2::Server {
        metadata,
        spec,
        status: spoke.status.clone(),
    })
}

/// Plain spec mapping hub → v1alpha1: `hardware.system` → `system` (without `uuid`), the first
/// processor → `cpu {manufacturer, version: productName}`; `strategicPatches` and the rest of
/// `hardware` are dropped.
pub fn server_spec_to_v1alpha1(spec: &v2::ServerSpec) -> v1::ServerSpec {
    let hardware = spec.hardware.as_ref();
    v1::ServerSpec {
        environment_ref: spec.environment_ref.clone(),
        hostname: spec.hostname.clone(),
        system: hardware
            .and_then(|h| h.system.as_ref())
            .map(system_to_v1alpha1),
        cpu: hardware.and_then(first_processor).map(cpu_to_v1alpha1),
        bmc: spec.bmc.clone(),
        management_api: spec.management_api.clone(),
        config_patches: spec.config_patches.clone(),
        accepted: spec.accepted,
        cordoned: spec.cordoned,
        pxe_boot_always: spec.pxe_boot_always,
        boot_from_disk_method: spec.boot_from_disk_method.clone(),
        pxe_mode: spec.pxe_mode.clone(),
    }
}

/// Plain spec mapping v1alpha1 → hub: `system` → `hardware.system`, `cpu` →
/// `hardware.compute.processors = [{manufacturer, productName: version}]`.
pub fn server_spec_to_v1alpha2(spec: &v1::ServerSpec) -> v2::ServerSpec {
    let system = spec.system.as_ref().map(system_to_v1alpha2);
    let compute = spec.cpu.as_ref().map(|cpu| v2::ComputeInformation {
        processors: Some(vec![cpu_to_v1alpha2(cpu)]),
        ..Default::default()
    });
    let hardware = (system.is_some() || compute.is_some()).then(|| v2::HardwareInformation {
        system,
        compute,
        ..Default::default()
    });
    v2::ServerSpec {
        environment_ref: spec.environment_ref.clone(),
        hardware,
        hostname: spec.hostname.clone(),
        bmc: spec.bmc.clone(),
        management_api: spec.management_api.clone(),
        config_patches: spec.config_patches.clone(),
        strategic_patches: None,
        accepted: spec.accepted,
        cordoned: spec.cordoned,
        pxe_boot_always: spec.pxe_boot_always,
        boot_from_disk_method: spec.boot_from_disk_method.clone(),
        pxe_mode: spec.pxe_mode.clone(),
    }
}

/// The restored hub hardware, with the v1alpha1 `system`/`cpu` applied on top.
///
/// Unchanged `system`/`cpu` give back `base` exactly. Otherwise `system` replaces the hub
/// system (keeping its `uuid`), `cpu` replaces the first processor's manufacturer and product
/// name, and a removed `cpu` removes the processor list.
fn restore_hardware(
    base: Option<v2::HardwareInformation>,
    system: Option<&v1::SystemInformation>,
    cpu: Option<&v1::CpuInformation>,
) -> Option<v2::HardwareInformation> {
    let base_system = base
        .as_ref()
        .and_then(|h| h.system.as_ref())
        .map(system_to_v1alpha1);
    let base_cpu = base.as_ref().and_then(first_processor).map(cpu_to_v1alpha1);
    if base_system.as_ref() == system && base_cpu.as_ref() == cpu {
        return base;
    }
    let mut hardware = base.unwrap_or_default();
    hardware.system = system.map(|s| v2::SystemInformation {
        uuid: hardware.system.take().and_then(|old| old.uuid),
        ..system_to_v1alpha2(s)
    });
    match cpu {
        Some(cpu) => {
            let compute = hardware.compute.get_or_insert_with(Default::default);
            let processors = compute.processors.get_or_insert_with(Vec::new);
            match processors.first_mut() {
                Some(first) => {
                    first.manufacturer.clone_from(&cpu.manufacturer);
                    first.product_name.clone_from(&cpu.version);
                }
                None => processors.push(cpu_to_v1alpha2(cpu)),
            }
        }
        None => {
            if let Some(compute) = hardware.compute.as_mut() {
                compute.processors = None;
            }
            if hardware.compute == Some(v2::ComputeInformation::default()) {
                hardware.compute = None;
            }
        }
    }
    (hardware != v2::HardwareInformation::default()).then_some(hardware)
}

fn first_processor(hardware: &v2::HardwareInformation) -> Option<&v2::Processor> {
    hardware.compute.as_ref()?.processors.as_deref()?.first()
}

pub(super) fn system_to_v1alpha1(system: &v2::SystemInformation) -> v1::SystemInformation {
    v1::SystemInformation {
        manufacturer: system.manufacturer.clone(),
        product_name: system.product_name.clone(),
        version: system.version.clone(),
        serial_number: system.serial_number.clone(),
        sku_number: system.sku_number.clone(),
        family: system.family.clone(),
    }
}

pub(super) fn system_to_v1alpha2(system: &v1::SystemInformation) -> v2::SystemInformation {
    v2::SystemInformation {
        uuid: None,
        manufacturer: system.manufacturer.clone(),
        product_name: system.product_name.clone(),
        version: system.version.clone(),
        serial_number: system.serial_number.clone(),
        sku_number: system.sku_number.clone(),
        family: system.family.clone(),
    }
}

pub(super) fn cpu_to_v1alpha1(processor: &v2::Processor) -> v1::CpuInformation {
    v1::CpuInformation {
        manufacturer: processor.manufacturer.clone(),
        version: processor.product_name.clone(),
    }
}

pub(super) fn cpu_to_v1alpha2(cpu: &v1::CpuInformation) -> v2::Processor {
    v2::Processor {
        manufacturer: cpu.manufacturer.clone(),
        product_name: cpu.version.clone(),
        ..Default::default()
    }
}
