//! Tests of the `infrastructure.cluster.x-k8s.io` types and CRDs.

mod crd;
mod crd_schema;
mod crd_util;
mod serde;
