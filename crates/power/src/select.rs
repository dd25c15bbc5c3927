//! Client selection per Server and reconcile (§9.1), from already-resolved settings
//! (resolving `userFrom`/`passFrom` Secrets is the controller's job).
//!
//! 1. BMC given: user or password empty → [`NotManaged`] (credentials not populated yet);
//!    else interface (default `lanplus`) and port (default 623) → [`IpmiClient`];
//!    interface `redfish` (HTTPS) or `redfish+http` (plain HTTP) → [`RedfishClient`], with
//!    the endpoint as `host`, `host:port` or a full URL (see [`RedfishEndpoint`]).
//! 2. Else a management API endpoint → [`ManagementApiClient`].
//! 3. Else → [`NotManaged`].
//!
//! With failure injection enabled the chosen client is wrapped in [`SimulatedFailures`]:
//! by default only the management API client, as upstream.

use std::sync::Arc;
use std::time::Duration;

use crate::error::PowerError;
use crate::fake::{NotManaged, NotManagedReason};
use crate::ipmi::{DEFAULT_PORT, IpmiClient, IpmiConfig, SessionCache, bmc_target};
use crate::manager::PowerManager;
use crate::mgmt_api::{DEFAULT_API_TIMEOUT, ManagementApiClient};
use crate::redfish::{RedfishClient, RedfishConfig, RedfishEndpoint, Scheme};
use crate::simulated::{FailureInjection, SimulatedFailures};

/// Resolved BMC settings of a Server (`spec.bmc` after Secret resolution). `Debug` never
/// shows the password.
#[derive(Clone, Default)]
pub struct BmcInfo {
    /// BMC address or host name.
    pub endpoint: String,
    /// RMCP port; `None` or 0 means 623.
    pub port: Option<u16>,
    /// IPMI user.
    pub user: String,
    /// IPMI password.
    pub pass: String,
    /// `lanplus` (default when empty), `redfish` (HTTPS), `redfish+http` (plain HTTP).
    pub interface: Option<String>,
}

impl std::fmt::Debug for BmcInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcInfo")
            .field("endpoint", &self.endpoint)
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "pass",
                &if self.pass.is_empty() {
                    "<empty>"
                } else {
                    "<redacted>"
                },
            )
            .field("interface", &self.interface)
            .finish()
    }
}

/// Which clients failure injection wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InjectionScope {
    /// Only the management API client (upstream behaviour).
    #[default]
    ManagementApiOnly,
    /// Every client, including IPMI and the no-management client.
    All,
}

/// Process-wide settings for [`select_power_manager`].
#[derive(Debug, Clone)]
pub struct SelectOptions {
    /// IPMI tuning.
    pub ipmi: IpmiConfig,
    /// Shared IPMI session cache.
    pub sessions: Arc<SessionCache>,
    /// Management API call timeout (10 s upstream).
    pub api_timeout: Duration,
    /// Failure injection (test flags); `None` or all-zero probabilities disable it.
    pub injection: Option<Arc<FailureInjection>>,
    /// What the injection wraps.
    pub injection_scope: InjectionScope,
    /// Redfish settings (timeout, auth, TLS verification, shared sessions).
    pub redfish: RedfishConfig,
}

impl Default for SelectOptions {
    fn default() -> Self {
        Self {
            ipmi: IpmiConfig::default(),
            sessions: SessionCache::new(),
            api_timeout: DEFAULT_API_TIMEOUT,
            injection: None,
            injection_scope: InjectionScope::default(),
            redfish: RedfishConfig::default(),
        }
    }
}

/// Returns the power manager for a Server (§9.1). Errors: an unsupported BMC interface or
/// invalid IPMI settings (the controller reports "Failed to initialize management client").
pub fn select_power_manager(
    bmc: Option<&BmcInfo>,
    management_api: Option<&str>,
    opts: &SelectOptions,
) -> Result<Box<dyn PowerManager>, PowerError> {
    let (client, is_api): (Box<dyn PowerManager>, bool) = match (bmc, management_api) {
        (Some(b), _) if b.user.is_empty() || b.pass.is_empty() => (
            Box::new(NotManaged::new(NotManagedReason::BmcCredentialsIncomplete)),
            false,
        ),
        (Some(b), _) => {
            let port = b.port.filter(|p| *p != 0).unwrap_or(DEFAULT_PORT);
            match b.interface.as_deref().unwrap_or("") {
                "" | "lanplus" => (
                    Box::new(IpmiClient::new(
                        &b.endpoint,
                        port,
                        &b.user,
                        &b.pass,
                        opts.ipmi.clone(),
                        opts.sessions.clone(),
                    )?),
                    false,
                ),
                iface @ ("redfish" | "redfish+http" | "redfish+https") => {
                    let scheme = if iface == "redfish+http" {
                        Scheme::Http
                    } else {
                        Scheme::Https
                    };
                    let ep =
                        RedfishEndpoint::parse(&b.endpoint, scheme, b.port).map_err(|detail| {
                            PowerError::Config {
                                // Never echo user information (`user:pass@`) of a URL.
                                target: format!(
                                    "Redfish BMC {}",
                                    b.endpoint.rsplit('@').next().unwrap_or_default()
                                ),
                                detail,
                            }
                        })?;
                    (
                        Box::new(RedfishClient::new(
                            ep,
                            &b.user,
                            &b.pass,
                            opts.redfish.clone(),
                        )?),
                        false,
                    )
                }
                other => {
                    return Err(PowerError::UnsupportedInterface {
                        target: bmc_target(&b.endpoint, port),
                        interface: other.to_owned(),
                    });
                }
            }
        }
        (None, Some(ep)) if !ep.is_empty() => (
            Box::new(ManagementApiClient::with_timeout(ep, opts.api_timeout)),
            true,
        ),
        (None, _) => (
            Box::new(NotManaged::new(NotManagedReason::NoBmcOrApi)),
            false,
        ),
    };
    Ok(match &opts.injection {
        Some(inj) if inj.enabled() && (is_api || opts.injection_scope == InjectionScope::All) => {
            Box::new(SimulatedFailures::new(client, inj.clone()))
        }
        _ => client,
    })
}
