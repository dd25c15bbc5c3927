//! Server controller (spec §3.1): observes a Server, its ServerBinding and its power state,
//! asks [`sidero_server::decide`] what to do, and carries the decision out — power actions
//! through `sidero-power`, Events, and one status patch. Driven by Server and ServerBinding
//! watches plus the decision's own requeues (the wipe loop and the 5-minute power re-check).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{SERVER_FINALIZER, Server};
use sidero_diagnostics::retry::{Retries, object_key, watch_backoff};
use sidero_power::{NotManagedReason, PowerManager, SelectOptions};
use sidero_server::{
    Binding, Config, Decision, Event, EventType, FinalizerChange, Observed, PowerAction, Requeue,
    decide,
};

use super::ReconcileError;

/// Shared state of the controller.
pub struct Context {
    client: Client,
    config: Config,
    select: SelectOptions,
    recorder: Recorder,
    /// Failed reconciles per Server, for the error policy's backoff.
    retries: Retries,
}

/// Runs the controller until the process is asked to stop.
pub async fn run(client: Client, config: Config, select: SelectOptions) {
    let ctx = Arc::new(Context {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "sidero-controller-manager".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        client: client.clone(),
        config,
        select,
        retries: Retries::new(),
    });
    Controller::new(
        Api::<Server>::all(client.clone()),
        watcher::Config::default(),
    )
    // A binding names its Server: allocation and TalosInstalled changes re-evaluate it.
    .watches(
        Api::<ServerBinding>::all(client),
        watcher::Config::default(),
        |b: ServerBinding| Some(ObjectRef::<Server>::new(&b.name_any())),
    )
    // Re-open failed watches within seconds of the API server's return (their re-list
    // reconciles every Server), not after kube-runtime's default of up to 30 s.
    .trigger_backoff(watch_backoff())
    .shutdown_on_signal()
    .run(
        |s, ctx| {
            let key = object_key(s.as_ref());
            ctx.retries.track(
                key,
                crate::metrics::timed("server", reconcile(s, ctx.clone())),
            )
        },
        error_policy,
        ctx,
    )
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "server reconcile");
        }
    })
    .await;
}

fn error_policy(server: Arc<Server>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let retry_in = ctx.retries.failed(&object_key(server.as_ref()));
    tracing::warn!(server = %server.name_any(), error = %err, ?retry_in, "server reconcile failed");
    Action::requeue(retry_in)
}

/// Builds the power client (§9.1); `Err` is the readable reason it could not be built.
async fn power_client(
    ctx: &Context,
    server: &Server,
) -> Result<(Box<dyn PowerManager>, Option<NotManagedReason>), String> {
    sidero_server_power::server_power(&ctx.client, server, &ctx.select)
        .await
        .map(|p| (p.manager, p.not_managed))
        .map_err(|e| e.to_string())
}

async fn observe(
    ctx: &Context,
    server: Server,
) -> Result<(Observed, Option<Box<dyn PowerManager>>), ReconcileError> {
    let name = server.name_any();
    let binding = match Api::<ServerBinding>::all(ctx.client.clone())
        .get_opt(&name)
        .await?
    {
        None => Binding::Absent,
        Some(b) => Binding::Present {
            talos_installed: b.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "TalosInstalled" && c.status == "True")
            }),
        },
    };
    let (pm, not_managed, management_client_error) = match power_client(ctx, &server).await {
        Ok((pm, reason)) => (Some(pm), reason, None),
        Err(e) => (None, None, Some(e)),
    };
    let power = match &pm {
        Some(pm) => {
            let res = pm.power_status().await.map_err(|e| e.to_string());
            count_power(&server, "status", res.is_ok());
            res
        }
        None => Err("no power client".to_string()),
    };
    let being_deleted = server.metadata.deletion_timestamp.is_some();
    let observed = Observed {
        server,
        binding,
        management_client_error,
        power,
        not_managed,
        being_deleted,
    };
    Ok((observed, pm))
}

/// The Event's `action`: the message up to its first `:` or `.` ("Server powered off",
/// "Failed to power on"). kube's Recorder folds events with the same type, reason, action and
/// object into one series that keeps the first note, so a fixed action would hide every
/// later message ("Server powered off." after "Server powered on…", found by the QEMU BMC
/// test); upstream's recorder also tells messages apart.
fn event_action(message: &str) -> String {
    let head = message.split([':', '.']).next().unwrap_or_default().trim();
    let head = if head.is_empty() { "Reconcile" } else { head };
    head.chars().take(128).collect()
}

async fn publish(ctx: &Context, server: &Server, ev: &Event) {
    let kev = KubeEvent {
        type_: match ev.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: ev.reason.to_string(),
        note: Some(ev.message.clone()),
        action: event_action(&ev.message),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&kev, &server.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing an event failed");
    }
}

/// Counts a power operation (and its failure) against the server's BMC.
fn count_power(server: &Server, operation: &'static str, ok: bool) {
    if let Some(m) = crate::metrics::get() {
        let labels = crate::metrics::PowerLabels {
            bmc: crate::metrics::bmc_label(server),
            operation,
        };
        m.power_operations.get_or_create(&labels).inc();
        if !ok {
            m.power_failures.get_or_create(&labels).inc();
        }
    }
}

async fn act(server: &Server, pm: &dyn PowerManager, action: PowerAction) -> Result<(), String> {
    let (operation, res) = match action {
        PowerAction::SetPxe(mode) => ("pxe", pm.set_pxe_once(mode).await),
        PowerAction::PowerOn => ("on", pm.power_on().await),
        PowerAction::PowerOff => ("off", pm.power_off().await),
        PowerAction::PowerCycle => ("cycle", pm.power_cycle().await),
    };
    count_power(server, operation, res.is_ok());
    res.map(|outcome| tracing::debug!(?action, ?outcome, "power action"))
        .map_err(|e| e.to_string())
}

fn to_action(r: Requeue) -> Action {
    match r {
        Requeue::None => Action::await_change(),
        Requeue::After(d) => Action::requeue(d),
    }
}

async fn patch_server(
    ctx: &Context,
    server: &Server,
    decision: &Decision,
    status: &sidero_api::metal::v1alpha2::ServerStatus,
    mut resource_version: Option<String>,
) -> Result<(), ReconcileError> {
    let api: Api<Server> = Api::all(ctx.client.clone());
    let name = server.name_any();
    // Only the fields that change: writing `finalizers` from the object read at the start
    // would undo a finalizer added earlier in this same reconcile.
    let mut meta = serde_json::Map::new();
    if decision.finalizer == FinalizerChange::Remove {
        let mut finalizers: Vec<String> = server.finalizers().to_vec();
        finalizers.retain(|f| f != SERVER_FINALIZER);
        meta.insert("finalizers".into(), json!(finalizers));
    }
    if decision.clear_owner_references && !server.owner_references().is_empty() {
        meta.insert("ownerReferences".into(), serde_json::Value::Null);
    }
    if !meta.is_empty() {
        // Conditioned like the status below: the version this write produces must contain
        // nothing this reconcile did not decide from, or the status patch that follows would
        // be conditioned on a version it never saw.
        meta.insert("resourceVersion".into(), json!(resource_version));
        match api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": meta})),
            )
            .await
        {
            Ok(patched) => resource_version = patched.resource_version(),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(server = %name, "server changed while reconciling; deciding again");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if server.status.as_ref() != Some(status) {
        // Conditioned on the version this reconcile decided from: the Agent API writes the
        // status too (a server registered and wiped while we decided from its first, status-
        // less version must not be marked dirty again). A conflict means the object changed,
        // and its watch event reconciles it again.
        let patch = json!({"metadata": {"resourceVersion": resource_version},
                           "status": status_delta(server.status.as_ref(), status)});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(server = %name, "server changed while reconciling; deciding again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The status fields that differ from what this reconcile read (removed ones as `null`).
/// Writing only those keeps a concurrent write of another field — the Agent API marking the
/// server wiped while this reconcile still saw it unaccepted — from being undone.
fn status_delta(
    before: Option<&sidero_api::metal::v1alpha2::ServerStatus>,
    after: &sidero_api::metal::v1alpha2::ServerStatus,
) -> serde_json::Value {
    let to_map = |v: serde_json::Value| match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let old = to_map(
        before
            .map(serde_json::to_value)
            .and_then(Result::ok)
            .unwrap_or_default(),
    );
    let new = to_map(serde_json::to_value(after).unwrap_or_default());
    let mut delta = serde_json::Map::new();
    for (k, v) in &new {
        if old.get(k) != Some(v) {
            delta.insert(k.clone(), v.clone());
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            delta.insert(k.clone(), serde_json::Value::Null);
        }
    }
    serde_json::Value::Object(delta)
}

async fn reconcile(server: Arc<Server>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = server.name_any();
    // Non-cached read, as upstream: power decisions must not act on a stale object.
    let Some(server) = Api::<Server>::all(ctx.client.clone())
        .get_opt(&name)
        .await?
    else {
        return Ok(Action::await_change());
    };
    let (observed, pm) = observe(&ctx, server.clone()).await?;
    let decision = decide(&observed, &ctx.config, jiff::Timestamp::now());
    for ev in &decision.events {
        publish(&ctx, &server, ev).await;
    }
    if !decision.patch {
        return Err(ReconcileError::Invalid(
            observed
                .management_client_error
                .unwrap_or_else(|| "management client".into()),
        ));
    }
    let mut resource_version = server.resource_version();
    if decision.finalizer == FinalizerChange::Add {
        let mut finalizers = server.finalizers().to_vec();
        finalizers.push(SERVER_FINALIZER.to_string());
        // Conditioned on the version decided from. Unconditioned, this write would succeed
        // over a concurrent MarkServerAsWiped, and the status patch below, conditioned on the
        // version it returns, would then mark the freshly wiped server dirty again with the
        // `isClean: false` decided from the version before the wipe.
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": resource_version,
        }});
        match Api::<Server>::all(ctx.client.clone())
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(patched) => resource_version = patched.resource_version(),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                // Its watch event reconciles it again; the requeue is a safety net.
                tracing::debug!(server = %name, "server changed while reconciling; deciding again");
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(pm) = pm.as_deref() {
        for &action in &decision.actions {
            if let Err(e) = act(&server, pm, action).await {
                let failure = decision.failure(action, &e);
                publish(&ctx, &server, &failure.event).await;
                patch_server(&ctx, &server, &decision, &failure.status, resource_version).await?;
                return Ok(to_action(failure.requeue));
            }
        }
    }
    for ev in &decision.success_events {
        publish(&ctx, &server, ev).await;
    }
    patch_server(
        &ctx,
        &server,
        &decision,
        &decision.status_after_success(),
        resource_version,
    )
    .await?;
    Ok(to_action(decision.requeue))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{event_action, status_delta};
    use serde_json::json;
    use sidero_api::metal::v1alpha2::ServerStatus;

    fn status(v: serde_json::Value) -> ServerStatus {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_changed_fields_are_written() {
        let before =
            status(json!({"ready": false, "inUse": false, "isClean": false, "power": "on"}));
        let after =
            status(json!({"ready": false, "inUse": false, "isClean": false, "power": "off"}));
        // isClean is not written: a concurrent MarkServerAsWiped survives.
        assert_eq!(status_delta(Some(&before), &after), json!({"power": "off"}));
        let after = status(json!({"ready": true, "inUse": true, "isClean": false}));
        assert_eq!(
            status_delta(Some(&before), &after),
            json!({"ready": true, "inUse": true, "power": null})
        );
        assert_eq!(
            status_delta(None, &after),
            json!({"ready": true, "inUse": true, "isClean": false})
        );
    }

    #[test]
    fn event_actions_tell_messages_apart() {
        for (message, action) in [
            ("Server powered off.", "Server powered off"),
            (
                "Server powered on and set PXE boot once into the environment.",
                "Server powered on and set PXE boot once into the environment",
            ),
            (
                "Failed to power on: BMC 10.0.0.9:623: timeout.",
                "Failed to power on",
            ),
            ("", "Reconcile"),
        ] {
            assert_eq!(event_action(message), action);
        }
        assert_eq!(event_action(&"x".repeat(300)).len(), 128);
    }
}
