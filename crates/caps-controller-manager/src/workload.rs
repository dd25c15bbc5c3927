//! The workload cluster, reached through CAPI's `<cluster>-kubeconfig` Secret, only to give a
//! server's Node its `spec.providerID` (spec §3.5 step 13).

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::json;
use sidero_caps::node::{NODE_UUID_LABEL, NodeAction, provider_id_action};

/// Workload clients, rebuilt when the kubeconfig Secret changes.
#[derive(Default)]
pub struct Workloads {
    clients: Mutex<HashMap<String, (String, Client)>>,
}

impl Workloads {
    async fn client(
        &self,
        mgmt: &Client,
        namespace: &str,
        cluster: &str,
    ) -> Result<Client, String> {
        let name = format!("{cluster}-kubeconfig");
        let secret = Api::<Secret>::namespaced(mgmt.clone(), namespace)
            .get(&name)
            .await
            .map_err(|e| format!("reading secret {namespace}/{name}: {e}"))?;
        let version = secret.resource_version().unwrap_or_default();
        let key = format!("{namespace}/{cluster}");
        if let Ok(cache) = self.clients.lock()
            && let Some((v, c)) = cache.get(&key)
            && *v == version
        {
            return Ok(c.clone());
        }
        let raw = secret
            .data
            .as_ref()
            .and_then(|d| d.get("value"))
            .ok_or_else(|| format!("secret {namespace}/{name} has no value key"))?;
        let text = String::from_utf8_lossy(&raw.0);
        let kubeconfig = Kubeconfig::from_yaml(&text)
            .map_err(|e| format!("kubeconfig in {namespace}/{name}: {e}"))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("kubeconfig in {namespace}/{name}: {e}"))?;
        let client =
            Client::try_from(config).map_err(|e| format!("workload client for {key}: {e}"))?;
        if let Ok(mut cache) = self.clients.lock() {
            cache.insert(key, (version, client.clone()));
        }
        Ok(client)
    }

    /// Sets `spec.providerID` on the Node labelled with the server's UUID. `Err` is the
    /// `ProviderSet=False` message.
    pub async fn set_provider_id(
        &self,
        mgmt: &Client,
        namespace: &str,
        cluster: &str,
        server: &str,
        provider_id: &str,
    ) -> Result<(), String> {
        let client = self.client(mgmt, namespace, cluster).await?;
        let nodes: Api<Node> = Api::all(client);
        let list = nodes
            .list(&ListParams::default().labels(&format!("{NODE_UUID_LABEL}={server}")))
            .await
            .map_err(|e| format!("listing nodes: {e}"))?;
        let found: Vec<(String, Option<String>)> = list
            .items
            .iter()
            .map(|n| {
                (
                    n.name_any(),
                    n.spec.as_ref().and_then(|s| s.provider_id.clone()),
                )
            })
            .collect();
        match provider_id_action(&found, provider_id)? {
            NodeAction::Nothing => Ok(()),
            NodeAction::Patch(name) => nodes
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"providerID": provider_id}})),
                )
                .await
                .map(|_| tracing::info!(node = %name, %provider_id, "node providerID set"))
                .map_err(|e| format!("patching node {name}: {e}")),
        }
    }
}
