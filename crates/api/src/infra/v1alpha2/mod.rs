//! `infrastructure.cluster.x-k8s.io/v1alpha2`: served, not stored (spec §2.8).
//!
//! Convert to and from the hub ([`super::v1alpha3`]) with [`super::convert`].

mod metalcluster;
mod metalmachine;

pub use metalcluster::{ApiEndpoint, MetalCluster, MetalClusterSpec, MetalClusterStatus};
pub use metalmachine::{
    MetalMachine, MetalMachineSpec, MetalMachineStatus, MetalMachineTemplate,
    MetalMachineTemplateResource, MetalMachineTemplateSpec,
};
