//! `Environment` conversion: the schemas are identical; only the annotation is handled.

use super::{ConversionError, annotate, restore};
use crate::metal::v1alpha1 as v1;
use crate::metal::v1alpha2 as v2;

/// Hub → v1alpha1, storing the hub object in the conversion-data annotation.
pub fn environment_to_v1alpha1(hub: &v2::Environment) -> Result<v1::Environment, ConversionError> {
    Ok(v1::Environment {
        metadata: annotate(&hub.metadata, hub)?,
        spec: v1::EnvironmentSpec {
            kernel: hub.spec.kernel.clone(),
            initrd: hub.spec.initrd.clone(),
        },
        status: hub.status.clone(),
    })
}

/// v1alpha1 → hub, dropping the conversion-data annotation (nothing needs restoring).
pub fn environment_to_v1alpha2(
    spoke: &v1::Environment,
) -> Result<v2::Environment, ConversionError> {
    let (metadata, _) = restore::<v2::EnvironmentSpec>(&spoke.metadata)?;
    Ok(v2::Environment {
        metadata,
        spec: v2::EnvironmentSpec {
            kernel: spoke.spec.kernel.clone(),
            initrd: spoke.spec.initrd.clone(),
        },
        status: spoke.status.clone(),
    })
}
