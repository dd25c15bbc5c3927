//! Custom resource types of Sidero Metal, wire-compatible with upstream v0.6.13.
//!
//! * [`metal`]: `metal.sidero.dev` — `Server`, `ServerClass`, `Environment`
//!   (storage `v1alpha2`, served `v1alpha1`);
//! * [`infra`]: `infrastructure.cluster.x-k8s.io` — `MetalCluster`, `MetalMachine`,
//!   `MetalMachineTemplate`, `ServerBinding` (storage `v1alpha3`, served `v1alpha2`);
//! * [`capi`]: the Cluster API types we read (generated with kopium);
//! * [`condition`]: the CAPI v1beta1 condition shape and its helper semantics;
//! * [`crds`]: the CRD manifests, as written to `deploy/crds/`.

pub mod capi;
pub mod condition;
pub mod crds;
pub mod infra;
pub mod metal;
pub mod reference;
pub mod schema;
