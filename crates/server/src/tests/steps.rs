//! Steps 1–6 of §3.1: management client, power string, allocation, finalizer, deletion.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sidero_api::condition::{self, Condition};
use sidero_api::metal::v1alpha2::{CONDITION_PXE_BOOTED, SERVER_FINALIZER};
use sidero_power::PowerState;

use super::{now, observed, owner_ref, run, server, with_condition};
use crate::{Binding, Event, FinalizerChange, REASON_SERVER_ALLOCATION, Requeue};

#[test]
fn management_client_failure_stops_with_warning() {
    let mut input = observed(server(true, false, false));
    input.management_client_error = Some("missing secretKeyRef".into());
    let d = run(&input);
    assert!(!d.patch);
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        d.events[0].message,
        "Failed to initialize management client: missing secretKeyRef."
    );
    assert_eq!(d.events[0].reason, "Server Management");
    assert!(d.actions.is_empty());
    assert_eq!(d.requeue, Requeue::After(Duration::from_secs(20)));
}

#[test]
fn power_status_string() {
    for (power, want) in [
        (Ok(PowerState::On), "on"),
        (Ok(PowerState::Off), "off"),
        (Ok(PowerState::Unknown), "unknown"),
        (Err("x".to_owned()), "unknown"),
    ] {
        let mut input = observed(server(false, false, false));
        input.power = power;
        assert_eq!(run(&input).status.power.as_deref(), Some(want));
    }
}

#[test]
fn allocation_sets_in_use_dirty_and_clears_owner_references() {
    let mut s = server(true, false, true);
    s.metadata.owner_references = Some(vec![owner_ref()]);
    let mut input = observed(s);
    input.binding = Binding::Present {
        talos_installed: false,
    };
    let d = run(&input);
    assert!(d.status.in_use);
    assert!(!d.status.is_clean);
    assert!(d.clear_owner_references);
    assert!(d.status.condition(CONDITION_PXE_BOOTED).is_none());
    // Nothing to clear when there are none.
    input.server.metadata.owner_references = None;
    assert!(!run(&input).clear_owner_references);
}

#[test]
fn pxe_booted_added_when_talos_installed() {
    let mut input = observed(server(true, true, false));
    input.binding = Binding::Present {
        talos_installed: true,
    };
    let d = run(&input);
    let c = d.status.condition(CONDITION_PXE_BOOTED).unwrap();
    assert_eq!(c.status, condition::STATUS_TRUE);
    assert_eq!(c.last_transition_time.0, now());
    // Already True: keeps its older time (CAPI semantics).
    let mut old = Condition::true_condition(CONDITION_PXE_BOOTED);
    old.last_transition_time = Time(now() - jiff::SignedDuration::from_hours(5));
    input.server = with_condition(input.server, old.clone());
    let d = run(&input);
    assert_eq!(d.status.condition(CONDITION_PXE_BOOTED), Some(&old));
}

#[test]
fn pxe_booted_deleted_and_event_when_unallocated() {
    let s = with_condition(
        server(true, true, false),
        Condition::true_condition(CONDITION_PXE_BOOTED),
    );
    let d = run(&observed(s));
    assert!(!d.status.in_use);
    assert!(d.status.condition(CONDITION_PXE_BOOTED).is_none());
    assert_eq!(
        d.events,
        vec![Event::normal(
            REASON_SERVER_ALLOCATION,
            "Server marked as unallocated."
        )]
    );
    // Already unallocated: no event.
    assert!(run(&observed(server(true, false, false))).events.is_empty());
}

#[test]
fn finalizer_added_when_missing() {
    let mut s = server(true, false, true);
    s.metadata.finalizers = None;
    assert_eq!(run(&observed(s.clone())).finalizer, FinalizerChange::Add);
    s.metadata.finalizers = Some(vec!["other".into()]);
    assert_eq!(run(&observed(s)).finalizer, FinalizerChange::Add);
    assert_eq!(
        run(&observed(server(true, false, true))).finalizer,
        FinalizerChange::Keep
    );
}

#[test]
fn deletion_without_binding_removes_finalizer() {
    let mut input = observed(server(true, true, false));
    input.being_deleted = true;
    let d = run(&input);
    assert_eq!(d.finalizer, FinalizerChange::Remove);
    assert!(d.patch);
    // No finalizer left to remove: keep, and never re-add while deleting.
    input.server.metadata.finalizers = None;
    assert_eq!(run(&input).finalizer, FinalizerChange::Keep);
}

#[test]
fn deletion_with_binding_keeps_finalizer() {
    let mut input = observed(server(true, true, false));
    input.being_deleted = true;
    input.binding = Binding::Present {
        talos_installed: true,
    };
    let d = run(&input);
    assert_eq!(d.finalizer, FinalizerChange::Keep);
    assert!(
        input
            .server
            .metadata
            .finalizers
            .as_ref()
            .unwrap()
            .contains(&SERVER_FINALIZER.to_owned())
    );
}
