//! MetalMachine (spec §3.5): the gates, allocation from a class or an explicit `serverRef`,
//! release on deletion, and what the machine shows of its binding.
//!
//! Differences from upstream, on purpose: an explicit `serverRef` to a server that is not
//! accepted, cordoned, not clean or bound to another machine is refused with a condition
//! (upstream binds it anyway); deletion does not wait for the Machine/Cluster gates (upstream
//! keeps the finalizer forever once the Machine is gone); release never deletes a binding
//! that belongs to another machine.

use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::Server;

use crate::allocation::{Refusal, check_free, owner_of};
use crate::{METAL_MACHINE_FINALIZER, PROVIDER_ID_PREFIX};

/// Condition on the MetalMachine telling whether (and why not) it has a server.
pub const SERVER_ALLOCATED: &str = "ServerAllocated";
/// Label put on bindings we create: the MetalMachine's uid, so a consistent list by label
/// finds a machine's binding even when the cache has not seen it yet.
pub const METAL_MACHINE_UID_LABEL: &str = "caps.sidero.dev/metal-machine-uid";

/// What the reconcile needs to know about the owner CAPI Machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineView {
    /// Its name.
    pub name: String,
    /// `spec.bootstrap.dataSecretName`.
    pub data_secret_name: Option<String>,
}

/// The class lookup for `spec.serverClassRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassLookup {
    /// No `serverClassRef`.
    NoRef,
    /// The referenced class does not exist (its name).
    NotFound(String),
    /// The class exists; its free servers, in its `serversAvailable` order.
    Found {
        /// Class name.
        name: String,
        /// Candidate servers.
        candidates: Vec<String>,
    },
}

/// Everything one decision needs, fetched by the executor.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// The MetalMachine.
    pub metal_machine: &'a MetalMachine,
    /// The owner Machine (`None`: no owner reference yet, or not found).
    pub machine: Option<MachineView>,
    /// The Cluster's `status.infrastructureReady` (`None`: no cluster label or no Cluster).
    pub cluster_infra_ready: Option<bool>,
    /// Bindings that name this machine in `spec.metalMachineRef`.
    pub own_bindings: Vec<&'a ServerBinding>,
    /// The binding named like `spec.serverRef.name`, when the ref is set.
    pub ref_binding: Option<&'a ServerBinding>,
    /// The Server named like `spec.serverRef.name`, when the ref is set.
    pub ref_server: Option<&'a Server>,
    /// `spec.serverClassRef` resolved (only needed while no server is chosen).
    pub class: ClassLookup,
}

/// What to do next. The executor does it and, for steps that change state, decides again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Deleted and released: nothing to do.
    Nothing,
    /// A precondition is missing; retried when the watched objects change.
    Wait {
        /// Condition reason.
        reason: &'static str,
        /// Condition message.
        message: String,
    },
    /// Add the finalizer.
    AddFinalizer,
    /// Release: delete this binding (ours).
    DeleteBinding(String),
    /// Release done: clear `serverRef`, remove the finalizer.
    FinishRelease,
    /// A binding of ours exists but `serverRef` does not say so (crash between the two
    /// writes): write `serverRef` to this server.
    Adopt(String),
    /// Try to bind these servers, in order, recording the class.
    Allocate {
        /// Class name.
        class: String,
        /// Servers to try.
        candidates: Vec<String>,
    },
    /// Bind the explicitly referenced server.
    Bind(String),
    /// No server can be bound now; say why.
    Refuse {
        /// Condition reason.
        reason: &'static str,
        /// Condition message.
        message: String,
    },
    /// Bound: set `providerID` and copy the binding's addresses and conditions.
    Sync {
        /// The binding (= server) name.
        server: String,
        /// `sidero://<server>`.
        provider_id: String,
    },
}

/// Whether `binding` belongs to `mm` (namespace and name; uid too when both are known).
pub fn is_own(binding: &ServerBinding, mm: &MetalMachine) -> bool {
    let r = &binding.spec.metal_machine_ref;
    let uid_matches = match (r.uid.as_deref(), mm.metadata.uid.as_deref()) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => a == b,
        _ => true,
    };
    r.name.as_deref() == mm.metadata.name.as_deref()
        && r.namespace.as_deref().unwrap_or_default()
            == mm.metadata.namespace.as_deref().unwrap_or_default()
        && uid_matches
}

/// The decision.
pub fn decide(s: &Snapshot<'_>) -> Action {
    let mm = s.metal_machine;
    let has_finalizer = mm
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == METAL_MACHINE_FINALIZER);
    let server_ref = mm
        .spec
        .server_ref
        .as_ref()
        .and_then(|r| r.name.clone())
        .filter(|n| !n.is_empty());
    if mm.metadata.deletion_timestamp.is_some() {
        if !has_finalizer {
            return Action::Nothing;
        }
        let ours = s
            .own_bindings
            .iter()
            .copied()
            .chain(s.ref_binding.filter(|b| is_own(b, mm)));
        return match ours.filter_map(|b| b.metadata.name.clone()).next() {
            Some(name) => Action::DeleteBinding(name),
            None => Action::FinishRelease,
        };
    }
    let Some(machine) = &s.machine else {
        return wait("WaitingForMachine", "waiting for the owner Machine".into());
    };
    match s.cluster_infra_ready {
        None => {
            return wait(
                "WaitingForCluster",
                "no cluster label or cluster does not exist".into(),
            );
        }
        Some(false) => {
            return wait(
                "WaitingForClusterInfrastructure",
                "the Cluster's infrastructure is not ready".into(),
            );
        }
        Some(true) => {}
    }
    if machine.data_secret_name.is_none() {
        return wait(
            "WaitingForBootstrapData",
            format!("machine {} has no bootstrap data yet", machine.name),
        );
    }
    if !has_finalizer {
        return Action::AddFinalizer;
    }
    let Some(name) = server_ref else {
        if let Some(b) = s.own_bindings.iter().find_map(|b| b.metadata.name.clone()) {
            return Action::Adopt(b);
        }
        return match &s.class {
            ClassLookup::NoRef => refuse(
                "NoServerOrClass",
                "either a server or serverclass ref must be supplied".into(),
            ),
            ClassLookup::NotFound(c) => refuse(
                "ServerClassNotFound",
                format!("serverclass {c} does not exist"),
            ),
            ClassLookup::Found { name, candidates } if candidates.is_empty() => refuse(
                "NoServerAvailable",
                format!("no accepted, clean, unallocated server in serverclass {name}"),
            ),
            ClassLookup::Found { name, candidates } => Action::Allocate {
                class: name.clone(),
                candidates: candidates.clone(),
            },
        };
    };
    // A second binding of ours (two reconciles raced; the loser's serverRef write was
    // refused) is released before anything else.
    if let Some(extra) = s
        .own_bindings
        .iter()
        .filter_map(|b| b.metadata.name.clone())
        .find(|n| *n != name)
    {
        return Action::DeleteBinding(extra);
    }
    match s.ref_binding {
        Some(b) if is_own(b, mm) => Action::Sync {
            provider_id: format!("{PROVIDER_ID_PREFIX}{name}"),
            server: name,
        },
        Some(b) => refused(&name, Refusal::BoundElsewhere(owner_of(b))),
        None => match check_free(s.ref_server) {
            Ok(()) => Action::Bind(name),
            Err(r) => refused(&name, r),
        },
    }
}

fn wait(reason: &'static str, message: String) -> Action {
    Action::Wait { reason, message }
}

fn refuse(reason: &'static str, message: String) -> Action {
    Action::Refuse { reason, message }
}

fn refused(server: &str, r: Refusal) -> Action {
    refuse(r.reason(), r.message(server))
}

#[cfg(test)]
mod tests;
