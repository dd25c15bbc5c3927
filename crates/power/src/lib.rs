//! Power management of bare-metal servers for Sidero Metal, protocol level only (nothing
//! here knows Kubernetes).
//!
//! * [`PowerManager`]: power status, on, off, cycle, one-time PXE (UEFI or BIOS flavour)
//!   and one-time disk boot, `is_fake`.
//! * [`IpmiClient`]: native IPMI v2.0 RMCP+ (`lanplus`), cipher suites 17 and 3, with a
//!   per-BMC [`SessionCache`]; the packet codec in [`ipmi::codec`] never panics on hostile
//!   input.
//! * [`ManagementApiClient`]: the HTTP power API of simulated (QEMU) machines.
//! * [`RedfishClient`]: Redfish (`ComputerSystem.Reset`, one-time `Boot` override) over
//!   HTTPS (rustls + ring) or HTTP, with session or basic auth; see [`redfish`].
//! * [`NotManaged`]: servers without power management; actions report
//!   [`PowerOutcome::NotManaged`].
//! * [`SimulatedFailures`]: test-only failure injection around any manager.
//! * [`select_power_manager`]: upstream's client selection (§9.1).
//!
//! Errors ([`PowerError`]) name the target (`BMC host:port` / `management API host:port`)
//! and the failing [`Step`], and never contain a password.

pub mod error;
mod fake;
pub mod ipmi;
mod manager;
mod mgmt_api;
pub mod redfish;
mod select;
mod simulated;

pub use error::{PowerError, Step};
pub use fake::{NotManaged, NotManagedReason};
pub use ipmi::{IpmiClient, IpmiConfig, SessionCache};
pub use manager::{BootMode, PowerFuture, PowerManager, PowerOutcome, PowerState};
pub use mgmt_api::{DEFAULT_API_TIMEOUT, ManagementApiClient};
pub use redfish::{
    RedfishAuth, RedfishClient, RedfishConfig, RedfishEndpoint, RedfishSessions, TlsVerification,
};
pub use select::{BmcInfo, InjectionScope, SelectOptions, select_power_manager};
pub use simulated::{FailureInjection, InjectionStats, SimulatedFailures};
