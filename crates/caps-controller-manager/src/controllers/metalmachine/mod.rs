//! MetalMachine controller (spec §3.5): allocation, release and status, decided by
//! [`sidero_caps::metalmachine::decide`] over a fresh snapshot each round.
//!
//! Watches: MetalMachines; ServerBindings (→ the machine they name); CAPI Machines (→ their
//! `infrastructureRef`); CAPI Clusters (→ their machines); ServerClasses and Servers (→ the
//! machines still waiting for a server). Servers and bindings are also cached to pick
//! candidates without listing the API for every machine.

mod act;
mod fetch;

use std::sync::Arc;

use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::{Server, ServerClass};
use sidero_caps::CLUSTER_NAME_LABEL;
use sidero_caps::allocation::check_free;
use sidero_diagnostics::retry::{Retries, object_key, watch_backoff};
use tokio::sync::watch;

use super::{ReconcileError, recorder};
use crate::capi::{CapiResources, infrastructure_ref};
use crate::workload::Workloads;

/// Shared state of the controller.
pub struct Context {
    client: Client,
    capi: CapiResources,
    servers: Store<Server>,
    bindings: Store<ServerBinding>,
    /// True once both caches hold a full list (see the ServerClass controller of the manager
    /// for why this is a watch channel and not `Store::wait_until_ready`).
    caches_ready: watch::Receiver<bool>,
    recorder: Recorder,
    workloads: Workloads,
    /// Failed reconciles per MetalMachine, for the error policy's backoff.
    retries: Retries,
}

/// How many decide/act rounds one reconcile may take (each state change is one round).
const MAX_ROUNDS: usize = 8;

/// What wakes a MetalMachine reconcile besides changes of the machine itself and its bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Triggers {
    /// Watches on everything a waiting machine depends on: CAPI Machines and Clusters,
    /// ServerClasses, Servers that become free, kubeconfig Secrets. What the manager runs.
    Dependencies,
    /// Upstream's trigger model (spec §3.5): MetalMachines and ServerBindings only, every wait
    /// re-checked by the 20 s requeue. Kept as the baseline the allocation benchmark measures
    /// against in the same run, since upstream's binary cannot be built here.
    PollingBaseline,
}

/// Runs the controller until the process is asked to stop.
pub async fn run(client: Client, capi: CapiResources) {
    run_with(client, capi, Triggers::Dependencies).await;
}

/// Runs the controller with the given trigger model until the process is asked to stop.
pub async fn run_with(client: Client, capi: CapiResources, triggers: Triggers) {
    let (servers, server_writer) = reflector::store::<Server>();
    let (bindings, binding_writer) = reflector::store::<ServerBinding>();
    let server_events = watcher(
        Api::<Server>::all(client.clone()),
        watcher::Config::default(),
    )
    .backoff(watch_backoff())
    .reflect(server_writer)
    .applied_objects();
    let binding_events = watcher(
        Api::<ServerBinding>::all(client.clone()),
        watcher::Config::default(),
    )
    .backoff(watch_backoff())
    .reflect(binding_writer)
    .touched_objects();
    let (ready_tx, caches_ready) = watch::channel(false);
    let (s, b) = (servers.clone(), bindings.clone());
    tokio::spawn(async move {
        if s.wait_until_ready().await.is_ok() && b.wait_until_ready().await.is_ok() {
            let _ = ready_tx.send(true);
        }
    });
    let controller = Controller::new(
        Api::<MetalMachine>::all(client.clone()),
        watcher::Config::default(),
    );
    let machines = controller.store();
    let ctx = Arc::new(Context {
        recorder: recorder(&client),
        client: client.clone(),
        capi: capi.clone(),
        servers,
        bindings,
        caches_ready,
        workloads: Workloads::default(),
        retries: Retries::new(),
    });
    let waiting = machines.clone();
    let by_cluster = machines.clone();
    let by_class = machines.clone();
    let by_secret = machines.clone();
    let controller = controller.watches_stream(binding_events, |b: ServerBinding| {
        let r = &b.spec.metal_machine_ref;
        Some(ObjectRef::<MetalMachine>::new(r.name.as_deref()?).within(r.namespace.as_deref()?))
    });
    let controller = match triggers {
        Triggers::Dependencies => controller
            .watches_with(
                Api::<DynamicObject>::all_with(client.clone(), &capi.machine),
                capi.machine.clone(),
                watcher::Config::default(),
                |m: DynamicObject| {
                    let (kind, name) = infrastructure_ref(&m)?;
                    let ns = m.namespace()?;
                    (kind == "MetalMachine").then(|| ObjectRef::new(&name).within(&ns))
                },
            )
            .watches_with(
                Api::<DynamicObject>::all_with(client.clone(), &capi.cluster),
                capi.cluster.clone(),
                watcher::Config::default(),
                move |c: DynamicObject| {
                    let (name, ns) = (c.name_any(), c.namespace().unwrap_or_default());
                    by_cluster
                        .state()
                        .iter()
                        .filter(|m| {
                            m.namespace().as_deref() == Some(ns.as_str())
                                && m.labels().get(CLUSTER_NAME_LABEL) == Some(&name)
                        })
                        .map(|m| ObjectRef::from_obj(m.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            .watches(
                Api::<ServerClass>::all(client.clone()),
                watcher::Config::default(),
                move |c: ServerClass| {
                    let class = c.name_any();
                    waiting_machines(&by_class, |m| {
                        m.spec
                            .server_class_ref
                            .as_ref()
                            .and_then(|r| r.name.as_deref())
                            == Some(class.as_str())
                    })
                },
            )
            // CAPI's `<cluster>-kubeconfig` Secret (labelled with the cluster name) lets the
            // workload Node get its providerID.
            .watches(
                Api::<k8s_openapi::api::core::v1::Secret>::all(client.clone()),
                watcher::Config::default().labels(CLUSTER_NAME_LABEL),
                move |s: k8s_openapi::api::core::v1::Secret| {
                    let cluster = s
                        .labels()
                        .get(CLUSTER_NAME_LABEL)
                        .cloned()
                        .unwrap_or_default();
                    let ns = s.namespace().unwrap_or_default();
                    if s.name_any() != format!("{cluster}-kubeconfig") {
                        return Vec::new();
                    }
                    by_secret
                        .state()
                        .iter()
                        .filter(|m| {
                            m.namespace().as_deref() == Some(ns.as_str())
                                && m.labels().get(CLUSTER_NAME_LABEL) == Some(&cluster)
                        })
                        .map(|m| ObjectRef::from_obj(m.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            // A server that becomes free wakes the machines still waiting (any class, since class
            // status does not change when a server is wiped), and machines that name it.
            .watches_stream(server_events, move |s: Server| {
                let name = s.name_any();
                let free = check_free(Some(&s)).is_ok();
                waiting_machines(&waiting, |m| {
                    let named = m.spec.server_ref.as_ref().and_then(|r| r.name.as_deref())
                        == Some(name.as_str());
                    named || (free && m.spec.server_ref.is_none())
                })
            }),
        // The server cache still feeds candidate selection; its events wake nobody.
        Triggers::PollingBaseline => {
            controller.watches_stream(server_events, |_: Server| None::<ObjectRef<MetalMachine>>)
        }
    };
    controller
        // Re-open failed watches within seconds of the API server's return (their re-list
        // wakes every machine), not after kube-runtime's default of up to 30 s.
        .trigger_backoff(watch_backoff())
        .shutdown_on_signal()
        .run(
            |o, c| {
                let key = object_key(o.as_ref());
                c.retries.track(
                    key,
                    crate::metrics::timed("metalmachine", reconcile(o, c.clone())),
                )
            },
            error_policy,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "metalmachine reconcile");
            }
        })
        .await;
}

fn waiting_machines(
    store: &Store<MetalMachine>,
    wants: impl Fn(&MetalMachine) -> bool,
) -> Vec<ObjectRef<MetalMachine>> {
    store
        .state()
        .iter()
        .filter(|m| {
            m.metadata.deletion_timestamp.is_none()
                && !m.status.as_ref().is_some_and(|s| s.ready)
                && wants(m)
        })
        .map(|m| ObjectRef::from_obj(m.as_ref()))
        .collect()
}

fn error_policy(mm: Arc<MetalMachine>, err: &ReconcileError, ctx: Arc<Context>) -> Requeue {
    let retry_in = ctx.retries.failed(&object_key(mm.as_ref()));
    tracing::warn!(metalmachine = %mm.name_any(), error = %err, ?retry_in, "metalmachine reconcile failed");
    Requeue::requeue(retry_in)
}

async fn reconcile(mm: Arc<MetalMachine>, ctx: Arc<Context>) -> Result<Requeue, ReconcileError> {
    ctx.caches_ready
        .clone()
        .wait_for(|r| *r)
        .await
        .map_err(|_| {
            ReconcileError::NotReady(
                "server and binding caches stopped before their first list".into(),
            )
        })?;
    let ns = mm.namespace().unwrap_or_default();
    let name = mm.name_any();
    for _ in 0..MAX_ROUNDS {
        // Re-read the machine itself: the previous round may have changed it.
        let Some(current) = Api::<MetalMachine>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&name)
            .await?
        else {
            return Ok(Requeue::await_change());
        };
        let facts = fetch::Facts::gather(&ctx, &current).await?;
        let action = sidero_caps::metalmachine::decide(&facts.snapshot(&current));
        tracing::debug!(metalmachine = %name, namespace = %ns, ?action, "decided");
        match act::apply(&ctx, &current, &facts, action).await? {
            act::Next::Again => continue,
            act::Next::Done(requeue) => return Ok(requeue),
        }
    }
    Ok(Requeue::requeue(std::time::Duration::from_secs(1)))
}
