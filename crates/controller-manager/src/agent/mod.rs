//! The Agent gRPC API (`api.Agent`, spec §7.1): what the discovery agent calls while it runs
//! on a server.
//!
//! * `CreateServer` registers the server (a `Server` named by its SMBIOS UUID, hardware mapped
//!   from the report) unless it exists, and answers whether to wipe and set up the BMC;
//! * `MarkServerAsWiped` sets `status.isClean` and `PowerCycle=True`;
//! * `ReconcileServerAddresses` replaces the server's addresses of the reported types;
//! * `Heartbeat` refreshes `PowerCycle` so the wipe timeout restarts;
//! * `UpdateBMCInfo` records the BMC endpoint, and its credentials in the Secret
//!   `default/<uuid>-bmc` (never in the `Server`).
//!
//! Once a Server is accepted, only its agent may call about it ([`auth`]).
//!
//! Decisions are pure functions in [`decide`]; [`AgentService`] reads, decides and writes.
//! Status and spec writes are merge patches guarded by the `resourceVersion` that was read,
//! retried on conflict, so concurrent writes by the controllers are never overwritten.
//! Events carry upstream's reasons and messages, reported as `sidero-server`.
//!
//! Mount it with [`routes`] and [`crate::http::combined`].

pub mod auth;
pub mod decide;
mod error;
mod service;

use std::time::Duration;

pub use auth::AgentAuth;
pub use error::AgentError;
pub use service::AgentService;

use crate::config::Flags;

/// Largest request (and response) message accepted, in bytes. A real report is a few KiB.
pub const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Reporting component of the Agent API's Events (upstream's `sidero-server`).
pub const EVENT_REPORTER: &str = "sidero-server";

/// Field manager of the Agent API's writes.
pub const FIELD_MANAGER: &str = "sidero-server";

/// Event reason and message for a newly registered server.
pub const EVENT_REGISTRATION: (&str, &str) =
    ("Server Registration", "Server auto-registered via API.");
/// Event reason and message for a wiped server.
pub const EVENT_WIPE: (&str, &str) = ("Server Wipe", "Server wiped via agent.");
/// Event reason and message for new BMC information.
pub const EVENT_BMC_UPDATE: (&str, &str) = ("BMC Update", "BMC info updated via API.");

/// The flags the Agent API's answers depend on (spec §10.1).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    /// `--auto-accept-servers`: new servers are created `accepted: true`.
    pub auto_accept_servers: bool,
    /// `--insecure-wipe`: ask for the fast wipe instead of zeroing whole disks.
    pub insecure_wipe: bool,
    /// `--auto-bmc-setup`: ask the agent to configure the BMC of servers without one.
    pub auto_bmc_setup: bool,
    /// `--server-reboot-timeout`, sent as `reboot_timeout` in seconds.
    pub server_reboot_timeout: Duration,
}

impl AgentConfig {
    /// The Agent API's settings from the command line.
    pub fn from_flags(flags: &Flags) -> AgentConfig {
        AgentConfig {
            auto_accept_servers: flags.auto_accept_servers,
            insecure_wipe: flags.insecure_wipe,
            auto_bmc_setup: flags.auto_bmc_setup,
            server_reboot_timeout: flags.server_reboot_timeout,
        }
    }
}

impl Default for AgentConfig {
    /// Upstream's defaults: no auto-accept, insecure wipe, auto BMC setup, 20 minutes.
    fn default() -> AgentConfig {
        AgentConfig {
            auto_accept_servers: false,
            insecure_wipe: true,
            auto_bmc_setup: true,
            server_reboot_timeout: Duration::from_secs(20 * 60),
        }
    }
}

/// The gRPC routes serving `api.Agent`, ready for [`crate::http::combined`]. Messages larger
/// than [`MAX_MESSAGE_SIZE`] are refused.
pub fn routes(client: kube::Client, config: AgentConfig) -> tonic::service::Routes {
    routes_with_auth(client, config, None)
}

/// [`routes`], serving calls about accepted Servers only to their agent when `auth` is set
/// (see [`auth`]).
pub fn routes_with_auth(
    client: kube::Client,
    config: AgentConfig,
    auth: Option<AgentAuth>,
) -> tonic::service::Routes {
    tonic::service::Routes::new(
        AgentService::new(client, config)
            .with_auth(auth)
            .into_server(),
    )
}

#[cfg(test)]
mod tests;
