//! Carries out one decision.

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use sidero_api::condition::{self, Condition, Severity};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::Server;
use sidero_caps::metalmachine::{Action, METAL_MACHINE_UID_LABEL, SERVER_ALLOCATED};
use sidero_caps::{METAL_MACHINE_FINALIZER, binding};

use super::Context;
use super::fetch::Facts;
use crate::controllers::{ReconcileError, is_status, requeue};

/// What the reconcile does after an action.
pub enum Next {
    /// State changed: gather and decide again.
    Again,
    /// Finished for now.
    Done(Requeue),
}

/// Carries out `action` for `mm`.
pub async fn apply(
    ctx: &Context,
    mm: &MetalMachine,
    facts: &Facts,
    action: Action,
) -> Result<Next, ReconcileError> {
    let api: Api<MetalMachine> =
        Api::namespaced(ctx.client.clone(), &mm.namespace().unwrap_or_default());
    let name = mm.name_any();
    match action {
        Action::Nothing => Ok(Next::Done(Requeue::await_change())),
        Action::Wait { reason, message } => {
            set_condition(
                &api,
                mm,
                Condition::false_condition(SERVER_ALLOCATED, reason, Severity::Info, message),
            )
            .await?;
            Ok(Next::Done(Requeue::requeue(requeue())))
        }
        Action::Refuse { reason, message } => {
            set_condition(
                &api,
                mm,
                Condition::false_condition(SERVER_ALLOCATED, reason, Severity::Warning, message),
            )
            .await?;
            Ok(Next::Done(Requeue::requeue(requeue())))
        }
        Action::AddFinalizer => {
            let mut list = mm.finalizers().to_vec();
            list.push(METAL_MACHINE_FINALIZER.into());
            patch_meta(&api, mm, json!({"finalizers": list})).await?;
            Ok(Next::Again)
        }
        Action::DeleteBinding(server) => {
            match Api::<ServerBinding>::all(ctx.client.clone())
                .delete(&server, &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    tracing::info!(metalmachine = %name, %server, "server released");
                    crate::metrics::release();
                }
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Next::Again)
        }
        Action::FinishRelease => {
            let list: Vec<String> = mm
                .finalizers()
                .iter()
                .filter(|f| *f != METAL_MACHINE_FINALIZER)
                .cloned()
                .collect();
            let patch = json!({"metadata": {"finalizers": list, "resourceVersion": mm.resource_version()},
                               "spec": {"serverRef": null}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            Ok(Next::Done(Requeue::await_change()))
        }
        Action::Adopt(server) => {
            tracing::info!(metalmachine = %name, %server, "reconciled missing server ref");
            set_server_ref(&api, mm, &server).await?;
            Ok(Next::Again)
        }
        Action::Allocate { class, candidates } => {
            for server in &candidates {
                if create_binding(ctx, mm, server, facts.class_obj.as_ref()).await? {
                    let note = format!(
                        "Server is allocated via serverclass {class:?} for metal machine {name:?}."
                    );
                    if !set_server_ref(&api, mm, server).await? {
                        // Another reconcile changed the machine first (it may have bound a
                        // server too): give this one back and decide again.
                        release_unreferenced(ctx, &name, server).await?;
                        return Ok(Next::Again);
                    }
                    server_event(ctx, server, "Server Allocation", &note).await;
                    return Ok(Next::Again);
                }
            }
            let msg =
                format!("every free server of serverclass {class} was taken by another machine");
            set_condition(
                &api,
                mm,
                Condition::false_condition(
                    SERVER_ALLOCATED,
                    "NoServerAvailable",
                    Severity::Warning,
                    msg,
                ),
            )
            .await?;
            Ok(Next::Done(Requeue::requeue(requeue())))
        }
        Action::Bind(server) => {
            if create_binding(ctx, mm, &server, None).await? {
                let note = format!("Server as assigned via serverRef for metal machine {name:?}.");
                server_event(ctx, &server, "Server Assignment", &note).await;
            }
            Ok(Next::Again)
        }
        Action::Sync {
            server,
            provider_id,
        } => sync(ctx, &api, mm, facts, &server, &provider_id).await,
    }
}

/// Creates the binding (the allocation lock: one name per server). `false` when the server
/// was taken first by someone else.
async fn create_binding(
    ctx: &Context,
    mm: &MetalMachine,
    server: &str,
    class: Option<&sidero_api::metal::v1alpha2::ServerClass>,
) -> Result<bool, ReconcileError> {
    let mut labels = mm.labels().clone();
    if let Some(uid) = mm.uid() {
        labels.insert(METAL_MACHINE_UID_LABEL.into(), uid);
    }
    let class_ref = class.map(|c| {
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass", "name": c.name_any(),
               "uid": c.uid(), "resourceVersion": c.resource_version()})
    });
    let b: ServerBinding = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": server, "labels": labels},
        "spec": {
            "metalMachineRef": {"kind": "MetalMachine", "uid": mm.uid(), "namespace": mm.namespace(), "name": mm.name_any()},
            "serverClassRef": class_ref,
            "siderolink": {"address": "", "publicKey": ""}
        }
    }))
    .map_err(|e| ReconcileError::NotReady(format!("building a binding: {e}")))?;
    match Api::<ServerBinding>::all(ctx.client.clone())
        .create(&PostParams::default(), &b)
        .await
    {
        Ok(_) => {
            tracing::info!(metalmachine = %mm.name_any(), %server, "server bound");
            crate::metrics::allocation("bound");
            Ok(true)
        }
        Err(e) if is_status(&e, 409) => {
            crate::metrics::allocation("lost_race");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

async fn sync(
    ctx: &Context,
    api: &Api<MetalMachine>,
    mm: &MetalMachine,
    facts: &Facts,
    server: &str,
    provider_id: &str,
) -> Result<Next, ReconcileError> {
    let name = mm.name_any();
    if mm.spec.provider_id.as_deref() != Some(provider_id) {
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"providerID": provider_id}})),
        )
        .await?;
    }
    let mut conditions = mm
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    condition::mark_true(&mut conditions, SERVER_ALLOCATED);
    let Some(b) = &facts.ref_binding else {
        return Ok(Next::Again);
    };
    binding::copy_conditions(b, &mut conditions);
    let provider = match &facts.cluster_name {
        Some(cluster) => {
            ctx.workloads
                .set_provider_id(
                    &ctx.client,
                    &mm.namespace().unwrap_or_default(),
                    cluster,
                    server,
                    provider_id,
                )
                .await
        }
        None => Err("no cluster label".into()),
    };
    match &provider {
        Ok(()) => condition::mark_true(&mut conditions, "ProviderSet"),
        Err(msg) => condition::mark_false(
            &mut conditions,
            "ProviderSet",
            "ProviderUpdateFailed",
            Severity::Warning,
            msg,
        ),
    }
    let status = json!({"status": {
        "ready": true,
        "initialization": {"provisioned": true},
        "addresses": binding::addresses(b),
        "conditions": conditions,
    }});
    if status_differs(mm, &status) {
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
    }
    Ok(Next::Done(match provider {
        Ok(()) => Requeue::await_change(),
        Err(_) => Requeue::requeue(requeue()),
    }))
}

fn status_differs(mm: &MetalMachine, want: &Value) -> bool {
    let have = serde_json::to_value(&mm.status).unwrap_or_default();
    want["status"]
        .as_object()
        .is_none_or(|w| w.iter().any(|(k, v)| have.get(k) != Some(v)))
}

async fn set_condition(
    api: &Api<MetalMachine>,
    mm: &MetalMachine,
    c: Condition,
) -> Result<(), ReconcileError> {
    let mut conditions = mm
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let before = conditions.clone();
    condition::set(&mut conditions, c);
    if conditions != before {
        let patch = json!({"status": {"conditions": conditions}});
        api.patch_status(
            &mm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    }
    Ok(())
}

async fn patch_meta(
    api: &Api<MetalMachine>,
    mm: &MetalMachine,
    meta: Value,
) -> Result<(), ReconcileError> {
    let mut meta = meta;
    meta["resourceVersion"] = json!(mm.resource_version());
    api.patch(
        &mm.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": meta})),
    )
    .await?;
    Ok(())
}

/// Writes `spec.serverRef` if the machine is still the version this round read; `false` when
/// it changed meanwhile.
async fn set_server_ref(
    api: &Api<MetalMachine>,
    mm: &MetalMachine,
    server: &str,
) -> Result<bool, ReconcileError> {
    // The write is conditioned on the version decided from, so a concurrent reconcile that
    // recorded another server wins. A conflict from an unrelated change (CAPI labels the
    // machine, a status write) must not cost the binding: giving it back would leave the
    // server dirty although it never booted. So re-read and retry while no server is recorded.
    let mut version = mm.resource_version();
    for _ in 0..5 {
        let patch = json!({"metadata": {"resourceVersion": version},
                           "spec": {"serverRef": {"kind": "Server", "name": server}}});
        match api
            .patch(
                &mm.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = api.get_opt(&mm.name_any()).await? else {
            return Ok(false);
        };
        match current
            .spec
            .server_ref
            .as_ref()
            .and_then(|r| r.name.as_deref())
            .filter(|n| !n.is_empty())
        {
            Some(recorded) => return Ok(recorded == server),
            None => version = current.resource_version(),
        }
    }
    Ok(false)
}

/// Deletes a binding this round created but could not record in the machine.
async fn release_unreferenced(
    ctx: &Context,
    machine: &str,
    server: &str,
) -> Result<(), ReconcileError> {
    tracing::info!(metalmachine = %machine, %server, "machine changed while binding; releasing the new binding");
    match Api::<ServerBinding>::all(ctx.client.clone())
        .delete(server, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn server_event(ctx: &Context, server: &str, reason: &str, note: &str) {
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(Server::api_version(&()).into()),
        kind: Some(Server::kind(&()).into()),
        name: Some(server.into()),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Allocate".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, "publishing an event failed");
    }
}
