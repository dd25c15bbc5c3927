//! `MetalMachine` and `MetalMachineTemplate` v1alpha2.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reference::ObjectReference;

/// MetalMachineSpec defines the desired state of MetalMachine.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha2",
    kind = "MetalMachine",
    plural = "metalmachines",
    namespaced,
    status = "MetalMachineStatus",
    category = "cluster-api",
    derive = "PartialEq",
    derive = "Default",
    doc = "MetalMachine is the Schema for the metalmachines API."
)]
#[serde(rename_all = "camelCase")]
pub struct MetalMachineSpec {
    /// ProviderID is the unique identifier as specified by the cloud provider.
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    /// The Server this machine runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ref: Option<ObjectReference>,
}

/// MetalMachineStatus defines the observed state of MetalMachine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::infra::schema::require_ready)]
pub struct MetalMachineStatus {
    /// Ready is true once the machine is bound to a Server.
    // Always serialized and required in the schema.
    #[serde(default)]
    pub ready: bool,
    /// ErrorReason will be set in the event that there is a terminal problem reconciling the
    /// Machine and will contain a succinct value suitable for machine interpretation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// ErrorMessage will be set in the event that there is a terminal problem reconciling the
    /// Machine and will contain a more verbose string suitable for logging and human consumption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// MetalMachineTemplateSpec defines the desired state of MetalMachineTemplate.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha2",
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

/// The `template` of a v1alpha2 MetalMachineTemplate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetalMachineTemplateResource {
    /// Spec is the specification of the desired behavior of the machine.
    pub spec: MetalMachineSpec,
}
