//! The [`PowerManager`] trait every power back end implements, and its value types.

use std::future::Future;
use std::pin::Pin;

use crate::error::PowerError;

/// The future returned by [`PowerManager`] methods (boxed so the trait is object safe).
pub type PowerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PowerError>> + Send + 'a>>;

/// Power state as reported by the back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    /// Powered on.
    On,
    /// Powered off.
    Off,
    /// The back end answered but the state could not be determined.
    Unknown,
}

impl PowerState {
    /// The `Server.status.power` string: `"on"`, `"off"` or `"unknown"`.
    pub fn as_status_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Unknown => "unknown",
        }
    }

    /// Maps a status query result the way the Server controller does: errors are "unknown".
    pub fn from_query(result: &Result<PowerState, PowerError>) -> Self {
        match result {
            Ok(s) => *s,
            Err(_) => Self::Unknown,
        }
    }
}

/// What a power action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOutcome {
    /// The back end accepted the command.
    Done,
    /// Nothing was done: this server has no power management (see
    /// [`crate::NotManaged`]). The controller should say so instead of claiming success.
    NotManaged,
    /// The back end cannot do this (e.g. the management API cannot select the disk);
    /// nothing was done.
    Unsupported,
}

/// Firmware flavour of a one-time boot device override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BootMode {
    /// Legacy BIOS (boot flags `0x80`: valid, next boot only).
    Bios,
    /// UEFI (boot flags `0xA0`: valid, next boot only, EFI). Upstream's default.
    #[default]
    Uefi,
}

impl BootMode {
    /// IPMI boot flags byte 1 (param 5, data 1).
    pub fn boot_flags(self) -> u8 {
        match self {
            Self::Bios => 0x80,
            Self::Uefi => 0xA0,
        }
    }
}

impl std::str::FromStr for BootMode {
    type Err = PowerError;

    /// Parses `bios` or `uefi` (the `--ipmi-pxe-method` / `spec.pxeMode` values).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bios" => Ok(Self::Bios),
            "uefi" => Ok(Self::Uefi),
            other => Err(PowerError::UnsupportedMode(other.to_owned())),
        }
    }
}

impl std::fmt::Display for BootMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bios => "bios",
            Self::Uefi => "uefi",
        })
    }
}

/// Power management of one server (upstream's `PowerManager`: `PowerOn`, `PowerOff`,
/// `PowerCycle`, `IsPoweredOn`, `SetPXE`, `IsFake`).
///
/// Implementations are cheap to create per reconcile; expensive state (IPMI sessions) lives
/// in shared caches.
pub trait PowerManager: Send + Sync + std::fmt::Debug {
    /// Current power state.
    fn power_status(&self) -> PowerFuture<'_, PowerState>;
    /// Powers on.
    fn power_on(&self) -> PowerFuture<'_, PowerOutcome>;
    /// Powers off (hard).
    fn power_off(&self) -> PowerFuture<'_, PowerOutcome>;
    /// Power cycles (off, then on).
    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome>;
    /// Sets the next boot (only) to PXE with the given firmware flavour.
    fn set_pxe_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome>;
    /// Sets the next boot (only) to the default disk with the given firmware flavour.
    fn set_boot_disk_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome>;
    /// True for the no-management client, whose actions are no-ops (upstream `IsFake`).
    fn is_fake(&self) -> bool;
    /// `host:port` style description of the target, for logs and events (no secrets).
    fn target(&self) -> String;
}
