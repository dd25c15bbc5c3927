//! Local clusterctl provider repositories for CAPI core, CABPT and CACPPT, built from the CRDs
//! their wrappers copy from the Go modules, so `clusterctl init` runs with no network: the
//! config file names every provider by a `file://` URL.
//!
//! These components are deliberately reduced to what clusterctl and the API server need to
//! accept and record the provider: the Namespace and the CRDs (with the contract labels
//! upstream's kustomize adds). No Deployments, RBAC or webhook configurations: nothing would
//! run the Deployments here, and Service-form webhooks must never reach the test API server.
//!
//! [`cert_manager_crds`] stands in for an installed cert-manager: `clusterctl init` first
//! checks whether cert-manager works by creating its test Issuer and Certificate, and skips
//! installing cert-manager when that succeeds (its supported "already installed" path).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{CABPT_VERSION, CACPPT_VERSION, CAPI_VERSION};
use crate::{Error, crds, peers};

/// One provider repository.
#[derive(Clone, Copy, Debug)]
pub struct LocalProvider {
    /// clusterctl's provider name (`cluster-api`, `talos`).
    pub name: &'static str,
    /// clusterctl's provider type (`CoreProvider`, …).
    pub provider_type: &'static str,
    /// The folder name clusterctl requires in the URL (`<type prefix>-<name>`).
    pub label: &'static str,
    /// The version folder.
    pub version: &'static str,
    /// The components file name.
    pub file: &'static str,
    /// The peer wrapper whose `config/crd/bases` holds the CRDs.
    pub wrapper: &'static str,
    /// The namespace the provider installs into.
    pub namespace: &'static str,
    /// `cluster.x-k8s.io/v1beta1` contract label for the CRDs (not for CAPI's own).
    pub v1beta1_contract: Option<&'static str>,
    /// `(major, minor)` of this release series, mapped to contract v1beta1 in metadata.yaml.
    pub series: (u32, u32),
}

/// CAPI core, CABPT and CACPPT at the versions the stack runs.
pub const PROVIDERS: [LocalProvider; 3] = [
    LocalProvider {
        name: "cluster-api",
        provider_type: "CoreProvider",
        label: "cluster-api",
        version: CAPI_VERSION,
        file: "core-components.yaml",
        wrapper: "capi-1.10",
        namespace: "capi-system",
        v1beta1_contract: None,
        series: (1, 10),
    },
    LocalProvider {
        name: "talos",
        provider_type: "BootstrapProvider",
        label: "bootstrap-talos",
        version: CABPT_VERSION,
        file: "bootstrap-components.yaml",
        wrapper: "cabpt-0.6",
        namespace: "cabpt-system",
        v1beta1_contract: Some("v1alpha3"),
        series: (0, 6),
    },
    LocalProvider {
        name: "talos",
        provider_type: "ControlPlaneProvider",
        label: "control-plane-talos",
        version: CACPPT_VERSION,
        file: "control-plane-components.yaml",
        wrapper: "cacppt-0.5",
        namespace: "cacppt-system",
        v1beta1_contract: Some("v1alpha3"),
        series: (0, 5),
    },
];

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Multi-document YAML from JSON values (JSON is YAML).
fn documents(objs: &[Value]) -> String {
    objs.iter()
        .map(|o| format!("---\n{o}\n"))
        .collect::<String>()
}

impl LocalProvider {
    /// The components: the Namespace and the provider's CRDs.
    pub fn components(&self) -> Result<Vec<Value>, Error> {
        let dir = peers::config_dir(self.wrapper)?.join("config/crd/bases");
        let mut objs = vec![json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.namespace},
        })];
        for crd in crds::read_dir(&dir)? {
            let mut v = serde_json::to_value(&crd)
                .map_err(|e| Error::Manifest(format!("{}: {e}", dir.display())))?;
            if let Some(contract) = self.v1beta1_contract {
                v["metadata"]["labels"]["cluster.x-k8s.io/v1beta1"] = json!(contract);
            }
            objs.push(v);
        }
        Ok(objs)
    }

    /// Writes `<base>/<label>/<version>/{<file>,metadata.yaml}` and returns the components path.
    pub fn write(&self, base: &Path) -> Result<PathBuf, Error> {
        let dir = base.join(self.label).join(self.version);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let (major, minor) = self.series;
        write(
            &dir.join("metadata.yaml"),
            &format!(
                "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n  - major: {major}\n    minor: {minor}\n    contract: v1beta1\n"
            ),
        )?;
        let path = dir.join(self.file);
        write(&path, &documents(&self.components()?))?;
        Ok(path)
    }

    /// This provider's entry in a clusterctl config file's `providers:` list.
    pub fn config_entry(&self, components: &Path) -> String {
        format!(
            "  - name: {}\n    url: file://{}\n    type: {}\n",
            self.name,
            components.display(),
            self.provider_type
        )
    }
}

/// Writes the three repositories under `base` and returns their `providers:` entries.
pub fn write_all(base: &Path) -> Result<String, Error> {
    let mut entries = String::new();
    for p in PROVIDERS {
        let path = p.write(base)?;
        entries.push_str(&p.config_entry(&path));
    }
    Ok(entries)
}

/// Minimal `issuers.cert-manager.io` and `certificates.cert-manager.io` CRDs (v1, any content),
/// enough for clusterctl to find a working cert-manager API and for provider bundles to
/// create their Issuers and Certificates. Nothing issues certificates: tests write them.
pub fn cert_manager_crds() -> Vec<Value> {
    ["Issuer", "Certificate"]
        .iter()
        .map(|kind| {
            let plural = format!("{}s", kind.to_lowercase());
            json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.cert-manager.io")},
                "spec": {
                    "group": "cert-manager.io",
                    "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                              "listKind": format!("{kind}List")},
                    "versions": [{
                        "name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {
                            "type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    }],
                },
            })
        })
        .collect()
}
