//! One test per row (and branch) of the §3.1 state table.

use std::time::Duration;

use sidero_api::condition::{self, STATUS_FALSE};
use sidero_api::metal::v1alpha2::{CONDITION_POWER_CYCLE, POWER_UNKNOWN, ServerStatus};
use sidero_power::{BootMode, NotManagedReason, PowerState};

use super::{now, observed, power_cycle_in_progress, run, server, with_condition};
use crate::decide::{Ctx, table};
use crate::{
    Binding, Decision, Event, EventType, PowerAction, REASON_SERVER_MANAGEMENT,
    REASON_WAITING_FOR_AGENT, Requeue,
};

const RETRY: Requeue = Requeue::After(Duration::from_secs(20));
const CHECK: Requeue = Requeue::After(Duration::from_secs(300));
/// Default reboot timeout (20 min) / 3.
const WIPE_WAIT: Requeue = Requeue::After(Duration::from_secs(400));

fn normal(msg: &str) -> Vec<Event> {
    vec![Event::normal(REASON_SERVER_MANAGEMENT, msg)]
}

fn warning(msg: &str) -> Vec<Event> {
    vec![Event::warning(REASON_SERVER_MANAGEMENT, msg)]
}

/// Asserts that failing `action` with "boom" yields `text`, ready=false and a 20 s requeue.
fn assert_failure(d: &Decision, action: PowerAction, text: &str) {
    assert!(
        d.actions.contains(&action),
        "{action:?} not in {:?}",
        d.actions
    );
    let f = d.failure(action, "boom");
    assert_eq!(f.event.type_, EventType::Warning);
    assert_eq!(f.event.reason, REASON_SERVER_MANAGEMENT);
    assert_eq!(f.event.message, text);
    assert!(!f.status.ready);
    assert_eq!(f.requeue, RETRY);
    assert!(f.status.condition(CONDITION_POWER_CYCLE).is_none());
}

fn assert_no_power_work(d: &Decision) {
    assert!(d.actions.is_empty());
    assert!(d.success_events.is_empty());
    assert!(d.after_success.is_empty());
}

// Row 1: accepted=false, any, any.
#[test]
fn row1_unaccepted_sets_is_clean_false_and_does_nothing() {
    for (in_use, clean, binding) in [
        (false, true, Binding::Absent),
        (
            true,
            false,
            Binding::Present {
                talos_installed: false,
            },
        ),
        (false, false, Binding::Absent),
    ] {
        let mut input = observed(server(false, in_use, clean));
        input.binding = binding;
        input.power = Ok(PowerState::Off);
        let d = run(&input);
        assert!(!d.status.is_clean);
        assert!(!d.status.ready);
        assert_eq!(d.status.in_use, binding.is_allocated());
        assert_eq!(d.requeue, Requeue::None);
        assert_no_power_work(&d);
        assert!(d.events.is_empty());
    }
}

// Row 2: accepted, inUse, isClean — impossible after step 5; the table alone says ready=false.
#[test]
fn row2_in_use_and_clean_is_impossible() {
    let power = Ok(PowerState::Off);
    let ctx = Ctx {
        accepted: true,
        power: &power,
        not_managed: None,
        pxe_mode: Ok(BootMode::Uefi),
        reboot_timeout: Duration::from_secs(1200),
        now: now(),
    };
    let mut status = ServerStatus {
        in_use: true,
        is_clean: true,
        ready: true,
        ..ServerStatus::default()
    };
    let mut d = run(&observed(server(true, false, false)));
    table(&ctx, &mut status, &mut d);
    assert!(!status.ready);
    assert_eq!(d.requeue, Requeue::None);
    // Through decide, a stale inUse+isClean status with a binding lands in row 4.
    let mut input = observed(server(true, true, true));
    input.binding = Binding::Present {
        talos_installed: false,
    };
    let d = run(&input);
    assert!(d.status.in_use && !d.status.is_clean && d.status.ready);
    assert_eq!(d.requeue, CHECK);
}

// Row 3: accepted, free, clean.
#[test]
fn row3_clean_free_powered_on_is_powered_off() {
    let d = run(&observed(server(true, false, true)));
    assert_eq!(d.actions, vec![PowerAction::PowerOff]);
    assert_eq!(d.success_events, normal("Server powered off."));
    assert!(d.status.ready);
    assert_eq!(d.requeue, Requeue::None);
    assert_failure(&d, PowerAction::PowerOff, "Failed to power off: boom.");
}

#[test]
fn row3_clean_free_powered_off_stays() {
    let mut input = observed(server(true, false, true));
    input.power = Ok(PowerState::Off);
    let d = run(&input);
    assert_no_power_work(&d);
    assert!(d.status.ready);
    assert_eq!(d.status.power.as_deref(), Some("off"));
    assert_eq!(d.requeue, Requeue::None);
}

#[test]
fn row3_power_query_failed() {
    for power in [Err("timeout".to_owned()), Ok(PowerState::Unknown)] {
        let mut input = observed(server(true, false, true));
        input.power = power.clone();
        let d = run(&input);
        let text = match power {
            Err(_) => "Failed to determine power status: timeout.",
            Ok(_) => "Failed to determine power status: power state is unknown.",
        };
        assert_eq!(d.events, warning(text));
        assert_no_power_work(&d);
        assert!(!d.status.ready);
        assert_eq!(d.status.power.as_deref(), Some(POWER_UNKNOWN));
        assert_eq!(d.requeue, RETRY);
    }
}

#[test]
fn row3_fake_client_no_action_no_event() {
    let mut input = observed(server(true, false, true));
    input.not_managed = Some(NotManagedReason::NoBmcOrApi);
    let d = run(&input);
    assert_no_power_work(&d);
    assert!(d.events.is_empty());
    assert!(d.status.ready);
}

// Row 4: accepted, in use, dirty.
fn row4(power: Result<PowerState, String>) -> Decision {
    let mut input = observed(server(true, true, false));
    input.binding = Binding::Present {
        talos_installed: false,
    };
    input.power = power;
    run(&input)
}

#[test]
fn row4_in_use_powered_off_is_pxe_booted() {
    let d = row4(Ok(PowerState::Off));
    assert_eq!(
        d.actions,
        vec![PowerAction::SetPxe(BootMode::Uefi), PowerAction::PowerOn]
    );
    assert_eq!(
        d.success_events,
        normal("Server powered on and set PXE boot once into the environment.")
    );
    assert!(d.status.ready);
    assert_eq!(d.requeue, CHECK);
    let set_pxe = PowerAction::SetPxe(BootMode::Uefi);
    assert_failure(&d, set_pxe, "Failed to set to PXE boot once: boom.");
    assert_failure(&d, PowerAction::PowerOn, "Failed to power on: boom.");
}

#[test]
fn row4_in_use_powered_on_rechecks() {
    let d = row4(Ok(PowerState::On));
    assert_no_power_work(&d);
    assert!(d.status.ready);
    assert_eq!(d.requeue, CHECK);
}

#[test]
fn row4_power_query_failed() {
    let d = row4(Err("no route".into()));
    assert_eq!(
        d.events,
        warning("Failed to determine power status: no route.")
    );
    assert!(!d.status.ready);
    assert_eq!(d.requeue, RETRY);
    assert_no_power_work(&d);
}

#[test]
fn row4_fake_client_off_does_nothing() {
    let mut input = observed(server(true, true, false));
    input.binding = Binding::Present {
        talos_installed: false,
    };
    input.power = Ok(PowerState::Off);
    input.not_managed = Some(NotManagedReason::BmcCredentialsIncomplete);
    let d = run(&input);
    assert_no_power_work(&d);
    assert_eq!(d.requeue, CHECK);
}

// Row 5: accepted, free, dirty — the wipe flow.
#[test]
fn row5_powered_on_is_power_cycled() {
    let d = run(&observed(server(true, false, false)));
    assert_eq!(
        d.actions,
        vec![PowerAction::SetPxe(BootMode::Uefi), PowerAction::PowerCycle]
    );
    assert_eq!(
        d.success_events,
        normal("Server power cycled and set to PXE boot once.")
    );
    assert!(!d.status.ready);
    assert_eq!(d.requeue, WIPE_WAIT);
    assert!(d.status.condition(CONDITION_POWER_CYCLE).is_none());
    let after = d.status_after_success();
    let pc = after.condition(CONDITION_POWER_CYCLE).unwrap();
    assert_eq!(pc.status, STATUS_FALSE);
    assert_eq!(pc.reason.as_deref(), Some("InProgress"));
    assert_eq!(pc.severity.as_deref(), Some("Info"));
    assert_eq!(
        pc.message.as_deref(),
        Some("Server power cycled for wiping at 2026-01-02T03:04:05Z.")
    );
    assert_eq!(pc.last_transition_time.0, now());
    let set_pxe = PowerAction::SetPxe(BootMode::Uefi);
    assert_failure(&d, set_pxe, "Failed to set to PXE boot once: boom.");
    assert_failure(&d, PowerAction::PowerCycle, "Failed to power cycle: boom.");
}

#[test]
fn row5_powered_off_is_powered_on() {
    let mut input = observed(server(true, false, false));
    input.power = Ok(PowerState::Off);
    let d = run(&input);
    assert_eq!(
        d.actions,
        vec![PowerAction::SetPxe(BootMode::Uefi), PowerAction::PowerOn]
    );
    assert_eq!(
        d.success_events,
        normal("Server powered on and set to PXE boot once.")
    );
    assert_eq!(d.after_success.len(), 1);
    assert_failure(&d, PowerAction::PowerOn, "Failed to power on: boom.");
}

#[test]
fn row5_power_query_failed() {
    let mut input = observed(server(true, false, false));
    input.power = Err("EOF".into());
    let d = run(&input);
    assert_eq!(d.events, warning("Failed to determine power status: EOF."));
    assert_no_power_work(&d);
    assert_eq!(d.requeue, RETRY);
}

#[test]
fn row5_recent_power_cycle_waits() {
    let s = with_condition(server(true, false, false), power_cycle_in_progress(60));
    let d = run(&observed(s));
    assert_no_power_work(&d);
    assert!(d.events.is_empty());
    assert!(!d.status.ready);
    assert_eq!(d.requeue, WIPE_WAIT);
    // The condition is left as it was (time included).
    let pc = d.status.condition(CONDITION_POWER_CYCLE).unwrap();
    assert_eq!(pc, &power_cycle_in_progress(60));
}

#[test]
fn row5_expired_power_cycle_is_reissued() {
    for age in [1200, 5000] {
        let s = with_condition(server(true, false, false), power_cycle_in_progress(age));
        let d = run(&observed(s));
        assert_eq!(d.actions.len(), 2, "age {age}");
        let after = d.status_after_success();
        let pc = after.condition(CONDITION_POWER_CYCLE).unwrap();
        assert_eq!(pc.last_transition_time.0, now());
    }
}

#[test]
fn row5_power_cycle_true_does_not_block() {
    let mut c = power_cycle_in_progress(5);
    c.status = condition::STATUS_TRUE.into();
    let d = run(&observed(with_condition(server(true, false, false), c)));
    assert_eq!(d.actions.len(), 2);
}

#[test]
fn row5_fake_client_waits_for_agent_with_reason() {
    let mut input = observed(server(true, false, false));
    input.not_managed = Some(NotManagedReason::NoBmcOrApi);
    let d = run(&input);
    assert_no_power_work(&d);
    assert!(d.events.is_empty());
    assert_eq!(d.requeue, WIPE_WAIT);
    let pc = d.status.condition(CONDITION_POWER_CYCLE).unwrap().clone();
    assert_eq!(pc.status, STATUS_FALSE);
    assert_eq!(pc.reason.as_deref(), Some(REASON_WAITING_FOR_AGENT));
    let msg = pc.message.clone().unwrap();
    assert!(msg.contains("network-boot into the agent"), "{msg}");
    assert!(msg.contains("no power management"), "{msg}");
    // Reconciling later keeps the time (same state, CAPI semantics).
    input.server = with_condition(server(true, false, false), pc.clone());
    let later = crate::decide(
        &input,
        &crate::Config::default(),
        now() + jiff::SignedDuration::from_hours(2),
    );
    assert_eq!(later.status.condition(CONDITION_POWER_CYCLE), Some(&pc));
    // Power management appears: the wipe sequence is issued at once.
    input.not_managed = None;
    let d = run(&input);
    assert_eq!(d.actions.len(), 2);
}

#[test]
fn row5_fake_client_respects_agent_heartbeat() {
    let s = with_condition(server(true, false, false), power_cycle_in_progress(30));
    let mut input = observed(s);
    input.not_managed = Some(NotManagedReason::NoBmcOrApi);
    let d = run(&input);
    let pc = d.status.condition(CONDITION_POWER_CYCLE).unwrap();
    assert_eq!(pc.reason.as_deref(), Some("InProgress"));
}

#[test]
fn pxe_mode_from_spec_overrides_flag_and_invalid_fails_set_pxe() {
    let mut s = server(true, false, false);
    s.spec.pxe_mode = Some("bios".into());
    let d = run(&observed(s.clone()));
    assert_eq!(d.actions[0], PowerAction::SetPxe(BootMode::Bios));
    let cfg = crate::Config {
        default_pxe_mode: BootMode::Bios,
        ..crate::Config::default()
    };
    let d = crate::decide(&observed(server(true, false, false)), &cfg, now());
    assert_eq!(d.actions[0], PowerAction::SetPxe(BootMode::Bios));
    s.spec.pxe_mode = Some("efi".into());
    let d = run(&observed(s));
    assert_no_power_work(&d);
    assert_eq!(d.requeue, RETRY);
    assert_eq!(d.events.len(), 1);
    assert!(
        d.events[0]
            .message
            .starts_with("Failed to set to PXE boot once: ")
    );
}
