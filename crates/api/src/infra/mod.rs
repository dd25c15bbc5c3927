//! `infrastructure.cluster.x-k8s.io`: MetalCluster, MetalMachine, MetalMachineTemplate,
//! ServerBinding (spec §2.4–§2.8).
//!
//! * [`v1alpha3`] is the storage (hub) version of every kind;
//! * [`v1alpha2`] is served for MetalCluster, MetalMachine and MetalMachineTemplate;
//! * [`convert`] converts between them (the conversion webhook's work);
//! * [`crds`] builds the four CRDs.

pub mod convert;
mod schema;
pub mod v1alpha2;
pub mod v1alpha3;

#[cfg(test)]
mod tests;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::CustomResourceExt;
use kube::core::crd::merge_crds;

/// The API group of every kind here.
pub const GROUP: &str = "infrastructure.cluster.x-k8s.io";
/// `apiVersion` of the storage version.
pub const V1ALPHA3: &str = "infrastructure.cluster.x-k8s.io/v1alpha3";
/// `apiVersion` of the older served version.
pub const V1ALPHA2: &str = "infrastructure.cluster.x-k8s.io/v1alpha2";

const TEMPLATE_STATUS_DESCRIPTION: &str =
    "MetalMachineTemplateStatus defines the observed state of MetalMachineTemplate.";

/// The four CRDs: MetalCluster, MetalMachine and MetalMachineTemplate with `v1alpha2` and
/// `v1alpha3` (storage) merged, ServerBinding with `v1alpha3` only.
///
/// Versions are listed in upstream's order (`v1alpha2` first). No labels, annotations or
/// conversion settings are added here.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        merged(v1alpha3::MetalCluster::crd(), v1alpha2::MetalCluster::crd()),
        merged(v1alpha3::MetalMachine::crd(), v1alpha2::MetalMachine::crd()),
        schema::with_empty_status(
            merged(
                v1alpha3::MetalMachineTemplate::crd(),
                v1alpha2::MetalMachineTemplate::crd(),
            ),
            TEMPLATE_STATUS_DESCRIPTION,
        ),
        schema::upstream_parity(v1alpha3::ServerBinding::crd()),
    ]
}

/// Merges the storage version's CRD with an older version's, storage version marked.
///
/// `merge_crds` only fails on mismatched group/kind/scope or missing versions, which the tests
/// rule out; should it ever fail, the storage version alone is returned rather than panicking.
fn merged(
    hub: CustomResourceDefinition,
    spoke: CustomResourceDefinition,
) -> CustomResourceDefinition {
    let fallback = hub.clone();
    let mut crd = merge_crds(vec![hub, spoke], "v1alpha3").unwrap_or(fallback);
    crd.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
    schema::upstream_parity(crd)
}
