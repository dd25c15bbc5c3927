//! `ServerBinding` (v1alpha3, the only version; spec §2.7).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::reference::ObjectReference;

/// ServerBindingSpec defines the spec of the ServerBinding object.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha3",
    kind = "ServerBinding",
    plural = "serverbindings",
    status = "ServerBindingStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "ServerBinding defines the binding between the MetalMachine and the Server. ServerBinding always has matching ID with the Server object. ServerBinding optionally binds to the ServerClass which Server was picked from.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.ready","description":"ServerBinding ready status"}"#,
    printcolumn = r#"{"name":"Server","type":"string","priority":1,"jsonPath":".metadata.name","description":"Server ID"}"#,
    printcolumn = r#"{"name":"ServerClass","type":"string","priority":1,"jsonPath":".spec.serverClassRef.name","description":"Server Class"}"#,
    printcolumn = r#"{"name":"MetalMachine","type":"string","priority":1,"jsonPath":".spec.metalMachineRef.name","description":"Metal Machine"}"#,
    printcolumn = r#"{"name":"Cluster","type":"string","priority":1,"jsonPath":".metadata.labels.cluster\\.x-k8s\\.io/cluster-name","description":"Cluster to which this ServerBinding belongs"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ServerBindingSpec {
    /// The ServerClass the Server was picked from; absent when bound through an explicit serverRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_class_ref: Option<ObjectReference>,
    /// The MetalMachine this Server is bound to (kind, uid, namespace, name).
    pub metal_machine_ref: ObjectReference,
    /// SideroLink describes state of the SideroLink tunnel.
    // Always serialized; optional in the schema, but then both keys are required.
    #[serde(default)]
    pub siderolink: SideroLinkSpec,
    /// Addresses describes node addresses for the server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Hostname describes node hostname for the server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

/// SideroLinkSpec defines the state of SideroLink connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::infra::schema::require_siderolink)]
pub struct SideroLinkSpec {
    /// NodeAddress is the tunnel address of the node (with prefix length).
    #[serde(default)]
    pub address: String,
    /// NodePublicKey is the Wireguard public key of the node.
    #[serde(default)]
    pub public_key: String,
}

/// ServerBindingState defines the observed state of ServerBinding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerBindingStatus {
    /// Ready is true when matching server is found.
    // Always serialized, optional in the schema.
    #[serde(default)]
    pub ready: bool,
    /// Conditions defines current state of the ServerBinding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
