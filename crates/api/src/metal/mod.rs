//! `metal.sidero.dev`: `Server`, `ServerClass`, `Environment`.
//!
//! * [`v1alpha2`]: storage (hub) version, served;
//! * [`v1alpha1`]: older shapes, served, converted by the webhook with [`convert`];
//! * [`crds`]: the three CRDs with both versions merged.

pub mod common;
pub mod convert;
mod schema;
pub mod v1alpha1;
pub mod v1alpha2;

#[cfg(test)]
mod tests;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::core::crd::merge_crds;

/// API group of every kind in this module.
pub const GROUP: &str = "metal.sidero.dev";
/// `apiVersion` of the storage (hub) version.
pub const API_VERSION_V1ALPHA2: &str = "metal.sidero.dev/v1alpha2";
/// `apiVersion` of the older, served version.
pub const API_VERSION_V1ALPHA1: &str = "metal.sidero.dev/v1alpha1";
/// Version stored in etcd.
pub const STORAGE_VERSION: &str = "v1alpha2";

/// The `servers`, `serverclasses` and `environments` CRDs, each serving `v1alpha1` and
/// `v1alpha2` with `v1alpha2` stored, shaped like upstream's controller-gen manifests
/// (versions in upstream's order, `listKind` set, no `nullable`/`default`; see
/// `crate::schema::upstream_parity`). No labels or conversion settings: those are added centrally.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        (v1alpha2::Server::crd(), v1alpha1::Server::crd()),
        (v1alpha2::ServerClass::crd(), v1alpha1::ServerClass::crd()),
        (v1alpha2::Environment::crd(), v1alpha1::Environment::crd()),
    ]
    .into_iter()
    .map(|(hub, spoke)| {
        let mut crd = crate::schema::upstream_parity(merge(hub, spoke));
        crd.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
        crd
    })
    .collect()
}

/// Merges the two single-version CRDs of one kind, with the hub version stored.
fn merge(
    hub: CustomResourceDefinition,
    spoke: CustomResourceDefinition,
) -> CustomResourceDefinition {
    match merge_crds(vec![hub.clone(), spoke.clone()], STORAGE_VERSION) {
        Ok(merged) => merged,
        // Unreachable for these derived CRDs (same group, kind and scope; one version each);
        // merge by hand rather than lose a version.
        Err(_) => {
            let mut merged = hub;
            merged
                .spec
                .versions
                .iter_mut()
                .for_each(|v| v.storage = true);
            merged
                .spec
                .versions
                .extend(spoke.spec.versions.into_iter().map(|mut v| {
                    v.storage = false;
                    v
                }));
            merged
        }
    }
}
