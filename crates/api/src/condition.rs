//! The Cluster API v1beta1 `Condition` shape used by `Server`, `MetalMachine` and
//! `ServerBinding` status, and helpers with CAPI's semantics (spec §2.0).
//!
//! Rules (those of CAPI's `util/conditions` for v1beta1):
//!
//! * [`set`] upserts by `type`. An existing condition keeps its `lastTransitionTime` when
//!   status, reason, severity **and** message are all unchanged; any difference stamps `now`.
//!   A condition that is new to the list keeps the time it carries, unless that time is unset
//!   (see [`Condition::has_unset_time`]), in which case it gets `now`.
//! * [`mark_true`] clears reason, severity and message; [`mark_unknown`] has no severity.
//! * The list is kept sorted after every upsert: `Ready` first, then by `type` (byte order).
//! * Empty strings and absent values are the same thing, as in Go (`omitempty`).
//!
//! Every helper that needs the current time has an `_at` twin taking `now` explicitly.

use jiff::{Timestamp, TimestampRound, Unit};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `status` of a condition that holds.
pub const STATUS_TRUE: &str = "True";
/// `status` of a condition that does not hold.
pub const STATUS_FALSE: &str = "False";
/// `status` of a condition whose state is not known.
pub const STATUS_UNKNOWN: &str = "Unknown";
/// The `Ready` condition type, always sorted first.
pub const READY: &str = "Ready";

/// One CAPI v1beta1 condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition in CamelCase or in foo.example.com/CamelCase.
    #[serde(rename = "type")]
    #[schemars(length(max = 256))]
    pub type_: String,
    /// Status of the condition, one of True, False, Unknown.
    pub status: String,
    /// Severity provides an explicit classification of Reason code; only set when status is False.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub severity: Option<String>,
    /// Last time the condition transitioned from one status to another.
    pub last_transition_time: Time,
    /// The reason for the condition's last transition in CamelCase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub reason: Option<String>,
    /// A human readable message indicating details about the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10240))]
    pub message: Option<String>,
}

/// The severity of a `False` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `Error`: the condition failed and needs attention.
    Error,
    /// `Warning`: something is off, but may recover.
    Warning,
    /// `Info`: informational, e.g. an operation in progress.
    Info,
}

impl Severity {
    /// The wire string (`Error`, `Warning`, `Info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Info => "Info",
        }
    }

    /// Parses a wire string; `None` for anything else (including the empty string).
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "Error" => Some(Severity::Error),
            "Warning" => Some(Severity::Warning),
            "Info" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The "not set" transition time (the Unix epoch); [`set`] replaces it with `now`.
pub fn unset_time() -> Time {
    Time(Timestamp::UNIX_EPOCH)
}

fn non_empty(s: impl Into<String>) -> Option<String> {
    Some(s.into()).filter(|s| !s.is_empty())
}

impl Condition {
    /// A `True` condition of the given type (no reason, severity or message), time unset.
    pub fn true_condition(type_: impl Into<String>) -> Condition {
        Condition {
            type_: type_.into(),
            status: STATUS_TRUE.into(),
            severity: None,
            last_transition_time: unset_time(),
            reason: None,
            message: None,
        }
    }

    /// A `False` condition, time unset.
    pub fn false_condition(
        type_: impl Into<String>,
        reason: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Condition {
        Condition {
            type_: type_.into(),
            status: STATUS_FALSE.into(),
            severity: Some(severity.as_str().into()),
            last_transition_time: unset_time(),
            reason: non_empty(reason),
            message: non_empty(message),
        }
    }

    /// An `Unknown` condition (no severity), time unset.
    pub fn unknown_condition(
        type_: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Condition {
        Condition {
            type_: type_.into(),
            status: STATUS_UNKNOWN.into(),
            severity: None,
            last_transition_time: unset_time(),
            reason: non_empty(reason),
            message: non_empty(message),
        }
    }

    /// The severity parsed as [`Severity`], if it is one of the three known values.
    pub fn severity(&self) -> Option<Severity> {
        self.severity.as_deref().and_then(Severity::parse)
    }

    /// Whether `lastTransitionTime` is unset (at or before the Unix epoch, the analogue of Go's
    /// zero time).
    pub fn has_unset_time(&self) -> bool {
        self.last_transition_time.0 <= Timestamp::UNIX_EPOCH
    }

    /// CAPI's "same state": status, reason, severity and message all equal (empty == absent).
    pub fn has_same_state(&self, other: &Condition) -> bool {
        fn s(o: &Option<String>) -> &str {
            o.as_deref().unwrap_or_default()
        }
        self.type_ == other.type_
            && self.status == other.status
            && s(&self.reason) == s(&other.reason)
            && s(&self.severity) == s(&other.severity)
            && s(&self.message) == s(&other.message)
    }

    fn normalize(mut self) -> Condition {
        for o in [&mut self.severity, &mut self.reason, &mut self.message] {
            if o.as_deref() == Some("") {
                *o = None;
            }
        }
        self
    }
}

/// `now`, truncated to whole seconds as CAPI does (and as `Time` serializes).
fn truncate(now: Timestamp) -> Time {
    Time(
        now.round(
            TimestampRound::new()
                .smallest(Unit::Second)
                .mode(jiff::RoundMode::Trunc),
        )
        .unwrap_or(now),
    )
}

/// CAPI's ordering: `Ready` first, then by type.
fn ordering(a: &Condition, b: &Condition) -> std::cmp::Ordering {
    (a.type_ != READY, &a.type_).cmp(&(b.type_ != READY, &b.type_))
}

/// Upserts `condition` with `now` as the current time (see the module docs for the rules).
pub fn set_at(conditions: &mut Vec<Condition>, condition: Condition, now: Timestamp) {
    let mut condition = condition.normalize();
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if !existing.has_same_state(&condition) {
                condition.last_transition_time = truncate(now);
                *existing = condition;
            }
        }
        None => {
            if condition.has_unset_time() {
                condition.last_transition_time = truncate(now);
            }
            conditions.push(condition);
        }
    }
    conditions.sort_by(ordering);
}

/// [`set_at`] with the current time.
pub fn set(conditions: &mut Vec<Condition>, condition: Condition) {
    set_at(conditions, condition, Timestamp::now());
}

/// Sets `type_` to `True`, clearing reason, severity and message.
pub fn mark_true_at(conditions: &mut Vec<Condition>, type_: &str, now: Timestamp) {
    set_at(conditions, Condition::true_condition(type_), now);
}

/// [`mark_true_at`] with the current time.
pub fn mark_true(conditions: &mut Vec<Condition>, type_: &str) {
    mark_true_at(conditions, type_, Timestamp::now());
}

/// Sets `type_` to `False` with the given reason, severity and message.
pub fn mark_false_at(
    conditions: &mut Vec<Condition>,
    type_: &str,
    reason: &str,
    severity: Severity,
    message: &str,
    now: Timestamp,
) {
    set_at(
        conditions,
        Condition::false_condition(type_, reason, severity, message),
        now,
    );
}

/// [`mark_false_at`] with the current time.
pub fn mark_false(
    conditions: &mut Vec<Condition>,
    type_: &str,
    reason: &str,
    severity: Severity,
    message: &str,
) {
    mark_false_at(
        conditions,
        type_,
        reason,
        severity,
        message,
        Timestamp::now(),
    );
}

/// Sets `type_` to `Unknown` with the given reason and message (no severity).
pub fn mark_unknown_at(
    conditions: &mut Vec<Condition>,
    type_: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    set_at(
        conditions,
        Condition::unknown_condition(type_, reason, message),
        now,
    );
}

/// [`mark_unknown_at`] with the current time.
pub fn mark_unknown(conditions: &mut Vec<Condition>, type_: &str, reason: &str, message: &str) {
    mark_unknown_at(conditions, type_, reason, message, Timestamp::now());
}

/// The condition of the given type, if present.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether a condition of the given type is present.
pub fn has(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some()
}

/// Whether the condition is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == STATUS_TRUE)
}

/// Whether the condition is present with status `False`.
pub fn is_false(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == STATUS_FALSE)
}

/// Whether the condition is absent or has status `Unknown` (CAPI's `IsUnknown`).
pub fn is_unknown(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_none_or(|c| c.status == STATUS_UNKNOWN)
}

/// Removes the condition of the given type, keeping the order of the others.
pub fn delete(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

#[cfg(test)]
mod tests;
