//! The "no power management" client (upstream's fake client, §9.1).
//!
//! For compatibility it answers like upstream: `power_status` is `On` and `is_fake()` is
//! true. It never claims to have done anything: every action returns
//! [`PowerOutcome::NotManaged`], and [`NotManaged::reason`] says why, so the controller can
//! report "waiting: this server has no power management" instead of a success event.

use crate::manager::{BootMode, PowerFuture, PowerManager, PowerOutcome, PowerState};

/// Why a server has no power management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotManagedReason {
    /// Neither `spec.bmc` nor `spec.managementApi` is set.
    NoBmcOrApi,
    /// `spec.bmc` is set but the user or password is still empty (the agent has reported
    /// the BMC address but not yet created the IPMI user).
    BmcCredentialsIncomplete,
}

impl std::fmt::Display for NotManagedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoBmcOrApi => "this server has no power management (no BMC, no management API)",
            Self::BmcCredentialsIncomplete => {
                "this server's BMC has no user/password yet (no power management until then)"
            }
        })
    }
}

/// A power manager for servers without power management. Operations are no-ops.
#[derive(Debug, Clone, Copy)]
pub struct NotManaged {
    /// Why there is no power management.
    pub reason: NotManagedReason,
}

impl NotManaged {
    /// Creates the client.
    pub fn new(reason: NotManagedReason) -> Self {
        Self { reason }
    }
}

impl PowerManager for NotManaged {
    /// Always `On`, as upstream (§9.1); check [`PowerManager::is_fake`] before trusting it.
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        Box::pin(async { Ok(PowerState::On) })
    }

    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(async { Ok(PowerOutcome::NotManaged) })
    }

    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(async { Ok(PowerOutcome::NotManaged) })
    }

    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(async { Ok(PowerOutcome::NotManaged) })
    }

    fn set_pxe_once(&self, _mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(async { Ok(PowerOutcome::NotManaged) })
    }

    fn set_boot_disk_once(&self, _mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(async { Ok(PowerOutcome::NotManaged) })
    }

    fn is_fake(&self) -> bool {
        true
    }

    fn target(&self) -> String {
        format!("not managed: {}", self.reason)
    }
}
