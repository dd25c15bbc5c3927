//! `MetalMachine` (v1alpha3, storage version; spec §2.5).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::reference::ObjectReference;

/// MetalMachineSpec defines the desired state of MetalMachine.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha3",
    kind = "MetalMachine",
    plural = "metalmachines",
    namespaced,
    status = "MetalMachineStatus",
    category = "cluster-api",
    derive = "PartialEq",
    derive = "Default",
    doc = "MetalMachine is the Schema for the metalmachines API.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.ready","description":"MetalMachine ready status"}"#,
    printcolumn = r#"{"name":"Cluster","type":"string","priority":1,"jsonPath":".metadata.labels.cluster\\.x-k8s\\.io/cluster-name","description":"Cluster to which this MetalMachine belongs"}"#,
    printcolumn = r#"{"name":"Machine","type":"string","priority":1,"jsonPath":".metadata.ownerReferences[?(@.kind==\"Machine\")].name","description":"Machine object to which this MetalMachine belongs"}"#,
    printcolumn = r#"{"name":"Server","type":"string","priority":1,"jsonPath":".spec.serverRef.name","description":"Server ID"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
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
    /// The Server this machine runs on: chosen by the user, or written by CAPS after picking one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ref: Option<ObjectReference>,
    /// The ServerClass to pick a Server from when serverRef is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_class_ref: Option<ObjectReference>,
}

/// MetalMachineStatus defines the observed state of MetalMachine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetalMachineStatus {
    /// Ready is true once the machine is bound to a Server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
    /// Addresses contains the Metal machine associated addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<MachineAddress>,
    /// FailureReason will be set in the event that there is a terminal problem reconciling the
    /// Machine and will contain a succinct value suitable for machine interpretation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// FailureMessage will be set in the event that there is a terminal problem reconciling the
    /// Machine and will contain a more verbose string suitable for logging and human consumption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Conditions defines current state of the MetalMachine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Initialization of the Cluster API v1beta2 contract (CAPI v1.11+ reads it; v1.10 reads
    /// `ready`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
}

/// The Cluster API v1beta2 contract's initialization status of an infrastructure object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Initialization {
    /// True once the infrastructure is provisioned (the machine bound to a server, the cluster
    /// owned by a Cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<bool>,
}

/// MachineAddress contains information for the node's address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineAddress {
    /// Machine address type, one of Hostname, ExternalIP, InternalIP, ExternalDNS or InternalDNS.
    #[serde(rename = "type")]
    pub type_: String,
    /// The machine address.
    pub address: String,
}

/// `MachineAddress.type` for a host name.
pub const ADDRESS_HOSTNAME: &str = "Hostname";
/// `MachineAddress.type` for an externally reachable IP.
pub const ADDRESS_EXTERNAL_IP: &str = "ExternalIP";
/// `MachineAddress.type` for an IP inside the cluster network.
pub const ADDRESS_INTERNAL_IP: &str = "InternalIP";
/// `MachineAddress.type` for a public DNS name.
pub const ADDRESS_EXTERNAL_DNS: &str = "ExternalDNS";
/// `MachineAddress.type` for a DNS name resolving inside the cluster network.
pub const ADDRESS_INTERNAL_DNS: &str = "InternalDNS";
