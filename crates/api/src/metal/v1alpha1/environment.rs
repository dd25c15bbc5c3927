//! `Environment` (`metal.sidero.dev/v1alpha1`): same schema as v1alpha2.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EnvironmentStatus, Initrd, Kernel};

/// EnvironmentSpec defines the desired state of Environment.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "metal.sidero.dev",
    version = "v1alpha1",
    kind = "Environment",
    plural = "environments",
    singular = "environment",
    status = "EnvironmentStatus",
    storage = false,
    derive = "PartialEq",
    derive = "Default",
    doc = "Environment is the Schema for the environments API.",
    printcolumn = r#"{"name":"Kernel","type":"string","jsonPath":".spec.kernel.url","description":"the kernel for the environment"}"#,
    printcolumn = r#"{"name":"Initrd","type":"string","jsonPath":".spec.initrd.url","description":"the initrd for the environment"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"indicates the readiness of the environment"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// The kernel to boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Kernel>,
    /// The initial ramdisk to boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<Initrd>,
}
