//! The pure decision half of the Server controller (spec §3.1): from what one reconcile
//! observed (the Server, its `ServerBinding`, the power state) to what it must do (the
//! desired status, finalizer and owner-reference changes, the ordered power actions, the
//! events and the requeue). No IO, no async, no Kubernetes client: the executor does that.
//!
//! # The executor's contract
//!
//! 1. Read the Server (non-cached), the `ServerBinding` of the same name, build the power
//!    client, query the power state; fill an [`Observed`]; call [`decide`].
//! 2. If [`Decision::patch`] is false (management client failed): emit [`Decision::events`],
//!    return an error, requeue after [`Decision::requeue`]. Stop.
//! 3. If [`Decision::finalizer`] is [`FinalizerChange::Add`], add
//!    `storage.finalizers.server.k8s.io` and patch now.
//! 4. Emit [`Decision::events`].
//! 5. Perform [`Decision::actions`] in order. On the first error `e` of action `a`, take
//!    [`Decision::failure`]`(a, e)`: emit its Warning, patch its status, requeue after 20 s.
//! 6. Otherwise emit [`Decision::success_events`], patch [`Decision::status_after_success`]
//!    and requeue per [`Decision::requeue`].
//!
//! The final patch also carries the metadata changes (finalizer removal, cleared
//! `ownerReferences`), and owns the `PowerCycle` and `PXEBooted` conditions.
//!
//! # Servers without power management (better than upstream, sidero#1294)
//!
//! Upstream silently does nothing for a dirty, accepted, unallocated server whose power
//! client is fake: it is never wiped unless someone reboots it. We set
//! `PowerCycle=False`, reason [`REASON_WAITING_FOR_AGENT`], severity `Info`, with a message
//! saying it waits to be network-booted into the agent and why it cannot be power-cycled
//! ([`waiting_for_agent_message`]). The Agent API answers `wipe=true` to an accepted dirty
//! server, so the agent wipes it when it boots; its heartbeat replaces the condition with
//! `InProgress`, `MarkServerAsWiped` sets it `True`. The message is stable, so CAPI
//! semantics keep its `lastTransitionTime` (when the wait began). A `WaitingForAgent`
//! condition does not count as "power cycle issued": if power management appears later
//! (BMC credentials reported), the wipe sequence is issued at once instead of after the
//! reboot timeout.

mod decide;
mod model;

pub use decide::{decide, power_cycled_message, waiting_for_agent_message};
pub use model::{
    Binding, ConditionChange, Config, DEFAULT_REQUEUE_AFTER, DEFAULT_SERVER_REBOOT_TIMEOUT,
    Decision, Event, EventType, Failure, FinalizerChange, Observed, POWER_CHECK_PERIOD,
    PowerAction, REASON_IN_PROGRESS, REASON_SERVER_ALLOCATION, REASON_SERVER_MANAGEMENT,
    REASON_WAITING_FOR_AGENT, Requeue,
};

#[cfg(test)]
mod tests;
