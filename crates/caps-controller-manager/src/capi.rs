//! Reading Cluster API objects at whatever version the management cluster prefers (CAPI v1.10
//! serves v1beta1, v1.11+ prefers v1beta2), as dynamic objects: we read a few fields only.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Discovery;
use kube::{Client, ResourceExt};
use serde_json::Value;
use sidero_caps::metalmachine::MachineView;

/// The CAPI core group.
pub const GROUP: &str = "cluster.x-k8s.io";

/// API resources of the CAPI kinds we read.
#[derive(Clone, Debug)]
pub struct CapiResources {
    /// `Cluster`.
    pub cluster: ApiResource,
    /// `Machine`.
    pub machine: ApiResource,
}

impl CapiResources {
    /// Asks the API server for the preferred version of `cluster.x-k8s.io`; falls back to
    /// v1beta1 when CAPI is not installed yet (the watches then retry until it is).
    pub async fn discover(client: &Client) -> CapiResources {
        let found = Discovery::new(client.clone()).filter(&[GROUP]).run().await;
        let version = match &found {
            Ok(d) => d
                .groups()
                .find(|g| g.name() == GROUP)
                .map(|g| g.preferred_version_or_latest().to_owned()),
            Err(e) => {
                tracing::warn!(error = %e, "discovering the Cluster API version failed");
                None
            }
        };
        let version = version.unwrap_or_else(|| "v1beta1".into());
        tracing::info!(%version, "reading Cluster API objects");
        Self::at(&version)
    }

    /// The resources at a given version.
    pub fn at(version: &str) -> CapiResources {
        let ar = |kind| ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, version, kind));
        CapiResources {
            cluster: ar("Cluster"),
            machine: ar("Machine"),
        }
    }
}

/// The fields of a Machine the MetalMachine controller needs.
pub fn machine_view(m: &DynamicObject) -> MachineView {
    MachineView {
        name: m.name_any(),
        data_secret_name: m.data["spec"]["bootstrap"]["dataSecretName"]
            .as_str()
            .map(str::to_owned),
    }
}

/// Whether a Cluster's infrastructure is ready: v1beta1 `status.infrastructureReady`, v1beta2
/// `status.initialization.infrastructureProvisioned`.
pub fn cluster_infra_ready(c: &DynamicObject) -> bool {
    let status = &c.data["status"];
    status["infrastructureReady"].as_bool() == Some(true)
        || status["initialization"]["infrastructureProvisioned"].as_bool() == Some(true)
}

/// `spec.infrastructureRef` of a Machine as (kind, name).
pub fn infrastructure_ref(m: &DynamicObject) -> Option<(String, String)> {
    let r = &m.data["spec"]["infrastructureRef"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Some((text(&r["kind"])?, text(&r["name"])?))
}
