//! `MetalMachineTemplate` (v1alpha3, storage version; spec §2.6).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MetalMachineSpec;

/// MetalMachineTemplateSpec defines the desired state of MetalMachineTemplate.
// No status subresource; upstream's always-empty status object is added to the CRD schema by
// `crate::infra::crds`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha3",
    kind = "MetalMachineTemplate",
    plural = "metalmachinetemplates",
    namespaced,
    category = "cluster-api",
    derive = "PartialEq",
    derive = "Default",
    doc = "MetalMachineTemplate is the Schema for the metalmachinetemplates API."
)]
#[serde(rename_all = "camelCase")]
pub struct MetalMachineTemplateSpec {
    /// Template is the machine template.
    pub template: MetalMachineTemplateResource,
}

/// The `template` of a MetalMachineTemplate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetalMachineTemplateResource {
    /// Spec is the specification of the desired behavior of the machine.
    pub spec: MetalMachineSpec,
}
