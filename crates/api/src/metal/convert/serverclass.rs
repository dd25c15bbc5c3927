//! `ServerClass` conversion: v1alpha1 `cpu[]`/`systemInformation[]` ↔ v1alpha2 `hardware[]`.

use super::server::{cpu_to_v1alpha1, cpu_to_v1alpha2, system_to_v1alpha1, system_to_v1alpha2};
use super::{ConversionError, annotate, non_empty_vec, restore};
use crate::metal::v1alpha1 as v1;
use crate::metal::v1alpha2 as v2;

/// Hub → v1alpha1, storing the hub object in the conversion-data annotation.
pub fn serverclass_to_v1alpha1(hub: &v2::ServerClass) -> Result<v1::ServerClass, ConversionError> {
    Ok(v1::ServerClass {
        metadata: annotate(&hub.metadata, hub)?,
        spec: serverclass_spec_to_v1alpha1(&hub.spec),
        status: hub.status.clone(),
    })
}

/// v1alpha1 → hub, restoring `strategicPatches` and (if the v1alpha1 `cpu`/`systemInformation`
/// lists are unchanged) the full `qualifiers.hardware` from the conversion-data annotation.
pub fn serverclass_to_v1alpha2(
    spoke: &v1::ServerClass,
) -> Result<v2::ServerClass, ConversionError> {
    let (metadata, restored) = restore::<v2::ServerClassSpec>(&spoke.metadata)?;
    let mut spec = serverclass_spec_to_v1alpha2(&spoke.spec);
    if let Some(restored) = restored {
        spec.strategic_patches = restored.strategic_patches;
        let down = qualifiers_to_v1alpha1(&restored.qualifiers);
        let ours = &spoke.spec.qualifiers;
        if down.cpu == ours.cpu && down.system_information == ours.system_information {
            spec.qualifiers.hardware = restored.qualifiers.hardware;
        }
    }
    Ok(v2::ServerClass {
        metadata,
        spec,
        status: spoke.status.clone(),
    })
}

/// Plain spec mapping hub → v1alpha1 (drops `strategicPatches`).
pub fn serverclass_spec_to_v1alpha1(spec: &v2::ServerClassSpec) -> v1::ServerClassSpec {
    v1::ServerClassSpec {
        environment_ref: spec.environment_ref.clone(),
        qualifiers: qualifiers_to_v1alpha1(&spec.qualifiers),
        selector: spec.selector.clone(),
        config_patches: spec.config_patches.clone(),
        boot_from_disk_method: spec.boot_from_disk_method.clone(),
    }
}

/// Plain spec mapping v1alpha1 → hub.
pub fn serverclass_spec_to_v1alpha2(spec: &v1::ServerClassSpec) -> v2::ServerClassSpec {
    v2::ServerClassSpec {
        environment_ref: spec.environment_ref.clone(),
        qualifiers: qualifiers_to_v1alpha2(&spec.qualifiers),
        selector: spec.selector.clone(),
        config_patches: spec.config_patches.clone(),
        strategic_patches: None,
        boot_from_disk_method: spec.boot_from_disk_method.clone(),
    }
}

/// Hub → v1alpha1 qualifiers: each hardware entry contributes its `system` (if any) to
/// `systemInformation` and its first processor (if any) to `cpu`. Empty lists are omitted.
pub fn qualifiers_to_v1alpha1(qualifiers: &v2::Qualifiers) -> v1::Qualifiers {
    let hardware = qualifiers.hardware.as_deref().unwrap_or_default();
    let system_information = hardware
        .iter()
        .filter_map(|h| h.system.as_ref())
        .map(system_to_v1alpha1)
        .collect();
    let cpu = hardware
        .iter()
        .filter_map(|h| h.compute.as_ref()?.processors.as_deref()?.first())
        .map(cpu_to_v1alpha1)
        .collect();
    v1::Qualifiers {
        cpu: non_empty_vec(cpu),
        system_information: non_empty_vec(system_information),
        label_selectors: qualifiers.label_selectors.clone(),
    }
}

/// v1alpha1 → hub qualifiers: one `hardware` entry with only `system` per `systemInformation`
/// entry, then one with only `compute.processors[0]` per `cpu` entry. This turns the v1alpha1
/// AND of the two lists into an OR (upstream behavior).
pub fn qualifiers_to_v1alpha2(qualifiers: &v1::Qualifiers) -> v2::Qualifiers {
    let systems = qualifiers
        .system_information
        .iter()
        .flatten()
        .map(|s| v2::HardwareInformation {
            system: Some(system_to_v1alpha2(s)),
            ..Default::default()
        });
    let cpus = qualifiers
        .cpu
        .iter()
        .flatten()
        .map(|c| v2::HardwareInformation {
            compute: Some(v2::ComputeInformation {
                processors: Some(vec![cpu_to_v1alpha2(c)]),
                ..Default::default()
            }),
            ..Default::default()
        });
    v2::Qualifiers {
        hardware: non_empty_vec(systems.chain(cpus).collect()),
        label_selectors: qualifiers.label_selectors.clone(),
    }
}
