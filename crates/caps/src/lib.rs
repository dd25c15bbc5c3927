//! What the Cluster API provider decides (spec §3.4–3.7), as pure functions over snapshots of
//! the objects involved. The executors in `caps-controller-manager` fetch the snapshot, call
//! these functions and carry out the answer.

pub mod allocation;
pub mod binding;
pub mod metalcluster;
pub mod metalmachine;
pub mod node;

/// Requeue period of upstream's polling, kept as a safety net behind the watches.
pub const DEFAULT_REQUEUE_SECS: u64 = 20;
/// Finalizer on MetalMachines.
pub const METAL_MACHINE_FINALIZER: &str = "metalmachine.infrastructure.cluster.x-k8s.io";
/// Finalizer on MetalClusters.
pub const METAL_CLUSTER_FINALIZER: &str = "metalcluster.infrastructure.cluster.x-k8s.io";
/// The label CAPI puts on a cluster's objects.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// `spec.providerID` prefix.
pub const PROVIDER_ID_PREFIX: &str = "sidero://";
