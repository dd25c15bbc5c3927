//! MetalMachine and MetalMachineTemplate: `errorReason/errorMessage` ↔
//! `failureReason/failureMessage`; `serverClassRef`, `addresses` and `conditions` exist only in
//! the hub and are restored from the conversion-data annotation.

use super::{ConversionError, store_hub, take_hub};
use crate::infra::{v1alpha2 as old, v1alpha3 as hub};
use crate::reference::ObjectReference;

fn spec_down(spec: hub::MetalMachineSpec) -> old::MetalMachineSpec {
    old::MetalMachineSpec {
        provider_id: spec.provider_id,
        server_ref: spec.server_ref,
    }
}

fn spec_up(
    spec: old::MetalMachineSpec,
    server_class_ref: Option<ObjectReference>,
) -> hub::MetalMachineSpec {
    hub::MetalMachineSpec {
        provider_id: spec.provider_id,
        server_ref: spec.server_ref,
        server_class_ref,
    }
}

impl TryFrom<hub::MetalMachine> for old::MetalMachine {
    type Error = ConversionError;

    fn try_from(src: hub::MetalMachine) -> Result<Self, Self::Error> {
        let mut metadata = src.metadata.clone();
        store_hub(&src, &mut metadata)?;
        Ok(old::MetalMachine {
            metadata,
            spec: spec_down(src.spec),
            status: src.status.map(|s| old::MetalMachineStatus {
                ready: s.ready,
                error_reason: s.failure_reason,
                error_message: s.failure_message,
            }),
        })
    }
}

impl TryFrom<old::MetalMachine> for hub::MetalMachine {
    type Error = ConversionError;

    fn try_from(mut src: old::MetalMachine) -> Result<Self, Self::Error> {
        let restored =
            take_hub::<hub::MetalMachineSpec, hub::MetalMachineStatus>(&mut src.metadata)?;
        let (server_class_ref, hub_status) = match restored {
            Some(r) => (r.spec.server_class_ref, r.status.unwrap_or_default()),
            None => (None, hub::MetalMachineStatus::default()),
        };
        let (addresses, conditions, initialization) = (
            hub_status.addresses,
            hub_status.conditions,
            hub_status.initialization,
        );
        let status = match src.status {
            Some(s) => Some(hub::MetalMachineStatus {
                ready: s.ready,
                addresses,
                failure_reason: s.error_reason,
                failure_message: s.error_message,
                conditions,
                initialization,
            }),
            None if !addresses.is_empty() || !conditions.is_empty() || initialization.is_some() => {
                Some(hub::MetalMachineStatus {
                    addresses,
                    conditions,
                    initialization,
                    ..Default::default()
                })
            }
            None => None,
        };
        Ok(hub::MetalMachine {
            metadata: src.metadata,
            spec: spec_up(src.spec, server_class_ref),
            status,
        })
    }
}

impl TryFrom<hub::MetalMachineTemplate> for old::MetalMachineTemplate {
    type Error = ConversionError;

    fn try_from(src: hub::MetalMachineTemplate) -> Result<Self, Self::Error> {
        let mut metadata = src.metadata.clone();
        store_hub(&src, &mut metadata)?;
        let spec = spec_down(src.spec.template.spec);
        Ok(old::MetalMachineTemplate {
            metadata,
            spec: old::MetalMachineTemplateSpec {
                template: old::MetalMachineTemplateResource { spec },
            },
        })
    }
}

impl TryFrom<old::MetalMachineTemplate> for hub::MetalMachineTemplate {
    type Error = ConversionError;

    fn try_from(mut src: old::MetalMachineTemplate) -> Result<Self, Self::Error> {
        let restored =
            take_hub::<hub::MetalMachineTemplateSpec, serde::de::IgnoredAny>(&mut src.metadata)?;
        let server_class_ref = restored.and_then(|r| r.spec.template.spec.server_class_ref);
        let spec = spec_up(src.spec.template.spec, server_class_ref);
        Ok(hub::MetalMachineTemplate {
            metadata: src.metadata,
            spec: hub::MetalMachineTemplateSpec {
                template: hub::MetalMachineTemplateResource { spec },
            },
        })
    }
}
