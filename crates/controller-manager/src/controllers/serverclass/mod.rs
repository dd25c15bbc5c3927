//! ServerClass controller (spec §3.2): keeps `status.serversAvailable` / `serversInUse` equal
//! to the accepted, uncordoned Servers the class matches, and keeps class `any` empty.
//!
//! Driven by watches: a Server change re-evaluates only the classes whose membership of that
//! server changes ([`membership::Membership`]), and every evaluation reads Servers from an
//! in-memory reflector, never by listing the API.

mod membership;

use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use membership::Membership;
use serde_json::json;
use sidero_api::metal::v1alpha2::{Server, ServerClass, ServerClassSpec};
use sidero_diagnostics::retry::{Retries, object_key, watch_backoff};
use sidero_serverclass::status_for;

use super::ReconcileError;

/// Shared state of the controller.
pub struct Context {
    client: Client,
    servers: Store<Server>,
    /// Becomes true once the Server cache holds a full list. `Store::wait_until_ready` cannot
    /// be awaited by concurrent reconciles (its one-shot channel wakes only one waiter), so a
    /// single task awaits it and publishes the result here.
    servers_ready: tokio::sync::watch::Receiver<bool>,
    recorder: Recorder,
    /// Failed reconciles per class, for the error policy's backoff.
    retries: Retries,
}

/// Creates class `any` (empty spec) unless it exists.
pub async fn ensure_any(client: &Client) -> Result<(), kube::Error> {
    let api: Api<ServerClass> = Api::all(client.clone());
    let any = ServerClass::new(ServerClass::ANY, ServerClassSpec::default());
    match api.create(&PostParams::default(), &any).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs the controller until the process is asked to stop.
pub async fn run(client: Client) {
    let servers_api: Api<Server> = Api::all(client.clone());
    let (servers, writer) = reflector::store::<Server>();
    let server_events = watcher(servers_api, watcher::Config::default())
        .backoff(watch_backoff())
        .reflect(writer);
    let controller = Controller::new(
        Api::<ServerClass>::all(client.clone()),
        watcher::Config::default(),
    );
    let classes = controller.store();
    let triggers = class_triggers(server_events, classes);
    let (ready_tx, servers_ready) = tokio::sync::watch::channel(false);
    let store = servers.clone();
    tokio::spawn(async move {
        if store.wait_until_ready().await.is_ok() {
            let _ = ready_tx.send(true);
        }
    });
    let ctx = Arc::new(Context {
        client: client.clone(),
        servers,
        servers_ready,
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "sidero-controller-manager".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        retries: Retries::new(),
    });
    controller
        .reconcile_on(triggers)
        // Back within seconds of the API server's return (see sidero_diagnostics::retry).
        .trigger_backoff(watch_backoff())
        .shutdown_on_signal()
        .run(
            |c, ctx| {
                let key = object_key(c.as_ref());
                ctx.retries.track(
                    key,
                    crate::metrics::timed("serverclass", reconcile(c, ctx.clone())),
                )
            },
            error_policy,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "serverclass reconcile");
            }
        })
        .await;
}

/// Turns Server watch events (already applied to the reflector) into reconcile requests for
/// the classes whose membership they can change.
fn class_triggers(
    events: impl futures::Stream<Item = Result<watcher::Event<Server>, watcher::Error>> + Send + 'static,
    classes: Store<ServerClass>,
) -> impl futures::Stream<Item = ObjectRef<ServerClass>> + Send + 'static {
    let mut membership = Membership::default();
    events
        .map(move |event| match event {
            Ok(event) => {
                let all = classes.state();
                let specs = all
                    .iter()
                    .map(|c| (c.metadata.name.as_deref().unwrap_or_default(), &c.spec));
                let affected = membership.observe(&event, specs);
                if !affected.is_empty() {
                    tracing::debug!(?affected, "servers changed");
                }
                affected.iter().map(|n| ObjectRef::new(n)).collect()
            }
            Err(e) => {
                // The watcher re-lists on its own; the re-list is compared when it ends.
                tracing::debug!(error = %e, "server watch");
                Vec::new()
            }
        })
        .flat_map(futures::stream::iter)
}

fn error_policy(class: Arc<ServerClass>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let retry_in = ctx.retries.failed(&object_key(class.as_ref()));
    tracing::warn!(serverclass = %class.name_any(), error = %err, ?retry_in, "serverclass reconcile failed");
    Action::requeue(retry_in)
}

async fn reconcile(class: Arc<ServerClass>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = class.name_any();
    tracing::debug!(class = %name, "reconciling");
    let api: Api<ServerClass> = Api::all(ctx.client.clone());
    if name == ServerClass::ANY && !class.spec.qualifiers.is_empty() {
        // Class `any` matches every accepted server: its qualifiers are always reset.
        let patch = json!({"spec": {"qualifiers": {"hardware": null, "labelSelectors": null}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
    }
    // Wait for the first full list of Servers, or an empty store would empty every class.
    ctx.servers_ready
        .clone()
        .wait_for(|ready| *ready)
        .await
        .map_err(|_| {
            ReconcileError::Invalid("server cache stopped before its first list".into())
        })?;
    let servers = ctx.servers.state();
    tracing::debug!(class = %name, servers = servers.len(), "server cache ready");
    let status = match status_for(&name, &class.spec, servers.iter().map(AsRef::as_ref)) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("invalid selector: {e}");
            publish(&ctx, &class, "InvalidSelector", &msg).await;
            return Err(ReconcileError::Invalid(msg));
        }
    };
    if class.status.as_ref() != Some(&status) {
        let patch = json!({"status": {
            "serversAvailable": status.servers_available,
            "serversInUse": status.servers_in_use,
        }});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        tracing::info!(class = %name, available = status.servers_available.len(), in_use = status.servers_in_use.len(), "serverclass status updated");
    }
    Ok(Action::await_change())
}

async fn publish(ctx: &Context, class: &ServerClass, reason: &str, note: &str) {
    let ev = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &class.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing an event failed");
    }
}
