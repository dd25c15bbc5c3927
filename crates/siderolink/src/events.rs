//! Talos machine events (spec §8.6): decoding the `Any` payload of an `events.EventRequest`,
//! and the pure mapping from an event to its effects on the node's ServerBinding.

use std::net::IpAddr;

use prost::{Message, Name};
use prost_types::Any;
use serde_json::{Map, Value, json};
use sidero_proto::{common, machine};

/// Condition: the machine configuration was loaded.
pub const TALOS_CONFIG_LOADED: &str = "TalosConfigLoaded";
/// Condition: the machine configuration was validated.
pub const TALOS_CONFIG_VALIDATED: &str = "TalosConfigValidated";
/// Condition: Talos is installed on disk.
pub const TALOS_INSTALLED: &str = "TalosInstalled";

/// Reason: the installation is running.
pub const REASON_INSTALL_IN_PROGRESS: &str = "TalosInstallationInProgress";
/// Reason: the installation failed.
pub const REASON_INSTALL_FAILED: &str = "TalosInstallationFailed";
/// Reason: the configuration could not be loaded.
pub const REASON_CONFIG_LOAD_FAILED: &str = "TalosConfigLoadFailed";
/// Reason: the configuration is invalid.
pub const REASON_CONFIG_VALIDATION_FAILED: &str = "TalosConfigValidationFailed";

/// A decoded event of a type Sidero handles.
#[derive(Clone, Debug, PartialEq)]
pub enum TalosEvent {
    /// `machine.AddressEvent`.
    Address(machine::AddressEvent),
    /// `machine.ConfigValidationErrorEvent`.
    ConfigValidationError(machine::ConfigValidationErrorEvent),
    /// `machine.ConfigLoadErrorEvent`.
    ConfigLoadError(machine::ConfigLoadErrorEvent),
    /// `machine.PhaseEvent`.
    Phase(machine::PhaseEvent),
    /// `machine.TaskEvent`.
    Task(machine::TaskEvent),
    /// `machine.ServiceStateEvent`.
    ServiceState(machine::ServiceStateEvent),
    /// `machine.SequenceEvent`.
    Sequence(machine::SequenceEvent),
}

/// The payload of a known type did not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("failed to decode {type_url}: {error}")]
pub struct DecodeError {
    /// The `Any` type URL.
    pub type_url: String,
    /// The protobuf error.
    pub error: String,
}

fn unpack<M: Message + Default>(any: &Any) -> Result<M, DecodeError> {
    M::decode(any.value.as_slice()).map_err(|e| DecodeError {
        type_url: any.type_url.clone(),
        error: e.to_string(),
    })
}

/// Decodes `any`: `Ok(None)` for a type Sidero ignores (acknowledged, not an error).
pub fn decode(any: &Any) -> Result<Option<TalosEvent>, DecodeError> {
    let t = any.type_url.as_str();
    let event = if t == machine::AddressEvent::type_url() {
        TalosEvent::Address(unpack(any)?)
    } else if t == machine::ConfigValidationErrorEvent::type_url() {
        TalosEvent::ConfigValidationError(unpack(any)?)
    } else if t == machine::ConfigLoadErrorEvent::type_url() {
        TalosEvent::ConfigLoadError(unpack(any)?)
    } else if t == machine::PhaseEvent::type_url() {
        TalosEvent::Phase(unpack(any)?)
    } else if t == machine::TaskEvent::type_url() {
        TalosEvent::Task(unpack(any)?)
    } else if t == machine::ServiceStateEvent::type_url() {
        TalosEvent::ServiceState(unpack(any)?)
    } else if t == machine::SequenceEvent::type_url() {
        TalosEvent::Sequence(unpack(any)?)
    } else {
        return Ok(None);
    };
    Ok(Some(event))
}

/// A condition to set on the ServerBinding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionChange {
    /// Condition type.
    pub type_: &'static str,
    /// `true` → `True` (reason, severity and message cleared); `false` → `False`.
    pub status: bool,
    /// Reason of a `False` condition.
    pub reason: &'static str,
    /// Severity of a `False` condition: `Error` or `Info`.
    pub severity: &'static str,
    /// Message of a `False` condition.
    pub message: String,
}

impl ConditionChange {
    fn true_(type_: &'static str) -> ConditionChange {
        ConditionChange {
            type_,
            status: true,
            reason: "",
            severity: "",
            message: String::new(),
        }
    }

    fn false_(
        type_: &'static str,
        reason: &'static str,
        severity: &'static str,
        message: String,
    ) -> ConditionChange {
        ConditionChange {
            type_,
            status: false,
            reason,
            severity,
            message,
        }
    }
}

/// What an event changes on the ServerBinding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Conditions to set, in order.
    pub conditions: Vec<ConditionChange>,
    /// New `spec.hostname` and `spec.addresses`, for an AddressEvent.
    pub addresses: Option<(String, Vec<String>)>,
}

impl Effects {
    /// Whether the event changes nothing.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.addresses.is_none()
    }
}

/// A CIDR prefix of `--negative-address-filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("invalid CIDR address: {s}");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad());
        }
        Ok(Cidr { addr, len })
    }
}

impl Cidr {
    /// Whether `ip` is inside the prefix (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bytes: &[u8], len: u8) -> Vec<u8> {
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let bits = (len as usize).saturating_sub(i * 8).min(8);
                    b & (0xffu16 << (8 - bits)) as u8
                })
                .collect()
        }
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(&a.octets(), self.len) == masked(&b.octets(), self.len)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(&a.octets(), self.len) == masked(&b.octets(), self.len)
            }
            _ => false,
        }
    }
}

/// Parses `--negative-address-filter` entries: `-` and empty entries are ignored; any other
/// invalid entry is an error (startup aborts, as upstream).
pub fn parse_filter<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Vec<Cidr>, String> {
    entries
        .into_iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "-")
        .map(str::parse)
        .collect()
}

/// The node addresses to record: the event's, minus unparsable entries, the node's own
/// SideroLink address and anything inside a filter prefix. Entries may carry a prefix length
/// (`10.5.0.2/24`), which is dropped.
pub fn filter_addresses(addresses: &[String], node: IpAddr, filter: &[Cidr]) -> Vec<String> {
    addresses
        .iter()
        .filter_map(|a| {
            let ip: IpAddr = a
                .split_once('/')
                .map_or(a.as_str(), |(ip, _)| ip)
                .parse()
                .ok()?;
            (ip.to_canonical() != node.to_canonical() && !filter.iter().any(|c| c.contains(ip)))
                .then(|| ip.to_string())
        })
        .collect()
}

/// The spec's event → ServerBinding table. `node` is the node's tunnel IP.
pub fn effects(event: &TalosEvent, node: IpAddr, filter: &[Cidr]) -> Effects {
    use ConditionChange as C;
    let mut fx = Effects::default();
    match event {
        TalosEvent::Address(e) => {
            fx.addresses = Some((
                e.hostname.clone(),
                filter_addresses(&e.addresses, node, filter),
            ));
        }
        TalosEvent::Phase(e) if e.action() == machine::phase_event::Action::Start => {
            match e.phase.as_str() {
                "install" => fx.conditions.push(C::false_(
                    TALOS_INSTALLED,
                    REASON_INSTALL_IN_PROGRESS,
                    "Info",
                    String::new(),
                )),
                "saveConfig" => {
                    fx.conditions.push(C::true_(TALOS_CONFIG_VALIDATED));
                    fx.conditions.push(C::true_(TALOS_CONFIG_LOADED));
                }
                _ => {}
            }
        }
        TalosEvent::Sequence(e) => {
            use machine::sequence_event::Action;
            match (e.sequence.as_str(), e.action()) {
                ("boot", Action::Start) => {
                    fx.conditions.push(C::true_(TALOS_INSTALLED));
                    fx.conditions.push(C::true_(TALOS_CONFIG_VALIDATED));
                    fx.conditions.push(C::true_(TALOS_CONFIG_LOADED));
                }
                ("install", Action::Noop) => {
                    if let Some(err) = e
                        .error
                        .as_ref()
                        .filter(|err| err.code() == common::Code::Fatal)
                    {
                        if err.message.contains("unix.Reboot") {
                            fx.conditions.push(C::true_(TALOS_INSTALLED));
                        } else {
                            fx.conditions.push(C::false_(
                                TALOS_INSTALLED,
                                REASON_INSTALL_FAILED,
                                "Error",
                                err.message.clone(),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        TalosEvent::ConfigLoadError(e) => fx.conditions.push(C::false_(
            TALOS_CONFIG_LOADED,
            REASON_CONFIG_LOAD_FAILED,
            "Error",
            e.error.clone(),
        )),
        TalosEvent::ConfigValidationError(e) => fx.conditions.push(C::false_(
            TALOS_CONFIG_VALIDATED,
            REASON_CONFIG_VALIDATION_FAILED,
            "Error",
            e.error.clone(),
        )),
        TalosEvent::Phase(_) | TalosEvent::Task(_) | TalosEvent::ServiceState(_) => {}
    }
    fx
}

/// The event's own fields for the `serverevents` log line.
pub fn log_fields(event: &TalosEvent) -> Map<String, Value> {
    let v = match event {
        TalosEvent::Address(e) => {
            json!({"hostname": e.hostname, "addresses": e.addresses.join(",")})
        }
        TalosEvent::ConfigLoadError(e) => json!({"error": e.error}),
        TalosEvent::ConfigValidationError(e) => json!({"error": e.error}),
        TalosEvent::Phase(e) => json!({"phase": e.phase, "action": e.action().as_str_name()}),
        TalosEvent::Task(e) => json!({"task": e.task, "action": e.action().as_str_name()}),
        TalosEvent::ServiceState(e) => json!({
            "service": e.service,
            "action": e.action().as_str_name(),
            "message": e.message,
            "health": e.health.as_ref().map(|h| json!({"unknown": h.unknown, "healthy": h.healthy, "lastMessage": h.last_message})),
        }),
        TalosEvent::Sequence(e) => json!({
            "sequence": e.sequence,
            "action": e.action().as_str_name(),
            "error": e.error.as_ref().map(|err| json!({"code": err.code().as_str_name(), "message": err.message})),
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests;
