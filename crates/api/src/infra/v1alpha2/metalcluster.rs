//! `MetalCluster` v1alpha2.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// MetalClusterSpec defines the desired state of MetalCluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1alpha2",
    kind = "MetalCluster",
    plural = "metalclusters",
    namespaced,
    status = "MetalClusterStatus",
    category = "cluster-api",
    derive = "PartialEq",
    derive = "Default",
    doc = "MetalCluster is the Schema for the metalclusters API."
)]
#[serde(rename_all = "camelCase")]
pub struct MetalClusterSpec {
    /// APIEndpoints are the endpoints of the control plane.
    // Only the first one is carried over to v1alpha3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_endpoints: Vec<ApiEndpoint>,
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
    #[schemars(schema_with = "crate::infra::schema::go_int")]
    pub port: i64,
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
    /// APIEndpoints represents the endpoints to communicate with the control plane.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_endpoints: Vec<ApiEndpoint>,
}
