//! `MetalCluster` (v1alpha3, storage version; spec §2.4).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// MetalClusterSpec defines the desired state of MetalCluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha3",
    kind = "MetalCluster",
    plural = "metalclusters",
    namespaced,
    status = "MetalClusterStatus",
    category = "cluster-api",
    derive = "PartialEq",
    derive = "Default",
    doc = "MetalCluster is the Schema for the metalclusters API.",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".metadata.labels.cluster\\.x-k8s\\.io/cluster-name","description":"Cluster to which this MetalCluster belongs"}"#,
    printcolumn = r#"{"name":"Ready","type":"boolean","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","priority":1,"jsonPath":".spec.controlPlaneEndpoint.host","description":"Control Plane Endpoint"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MetalClusterSpec {
    /// ControlPlaneEndpoint represents the endpoint used to communicate with the control plane.
    // Always serialized (upstream has no `omitempty`), yet optional in the schema.
    #[serde(default)]
    pub control_plane_endpoint: ApiEndpoint,
}

/// APIEndpoint represents a reachable Kubernetes API endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::infra::schema::require_host_port)]
pub struct ApiEndpoint {
    /// The hostname on which the API server is serving.
    #[serde(default)]
    pub host: String,
    /// The port on which the API server is serving.
    #[serde(default)]
    pub port: i32,
}

impl ApiEndpoint {
    /// Whether both host and port are unset (CAPI's `IsZero`).
    pub fn is_zero(&self) -> bool {
        self.host.is_empty() && self.port == 0
    }
}

/// MetalClusterStatus defines the observed state of MetalCluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::infra::schema::require_ready)]
pub struct MetalClusterStatus {
    /// Ready is true once the owning Cluster is known.
    // Always serialized and required in the schema.
    #[serde(default)]
    pub ready: bool,
    /// Initialization of the Cluster API v1beta2 contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<super::Initialization>,
}
