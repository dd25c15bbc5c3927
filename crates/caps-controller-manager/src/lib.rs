//! caps-controller-manager: the Cluster API infrastructure provider for Sidero Metal.
//!
//! The controllers decide with `sidero-caps` and act here through the Kubernetes API; the
//! workload cluster is reached only to set a Node's `spec.providerID`.

pub mod capi;
pub mod controllers;
pub mod flags;
pub mod metrics;
pub mod workload;
