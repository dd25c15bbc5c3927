//! [`decide`]: steps 1–7 of the Server controller (spec §3.1) as a pure function.

use std::time::Duration;

use jiff::Timestamp;
use sidero_api::condition::{self, Condition, Severity};
use sidero_api::metal::v1alpha2::{
    CONDITION_POWER_CYCLE, CONDITION_PXE_BOOTED, POWER_UNKNOWN, SERVER_FINALIZER, ServerStatus,
};
use sidero_power::{BootMode, NotManagedReason, PowerState};

use crate::model::{
    ConditionChange, Config, DEFAULT_REQUEUE_AFTER, Decision, Event, FinalizerChange, Observed,
    POWER_CHECK_PERIOD, PowerAction, REASON_IN_PROGRESS, REASON_SERVER_ALLOCATION,
    REASON_SERVER_MANAGEMENT, REASON_WAITING_FOR_AGENT, Requeue,
};

/// Decides what one reconcile of `input` does at time `now` (spec §3.1, steps 1–7).
///
/// The executor performs [`Decision::actions`] in order and then persists either
/// [`Decision::status_after_success`] or, on the first failure, [`Decision::failure`].
pub fn decide(input: &Observed, cfg: &Config, now: Timestamp) -> Decision {
    let server = &input.server;
    let mut status = server.status.clone().unwrap_or_default();
    let mut decision = Decision {
        now,
        patch: true,
        status: status.clone(),
        finalizer: FinalizerChange::Keep,
        clear_owner_references: false,
        events: Vec::new(),
        actions: Vec::new(),
        success_events: Vec::new(),
        after_success: Vec::new(),
        requeue: Requeue::None,
    };

    // Step 2: no management client → Warning, requeue 20 s, nothing persisted.
    if let Some(err) = &input.management_client_error {
        decision.patch = false;
        decision.status.ready = false;
        decision.events.push(Event::warning(
            REASON_SERVER_MANAGEMENT,
            format!("Failed to initialize management client: {err}."),
        ));
        decision.requeue = Requeue::After(DEFAULT_REQUEUE_AFTER);
        return decision;
    }

    // Step 3: power status string.
    status.power = Some(match &input.power {
        Ok(state) => state.as_status_str().to_owned(),
        Err(_) => POWER_UNKNOWN.to_owned(),
    });

    // Step 5: allocation.
    let mut conditions = status.conditions.take().unwrap_or_default();
    let allocated = input.binding.is_allocated();
    if allocated {
        status.in_use = true;
        status.is_clean = false;
        decision.clear_owner_references = server
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|r| !r.is_empty());
        if input.binding
            == (crate::Binding::Present {
                talos_installed: true,
            })
        {
            condition::mark_true_at(&mut conditions, CONDITION_PXE_BOOTED, now);
        }
    } else {
        if status.in_use {
            decision.events.push(Event::normal(
                REASON_SERVER_ALLOCATION,
                "Server marked as unallocated.",
            ));
        }
        status.in_use = false;
        condition::delete(&mut conditions, CONDITION_PXE_BOOTED);
    }

    // Step 6: finalizer.
    let has_finalizer = server
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == SERVER_FINALIZER));
    decision.finalizer = match (input.being_deleted, has_finalizer) {
        (false, false) => FinalizerChange::Add,
        (true, true) if !allocated => FinalizerChange::Remove,
        _ => FinalizerChange::Keep,
    };

    // Step 4: effective PXE mode (an invalid `spec.pxeMode` fails like upstream's SetPXE).
    let pxe_mode = match server.spec.pxe_mode.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => m.parse::<BootMode>().map_err(|e| e.to_string()),
        None => Ok(cfg.default_pxe_mode),
    };

    let ctx = Ctx {
        accepted: server.spec.accepted,
        power: &input.power,
        not_managed: input.not_managed,
        pxe_mode,
        reboot_timeout: cfg.reboot_timeout,
        now,
    };
    status.conditions = Some(conditions);
    table(&ctx, &mut status, &mut decision);
    status.conditions = status.conditions.filter(|c| !c.is_empty());
    decision.status = status;
    decision
}

/// What the state table needs besides the status.
pub(crate) struct Ctx<'a> {
    pub(crate) accepted: bool,
    pub(crate) power: &'a Result<PowerState, String>,
    pub(crate) not_managed: Option<NotManagedReason>,
    pub(crate) pxe_mode: Result<BootMode, String>,
    pub(crate) reboot_timeout: Duration,
    pub(crate) now: Timestamp,
}

impl Ctx<'_> {
    fn is_fake(&self) -> bool {
        self.not_managed.is_some()
    }

    /// Whether the server is on; `Err` with the text of "Failed to determine power status".
    /// A back end that answered "unknown" counts as a failed query.
    fn powered_on(&self) -> Result<bool, String> {
        match self.power {
            Ok(PowerState::On) => Ok(true),
            Ok(PowerState::Off) => Ok(false),
            Ok(PowerState::Unknown) => Err("power state is unknown".to_owned()),
            Err(e) => Err(e.clone()),
        }
    }
}

fn retry(decision: &mut Decision, status: &mut ServerStatus, event: Event) {
    status.ready = false;
    decision.events.push(event);
    decision.actions.clear();
    decision.success_events.clear();
    decision.after_success.clear();
    decision.requeue = Requeue::After(DEFAULT_REQUEUE_AFTER);
}

fn power_status_failed(decision: &mut Decision, status: &mut ServerStatus, err: &str) {
    let event = Event::warning(
        REASON_SERVER_MANAGEMENT,
        format!("Failed to determine power status: {err}."),
    );
    retry(decision, status, event);
}

/// The Warning of a SetPXE that cannot be attempted because `spec.pxeMode` is invalid
/// (upstream passes the string to `SetPXE`, which fails with "unsupported mode").
fn set_pxe_failed(error: &str) -> Event {
    PowerAction::SetPxe(BootMode::default()).failure_event(error)
}

/// The message of our `PowerCycle=False/WaitingForAgent` condition.
pub fn waiting_for_agent_message(reason: NotManagedReason) -> String {
    format!(
        "Waiting for the server to network-boot into the agent, which will wipe it: {reason}, \
         so Sidero cannot power-cycle it; reboot it into PXE to wipe it."
    )
}

/// `PowerCycle=False` message after issuing the wipe power sequence at `now`.
pub fn power_cycled_message(now: Timestamp) -> String {
    format!(
        "Server power cycled for wiping at {}.",
        now.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// Step 7: the §3.1 state table, on the status as left by steps 3–5.
pub(crate) fn table(ctx: &Ctx<'_>, status: &mut ServerStatus, decision: &mut Decision) {
    let check = Requeue::After(POWER_CHECK_PERIOD);
    let wipe_wait = Requeue::After(ctx.reboot_timeout / 3);
    match (ctx.accepted, status.in_use, status.is_clean) {
        // Row 1: not accepted — Sidero does not control it.
        (false, _, _) => {
            status.is_clean = false;
            status.ready = false;
            decision.requeue = Requeue::None;
        }
        // Row 2: impossible (step 5 forces isClean=false when in use).
        (true, true, true) => {
            status.ready = false;
            decision.requeue = Requeue::None;
        }
        // Row 3: clean and free — keep it powered off.
        (true, false, true) => {
            status.ready = true;
            decision.requeue = Requeue::None;
            match ctx.powered_on() {
                Err(e) => power_status_failed(decision, status, &e),
                Ok(true) if !ctx.is_fake() => {
                    decision.actions.push(PowerAction::PowerOff);
                    decision.success_events.push(Event::normal(
                        REASON_SERVER_MANAGEMENT,
                        "Server powered off.",
                    ));
                }
                Ok(_) => {}
            }
        }
        // Row 4: in use — keep it powered on, re-check every 5 minutes.
        (true, true, false) => {
            status.ready = true;
            decision.requeue = check;
            match ctx.powered_on() {
                Err(e) => power_status_failed(decision, status, &e),
                Ok(false) if !ctx.is_fake() => match &ctx.pxe_mode {
                    Ok(mode) => {
                        decision.actions = vec![PowerAction::SetPxe(*mode), PowerAction::PowerOn];
                        decision.success_events.push(Event::normal(
                            REASON_SERVER_MANAGEMENT,
                            "Server powered on and set PXE boot once into the environment.",
                        ));
                    }
                    Err(e) => retry(decision, status, set_pxe_failed(e)),
                },
                Ok(_) => {}
            }
        }
        // Row 5: dirty and free — the wipe flow.
        (true, false, false) => {
            status.ready = false;
            decision.requeue = wipe_wait;
            wipe(ctx, status, decision);
        }
    }
}

/// Row 5 of the table.
fn wipe(ctx: &Ctx<'_>, status: &mut ServerStatus, decision: &mut Decision) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(pc) = condition::get(conditions, CONDITION_POWER_CYCLE) {
        let ours = pc.reason.as_deref() == Some(REASON_WAITING_FOR_AGENT);
        let age = ctx.now.duration_since(pc.last_transition_time.0);
        let timeout =
            jiff::SignedDuration::try_from(ctx.reboot_timeout).unwrap_or(jiff::SignedDuration::MAX);
        if pc.status == condition::STATUS_FALSE && !ours && age < timeout {
            return; // wait for the agent (its heartbeat refreshes the time)
        }
    }
    if let Some(reason) = ctx.not_managed {
        // Better than upstream (sidero#1294): say why nothing happens.
        let c = Condition::false_condition(
            CONDITION_POWER_CYCLE,
            REASON_WAITING_FOR_AGENT,
            Severity::Info,
            waiting_for_agent_message(reason),
        );
        condition::set_at(conditions, c, ctx.now);
        return;
    }
    let on = match ctx.powered_on() {
        Ok(on) => on,
        Err(e) => return power_status_failed(decision, status, &e),
    };
    let mode = match &ctx.pxe_mode {
        Ok(mode) => *mode,
        Err(e) => return retry(decision, status, set_pxe_failed(e)),
    };
    let (action, message) = if on {
        (
            PowerAction::PowerCycle,
            "Server power cycled and set to PXE boot once.",
        )
    } else {
        (
            PowerAction::PowerOn,
            "Server powered on and set to PXE boot once.",
        )
    };
    decision.actions = vec![PowerAction::SetPxe(mode), action];
    decision
        .success_events
        .push(Event::normal(REASON_SERVER_MANAGEMENT, message));
    decision
        .after_success
        .push(ConditionChange::Set(Condition::false_condition(
            CONDITION_POWER_CYCLE,
            REASON_IN_PROGRESS,
            Severity::Info,
            power_cycled_message(ctx.now),
        )));
}
