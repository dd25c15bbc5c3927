//! ServerBinding controller (spec §3.6): `status.ready` follows whether the Server exists.

use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::Server;
use sidero_caps::binding::ready;

use sidero_diagnostics::retry::{Retries, object_key, watch_backoff};

use super::ReconcileError;

/// Runs the controller until the process is asked to stop.
pub async fn run(client: Client) {
    let retries = Retries::new();
    let tracked = retries.clone();
    Controller::new(
        Api::<ServerBinding>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<Server>::all(client.clone()),
        watcher::Config::default(),
        |s: Server| Some(ObjectRef::<ServerBinding>::new(&s.name_any())),
    )
    // Back within seconds of the API server's return (see sidero_diagnostics::retry).
    .trigger_backoff(watch_backoff())
    .shutdown_on_signal()
    .run(
        move |o, c| {
            let key = object_key(o.as_ref());
            tracked.track(key, crate::metrics::timed("serverbinding", reconcile(o, c)))
        },
        move |o, e, _| {
            let retry_in = retries.failed(&object_key(o.as_ref()));
            tracing::warn!(serverbinding = %o.name_any(), error = %e, ?retry_in, "serverbinding reconcile failed");
            Requeue::requeue(retry_in)
        },
        Arc::new(client),
    )
    .for_each(|_| async {})
    .await;
}

async fn reconcile(b: Arc<ServerBinding>, client: Arc<Client>) -> Result<Requeue, ReconcileError> {
    let name = b.name_any();
    let exists = Api::<Server>::all((*client).clone())
        .get_opt(&name)
        .await?
        .is_some();
    let want = ready(exists);
    if b.status.as_ref().map(|s| s.ready) != Some(want) {
        Api::<ServerBinding>::all((*client).clone())
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"ready": want}})),
            )
            .await?;
    }
    Ok(Requeue::await_change())
}
