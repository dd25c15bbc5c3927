//! The error type of every power operation. Each error names its target (`BMC host:port` or
//! `management API host:port`) and the failing step. Passwords are never part of an error:
//! no variant has a field that could hold one.

use std::time::Duration;

use crate::ipmi::codec::CodecError;

/// Where a power operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Resolving the endpoint name.
    Resolve,
    /// Opening the socket / TCP connection.
    Connect,
    /// Get Channel Authentication Capabilities (App 0x38).
    GetChannelAuthCapabilities,
    /// RMCP+ Open Session Request/Response.
    OpenSession,
    /// RAKP Messages 1 and 2.
    Rakp12,
    /// RAKP Messages 3 and 4.
    Rakp34,
    /// Set Session Privilege Level (App 0x3B).
    SetSessionPrivilege,
    /// Close Session (App 0x3C).
    CloseSession,
    /// Get Chassis Status (Chassis 0x01).
    GetChassisStatus,
    /// Chassis Control (Chassis 0x02) with this control byte.
    ChassisControl(u8),
    /// Set System Boot Options (Chassis 0x08) for this parameter (and, for param 0, value).
    SetBootOption(u8, u8),
    /// A management API request, e.g. `POST /poweron`.
    Api(&'static str),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Resolve => f.write_str("resolve address"),
            Self::Connect => f.write_str("connect"),
            Self::GetChannelAuthCapabilities => {
                f.write_str("get channel authentication capabilities")
            }
            Self::OpenSession => f.write_str("RMCP+ open session"),
            Self::Rakp12 => f.write_str("RAKP 1/2"),
            Self::Rakp34 => f.write_str("RAKP 3/4"),
            Self::SetSessionPrivilege => f.write_str("set session privilege level"),
            Self::CloseSession => f.write_str("close session"),
            Self::GetChassisStatus => f.write_str("get chassis status"),
            Self::ChassisControl(c) => {
                let what = match c {
                    0x00 => "power off",
                    0x01 => "power on",
                    0x02 => "power cycle",
                    0x03 => "hard reset",
                    _ => "other",
                };
                write!(f, "chassis control ({what})")
            }
            Self::SetBootOption(param, value) => {
                let what = match (param, value) {
                    (0, 0x01) => "set in progress",
                    (0, 0x02) => "commit write",
                    (0, _) => "set complete",
                    (4, _) => "boot info acknowledge",
                    (5, _) => "boot flags",
                    _ => "other",
                };
                write!(f, "set system boot options (param {param}, {what})")
            }
            Self::Api(req) => f.write_str(req),
        }
    }
}

/// A failed power operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PowerError {
    /// No (valid) answer arrived in time, after all retransmissions.
    #[error("{target}: {step}: no answer after {attempts} attempt(s) of {timeout:?}{hint}")]
    Timeout {
        /// The BMC or API.
        target: String,
        /// Failing step.
        step: Step,
        /// Attempts made.
        attempts: u32,
        /// Timeout of each attempt.
        timeout: Duration,
        /// Extra context (e.g. "; ICMP port unreachable: nothing listens there?"), may be empty.
        hint: String,
    },
    /// The BMC rejected or failed our credentials (or proved it does not know them).
    #[error("{target}: {step}: authentication failed: {reason}")]
    Auth {
        /// The BMC.
        target: String,
        /// Failing step.
        step: Step,
        /// What went wrong, without any secret.
        reason: String,
    },
    /// The BMC answered a session-setup message with a non-zero RMCP+ status code.
    #[error("{target}: {step}: RMCP+ status {code:#04x} ({}){context}", rmcp_status_text(*code))]
    RmcpStatus {
        /// The BMC.
        target: String,
        /// Failing step.
        step: Step,
        /// The status code.
        code: u8,
        /// Extra context (e.g. which cipher suite was refused), may be empty.
        context: String,
    },
    /// The BMC answered an IPMI command with a non-zero completion code.
    #[error("{target}: {step}: completion code {code:#04x} ({})", completion_code_text(*code))]
    Completion {
        /// The BMC.
        target: String,
        /// Failing step.
        step: Step,
        /// The completion code.
        code: u8,
    },
    /// The answer could not be decoded or does not fit the protocol.
    #[error("{target}: {step}: bad response: {detail}")]
    Protocol {
        /// The BMC or API.
        target: String,
        /// Failing step.
        step: Step,
        /// What is wrong with it.
        detail: String,
    },
    /// A socket or connection error.
    #[error("{target}: {step}: {source}")]
    Io {
        /// The BMC or API.
        target: String,
        /// Failing step.
        step: Step,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The BMC interface is not implemented (only `lanplus` is).
    #[error("{target}: unsupported interface {interface:?} (supported: lanplus)")]
    UnsupportedInterface {
        /// The BMC.
        target: String,
        /// The interface asked for.
        interface: String,
    },
    /// A setting is invalid (cipher suite, over-long user name or password, …).
    #[error("{target}: invalid configuration: {detail}")]
    Config {
        /// The BMC or API.
        target: String,
        /// What is wrong.
        detail: String,
    },
    /// PXE mode other than `bios` / `uefi`.
    #[error("unsupported mode {0:?}")]
    UnsupportedMode(String),
    /// The management API answered with a status other than 200.
    #[error("{target}: {step}: API error: {status_line}")]
    Api {
        /// The management API.
        target: String,
        /// Failing request.
        step: Step,
        /// Status line, e.g. `500 Internal Server Error`.
        status_line: String,
    },
    /// Injected by [`crate::SimulatedFailures`] (test-only flags).
    #[error("simulated failure from the power management")]
    Simulated,
}

impl PowerError {
    /// Builds a [`PowerError::Protocol`] from a codec error.
    pub(crate) fn codec(target: &str, step: Step, e: &CodecError) -> Self {
        Self::Protocol {
            target: target.to_owned(),
            step,
            detail: e.to_string(),
        }
    }

    /// The failing step, when there is one.
    pub fn step(&self) -> Option<Step> {
        match self {
            Self::Timeout { step, .. }
            | Self::Auth { step, .. }
            | Self::RmcpStatus { step, .. }
            | Self::Completion { step, .. }
            | Self::Protocol { step, .. }
            | Self::Io { step, .. }
            | Self::Api { step, .. } => Some(*step),
            _ => None,
        }
    }

    /// Whether the session that produced this error should be dropped and re-established
    /// (transport or protocol trouble, as opposed to a clean refusal of one command).
    pub fn breaks_session(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Protocol { .. } | Self::Io { .. } | Self::Auth { .. }
        ) || matches!(self, Self::Completion { code, .. } if matches!(code, 0xD4 | 0xFF))
    }
}

/// Meaning of RMCP+ status codes (IPMI v2.0 table 13-15).
pub fn rmcp_status_text(code: u8) -> &'static str {
    match code {
        0x00 => "no errors",
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "unknown status",
    }
}

/// Meaning of common IPMI completion codes (IPMI v2.0 table 5-2).
pub fn completion_code_text(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC2 => "invalid for this LUN",
        0xC3 => "timeout while processing",
        0xC4 => "out of space",
        0xC5 => "reservation cancelled or invalid",
        0xC6 => "request data truncated",
        0xC7 => "request data length invalid",
        0xC8 => "request data field length limit exceeded",
        0xC9 => "parameter out of range",
        0xCA => "cannot return number of requested data bytes",
        0xCB => "requested sensor, data or record not present",
        0xCC => "invalid data field in request",
        0xCD => "command illegal for this sensor or record type",
        0xCE => "command response could not be provided",
        0xCF => "cannot execute duplicated request",
        0xD0 => "SDR repository in update mode",
        0xD1 => "device in firmware update mode",
        0xD2 => "BMC initialization in progress",
        0xD3 => "destination unavailable",
        0xD4 => "insufficient privilege level",
        0xD5 => "not supported in present state",
        0xD6 => "parameter is illegal because a sub-function is disabled",
        0x80 => "parameter not supported / set in progress",
        0x81 => "attempt to set 'set in progress' while not in 'set complete' state",
        0x82 => "attempt to write a read-only parameter",
        _ => "unspecified error",
    }
}
