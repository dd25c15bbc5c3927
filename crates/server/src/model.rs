//! The value types of the decision: what was observed, the configuration, and the
//! [`Decision`] the executor carries out.

use std::time::Duration;

use jiff::Timestamp;
use sidero_api::condition::{self, Condition};
use sidero_api::metal::v1alpha2::{Server, ServerStatus};
use sidero_power::{BootMode, NotManagedReason, PowerState};

/// Event reason of every power-related event (spec §3.8).
pub const REASON_SERVER_MANAGEMENT: &str = "Server Management";
/// Event reason of the "unallocated" event (spec §3.8).
pub const REASON_SERVER_ALLOCATION: &str = "Server Allocation";
/// Requeue after a failure (`DefaultRequeueAfter`, spec §3).
pub const DEFAULT_REQUEUE_AFTER: Duration = Duration::from_secs(20);
/// Periodic power re-check of in-use servers (`PowerCheckPeriod`, spec §3).
pub const POWER_CHECK_PERIOD: Duration = Duration::from_secs(5 * 60);
/// Default `--server-reboot-timeout` (spec §3).
pub const DEFAULT_SERVER_REBOOT_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// `PowerCycle` reason while a wipe is in progress (upstream).
pub const REASON_IN_PROGRESS: &str = "InProgress";
/// `PowerCycle` reason of our own: a dirty server without power management waits to be
/// network-booted into the agent (not upstream; see the crate docs).
pub const REASON_WAITING_FOR_AGENT: &str = "WaitingForAgent";

/// The binding side of the observation: whether a `ServerBinding` named like the Server exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// No `ServerBinding` with the Server's name (the server is not allocated).
    Absent,
    /// A `ServerBinding` exists (the server is allocated).
    Present {
        /// Whether the binding has condition `TalosInstalled=True`.
        talos_installed: bool,
    },
}

impl Binding {
    /// Whether the server is allocated.
    pub fn is_allocated(self) -> bool {
        matches!(self, Binding::Present { .. })
    }
}

/// Everything one reconcile observed (all reads done by the executor).
#[derive(Clone, Debug)]
pub struct Observed {
    /// The Server as read (non-cached read).
    pub server: Server,
    /// The `ServerBinding` with the same name, if any.
    pub binding: Binding,
    /// Set when the power management client could not be built (e.g. BMC secret missing);
    /// the message is the error text. Step 2: the reconcile stops here.
    pub management_client_error: Option<String>,
    /// Result of the power status query; `Err` holds the error text.
    pub power: Result<PowerState, String>,
    /// `Some(reason)` when the power client is the no-management ("fake") client.
    pub not_managed: Option<NotManagedReason>,
    /// Whether the Server has a deletion timestamp.
    pub being_deleted: bool,
}

/// Controller configuration used by the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// `--ipmi-pxe-method`: the PXE mode when `spec.pxeMode` is empty.
    pub default_pxe_mode: BootMode,
    /// `--server-reboot-timeout`.
    pub reboot_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_pxe_mode: BootMode::Uefi,
            reboot_timeout: DEFAULT_SERVER_REBOOT_TIMEOUT,
        }
    }
}

/// One power operation, performed in order by the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// Set the next boot (only) to PXE with this firmware flavour.
    SetPxe(BootMode),
    /// Power on.
    PowerOn,
    /// Power off.
    PowerOff,
    /// Power cycle.
    PowerCycle,
}

impl PowerAction {
    /// The Warning event to emit when this action fails with `error` (spec §3.8 texts).
    pub fn failure_event(self, error: &str) -> Event {
        let what = match self {
            PowerAction::SetPxe(_) => "set to PXE boot once",
            PowerAction::PowerOn => "power on",
            PowerAction::PowerOff => "power off",
            PowerAction::PowerCycle => "power cycle",
        };
        Event::warning(
            REASON_SERVER_MANAGEMENT,
            format!("Failed to {what}: {error}."),
        )
    }
}

/// Kubernetes event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// One Kubernetes Event on the Server (source component `sidero-controller-manager`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// The reason (`Server Management` or `Server Allocation`).
    pub reason: &'static str,
    /// The message, exactly as upstream.
    pub message: String,
}

impl Event {
    /// A `Normal` event.
    pub fn normal(reason: &'static str, message: impl Into<String>) -> Event {
        Event {
            type_: EventType::Normal,
            reason,
            message: message.into(),
        }
    }

    /// A `Warning` event.
    pub fn warning(reason: &'static str, message: impl Into<String>) -> Event {
        Event {
            type_: EventType::Warning,
            reason,
            message: message.into(),
        }
    }
}

/// What to do with the Server finalizer `storage.finalizers.server.k8s.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizerChange {
    /// Leave `metadata.finalizers` as it is.
    Keep,
    /// Add the finalizer and patch **immediately**, before the power actions (step 6).
    Add,
    /// Remove the finalizer (persisted by the final patch).
    Remove,
}

/// When to reconcile again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only on the next watch event.
    None,
    /// After this long: [`DEFAULT_REQUEUE_AFTER`], [`POWER_CHECK_PERIOD`] or
    /// `reboot_timeout / 3`.
    After(Duration),
}

/// A change to one condition, applied with CAPI semantics at the decision's `now`.
#[derive(Clone, Debug, PartialEq)]
pub enum ConditionChange {
    /// Upsert this condition ([`condition::set_at`]).
    Set(Condition),
    /// Delete the condition of this type.
    Delete(&'static str),
}

impl ConditionChange {
    /// Applies the change to `conditions` at `now`.
    pub fn apply(&self, conditions: &mut Vec<Condition>, now: Timestamp) {
        match self {
            ConditionChange::Set(c) => condition::set_at(conditions, c.clone(), now),
            ConditionChange::Delete(t) => condition::delete(conditions, t),
        }
    }
}

/// The outcome to persist when a power action failed (see [`Decision::failure`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The status to patch: the decision's status with `ready=false` and without the
    /// after-success condition changes.
    pub status: ServerStatus,
    /// The Warning event to emit.
    pub event: Event,
    /// Always [`DEFAULT_REQUEUE_AFTER`].
    pub requeue: Requeue,
}

/// Everything one reconcile should do, computed without IO by [`crate::decide`].
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The time the decision was made; condition times use it.
    pub now: Timestamp,
    /// Whether the final patch of the Server (metadata + status) is to be written. `false`
    /// only when the management client could not be built (step 2 returns early).
    pub patch: bool,
    /// The status to persist when every action succeeds, **before** [`Self::after_success`]
    /// (use [`Self::status_after_success`]). `ready` is the table's value.
    pub status: ServerStatus,
    /// Finalizer change.
    pub finalizer: FinalizerChange,
    /// Whether to clear `metadata.ownerReferences` (allocated servers).
    pub clear_owner_references: bool,
    /// Events to emit whatever the actions' outcome (e.g. "Server marked as unallocated.",
    /// "Failed to determine power status: …").
    pub events: Vec<Event>,
    /// Power actions to perform in order; stop at the first failure (see [`Self::failure`]).
    pub actions: Vec<PowerAction>,
    /// Events to emit after every action succeeded (never for the no-management client).
    pub success_events: Vec<Event>,
    /// Condition changes to apply only after every action succeeded.
    pub after_success: Vec<ConditionChange>,
    /// The requeue when every action succeeded (a failure always requeues after 20 s).
    pub requeue: Requeue,
}

impl Decision {
    /// The status to persist after every action succeeded: [`Self::status`] with
    /// [`Self::after_success`] applied at [`Self::now`].
    pub fn status_after_success(&self) -> ServerStatus {
        let mut status = self.status.clone();
        if !self.after_success.is_empty() {
            let mut conditions = status.conditions.take().unwrap_or_default();
            for change in &self.after_success {
                change.apply(&mut conditions, self.now);
            }
            status.conditions = (!conditions.is_empty()).then_some(conditions);
        }
        status
    }

    /// What to persist and emit when `action` failed with `error`: `ready=false`, the
    /// action's Warning event, requeue after 20 s; the after-success changes are dropped.
    pub fn failure(&self, action: PowerAction, error: &str) -> Failure {
        let mut status = self.status.clone();
        status.ready = false;
        Failure {
            status,
            event: action.failure_event(error),
            requeue: Requeue::After(DEFAULT_REQUEUE_AFTER),
        }
    }
}
