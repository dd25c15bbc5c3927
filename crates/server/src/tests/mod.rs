//! Tests of the decision: one per §3.1 table row and branch, plus properties.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod props;
mod steps;
mod table;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use sidero_api::condition::{Condition, Severity};
use sidero_api::metal::v1alpha2::{
    CONDITION_POWER_CYCLE, SERVER_FINALIZER, Server, ServerSpec, ServerStatus,
};
use sidero_power::PowerState;

use crate::{Binding, Config, Decision, Observed, decide};

/// The decision time used by every test.
fn now() -> Timestamp {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

/// A Server with the finalizer already present (so finalizer handling stays out of the way).
fn server(accepted: bool, in_use: bool, is_clean: bool) -> Server {
    let mut s = Server::new(
        "4c4c4544-0035-4210-8044-c4c04f4d4a32",
        ServerSpec {
            accepted,
            ..ServerSpec::default()
        },
    );
    s.metadata.finalizers = Some(vec![SERVER_FINALIZER.to_owned()]);
    s.status = Some(ServerStatus {
        in_use,
        is_clean,
        ..ServerStatus::default()
    });
    s
}

/// Observation of `server` with no binding, powered on, managed, not being deleted.
fn observed(server: Server) -> Observed {
    Observed {
        server,
        binding: Binding::Absent,
        management_client_error: None,
        power: Ok(PowerState::On),
        not_managed: None,
        being_deleted: false,
    }
}

fn run(input: &Observed) -> Decision {
    decide(input, &Config::default(), now())
}

/// Adds a condition (with its time) to the server's status.
fn with_condition(mut s: Server, c: Condition) -> Server {
    s.status
        .get_or_insert_with(ServerStatus::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(c);
    s
}

/// `PowerCycle=False/InProgress` that transitioned `age_secs` before [`now`].
fn power_cycle_in_progress(age_secs: i64) -> Condition {
    let mut c = Condition::false_condition(
        CONDITION_POWER_CYCLE,
        "InProgress",
        Severity::Info,
        "Server wipe in progress.",
    );
    c.last_transition_time = Time(now() - jiff::SignedDuration::from_secs(age_secs));
    c
}

fn owner_ref() -> OwnerReference {
    OwnerReference {
        api_version: "infrastructure.cluster.x-k8s.io/v1alpha3".into(),
        kind: "MetalMachine".into(),
        name: "m-0".into(),
        uid: "1234".into(),
        ..OwnerReference::default()
    }
}
