//! MetalCluster controller (spec §3.4).

use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::infra::v1alpha3::MetalCluster;
use sidero_caps::METAL_CLUSTER_FINALIZER;
use sidero_caps::metalcluster::{Action, decide};

use sidero_diagnostics::retry::{Retries, object_key, watch_backoff};

use super::{ReconcileError, requeue};

/// Runs the controller until the process is asked to stop.
pub async fn run(client: Client) {
    let retries = Retries::new();
    let tracked = retries.clone();
    Controller::new(
        Api::<MetalCluster>::all(client.clone()),
        watcher::Config::default(),
    )
    // Back within seconds of the API server's return (see sidero_diagnostics::retry).
    .trigger_backoff(watch_backoff())
    .shutdown_on_signal()
    .run(
        move |o, c| {
            let key = object_key(o.as_ref());
            tracked.track(key, crate::metrics::timed("metalcluster", reconcile(o, c)))
        },
        move |o, e, _| {
            let retry_in = retries.failed(&object_key(o.as_ref()));
            tracing::warn!(metalcluster = %o.name_any(), error = %e, ?retry_in, "metalcluster reconcile failed");
            Requeue::requeue(retry_in)
        },
        Arc::new(client),
    )
    .for_each(|_| async {})
    .await;
}

async fn reconcile(mc: Arc<MetalCluster>, client: Arc<Client>) -> Result<Requeue, ReconcileError> {
    let ns = mc.namespace().unwrap_or_default();
    let api: Api<MetalCluster> = Api::namespaced((*client).clone(), &ns);
    let owned = mc
        .owner_references()
        .iter()
        .any(|o| o.kind == "Cluster" && o.api_version.starts_with("cluster.x-k8s.io/"));
    let finalizers = mc.finalizers().to_vec();
    let has = finalizers.iter().any(|f| f == METAL_CLUSTER_FINALIZER);
    let ready = mc.status.as_ref().is_some_and(|s| s.ready);
    let name = mc.name_any();
    match decide(owned, mc.metadata.deletion_timestamp.is_some(), has, ready) {
        Action::WaitForOwner => return Ok(Requeue::requeue(requeue())),
        Action::Nothing => {}
        Action::AddFinalizer | Action::RemoveFinalizer => {
            let mut list: Vec<String> = finalizers
                .into_iter()
                .filter(|f| f != METAL_CLUSTER_FINALIZER)
                .collect();
            if !has {
                list.push(METAL_CLUSTER_FINALIZER.into());
            }
            let patch =
                json!({"metadata": {"finalizers": list, "resourceVersion": mc.resource_version()}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
        }
        Action::MarkReady => {
            let patch = json!({"status": {"ready": true, "initialization": {"provisioned": true}}});
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            tracing::info!(metalcluster = %name, namespace = %ns, "metalcluster ready");
        }
    }
    Ok(Requeue::await_change())
}
