//! The agent's conversation with the Agent API (spec §7.2 steps 6–9): register, report
//! addresses, wipe with heartbeats, mark wiped, report the BMC. Everything here runs without
//! root: the inventory comes in as values, disks are opened under an injected device folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::bmc::{self, BmcError, Ipmi};
use crate::disks::Disk;
use crate::retry::{Retry, RetryError};
use crate::wipe::{self, WipeMode};

/// gRPC metadata key carrying the agent token (the manager's `x-sidero-agent-token`).
pub const TOKEN_METADATA: &str = "x-sidero-agent-token";

/// Adds the agent token (`sidero.token=` from the kernel command line) to every call; the
/// manager needs it for accepted servers whose agent calls from another address than the one
/// it registered from. Without a token, calls go out as upstream's.
#[derive(Clone, Default)]
pub struct AgentToken(Option<AsciiMetadataValue>);

impl AgentToken {
    /// The token to send; `None` or a value that is not valid metadata sends nothing.
    pub fn new(token: Option<&str>) -> AgentToken {
        AgentToken(token.and_then(|t| AsciiMetadataValue::try_from(t).ok()))
    }
}

impl std::fmt::Debug for AgentToken {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "AgentToken(set)"
        } else {
            "AgentToken(none)"
        })
    }
}

impl Interceptor for AgentToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert(TOKEN_METADATA, t.clone());
        }
        Ok(req)
    }
}

/// The Agent API client the lifecycle talks through.
pub type AgentApi = AgentClient<InterceptedService<Channel, AgentToken>>;

/// An [`AgentApi`] over `channel`, sending `token` with every call.
pub fn client(channel: Channel, token: Option<&str>) -> AgentApi {
    AgentClient::with_interceptor(channel, AgentToken::new(token))
}

/// What the agent found on the machine.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The hardware report (its `system.uuid` names the Server).
    pub hardware: api::HardwareInformation,
    /// Disks to wipe when asked.
    pub disks: Vec<Disk>,
    /// Addresses to report as `InternalIP`; `None` when enumeration failed.
    pub addresses: Option<Vec<api::Address>>,
    /// The kernel hostname.
    pub hostname: String,
}

/// Opens the transport to the local BMC.
pub type BmcOpener = Arc<dyn Fn() -> Result<Box<dyn Ipmi + Send>, BmcError> + Send + Sync>;

/// The BMC behind the Linux IPMI device at `device` (`/dev/ipmi0`).
pub fn device_bmc(device: PathBuf) -> BmcOpener {
    Arc::new(move || {
        let d = bmc::DevIpmi::open(&device)?;
        Ok(Box::new(d) as Box<dyn Ipmi + Send>)
    })
}

/// Where the lifecycle finds devices, and its retry budget.
#[derive(Clone)]
pub struct Options {
    /// Folder holding the disks' device nodes (`/dev`; a temp folder of images in tests).
    pub dev_root: PathBuf,
    /// The local BMC ([`device_bmc`] of `/dev/ipmi0` on machines).
    pub bmc: BmcOpener,
    /// Retry budget of every API call.
    pub retry: Retry,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("dev_root", &self.dev_root)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What `CreateServer`'s answer asks of the agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Wipe disks, and how.
    pub wipe: Option<WipeMode>,
    /// Heartbeat interval while wiping.
    pub heartbeat_every: Duration,
    /// Discover the BMC and report it.
    pub setup_bmc: bool,
}

/// The plan for a `CreateServer` answer. The heartbeat comes every third of the reboot
/// timeout (whole seconds, at least one), so the controller's wipe timeout never fires while
/// the agent is alive.
pub fn plan(resp: &api::CreateServerResponse) -> Plan {
    let wipe = match (resp.wipe, resp.insecure_wipe) {
        (false, _) => None,
        (true, true) => Some(WipeMode::Fast),
        (true, false) => Some(WipeMode::Full),
    };
    let third = if resp.reboot_timeout.is_finite() && resp.reboot_timeout > 0.0 {
        (resp.reboot_timeout / 3.0).floor()
    } else {
        0.0
    };
    let secs = if third >= 1.0 { third as u64 } else { 1 };
    Plan {
        wipe,
        heartbeat_every: Duration::from_secs(secs.min(3600)),
        setup_bmc: resp.setup_bmc,
    }
}

/// How the lifecycle ended (each ends in a reboot).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The Server's name.
    pub uuid: String,
    /// What the server asked for.
    pub plan: Plan,
    /// Disks wiped (device names).
    pub wiped: Vec<String>,
    /// The BMC step's result, when it ran.
    pub bmc: Option<Result<(), String>>,
}

/// Why the lifecycle stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// SMBIOS gave no system UUID, so there is no Server name.
    #[error("SMBIOS reports no system UUID; cannot register")]
    NoUuid,
    /// An API call kept failing.
    #[error(transparent)]
    Api(#[from] RetryError),
    /// A disk could not be wiped.
    #[error("wiping {disk}: {error}")]
    Wipe {
        /// Device name.
        disk: String,
        /// Cause.
        error: String,
    },
}

/// Runs the conversation with the Agent API.
pub async fn run(
    client: AgentApi,
    inv: &Inventory,
    opts: &Options,
) -> Result<Outcome, LifecycleError> {
    let uuid = inv
        .hardware
        .system
        .as_ref()
        .map(|s| s.uuid.clone())
        .filter(|u| !u.is_empty())
        .ok_or(LifecycleError::NoUuid)?;
    tracing::info!("registering server {uuid} (hostname {:?})", inv.hostname);
    let req = api::CreateServerRequest {
        hardware: Some(inv.hardware.clone()),
        hostname: inv.hostname.clone(),
    };
    let resp = opts
        .retry
        .run("CreateServer", || {
            let mut c = client.clone();
            let r = req.clone();
            async move { c.create_server(r).await.map(|r| r.into_inner()) }
        })
        .await?;
    let plan = plan(&resp);
    tracing::info!(
        "server {uuid} registered: wipe={} insecure_wipe={} setup_bmc={} reboot_timeout={}s",
        resp.wipe,
        resp.insecure_wipe,
        resp.setup_bmc,
        resp.reboot_timeout
    );

    report_addresses(&client, &uuid, inv, opts).await;

    let mut outcome = Outcome {
        uuid: uuid.clone(),
        plan,
        wiped: Vec::new(),
        bmc: None,
    };
    if let Some(mode) = plan.wipe {
        outcome.wiped = wipe_with_heartbeats(&client, &uuid, inv, opts, mode, plan).await?;
    } else {
        tracing::info!("no wipe requested (server not accepted, or already clean)");
    }
    if plan.setup_bmc {
        let r = setup_bmc(&client, &uuid, opts).await;
        if let Err(e) = &r {
            tracing::warn!("BMC setup skipped: {e}");
        }
        outcome.bmc = Some(r);
    }
    Ok(outcome)
}

async fn report_addresses(client: &AgentApi, uuid: &str, inv: &Inventory, opts: &Options) {
    let Some(addresses) = inv.addresses.clone() else {
        tracing::warn!("could not list the machine's addresses; not reporting them");
        return;
    };
    let list: Vec<&str> = addresses.iter().map(|a| a.address.as_str()).collect();
    tracing::info!("reporting addresses {list:?}");
    let req = api::ReconcileServerAddressesRequest {
        uuid: uuid.to_string(),
        address: addresses,
    };
    let r = opts
        .retry
        .run("ReconcileServerAddresses", || {
            let mut c = client.clone();
            let r = req.clone();
            async move { c.reconcile_server_addresses(r).await }
        })
        .await;
    if let Err(e) = r {
        tracing::warn!("addresses not reported: {e}");
    }
}

async fn wipe_with_heartbeats(
    client: &AgentApi,
    uuid: &str,
    inv: &Inventory,
    opts: &Options,
    mode: WipeMode,
    plan: Plan,
) -> Result<Vec<String>, LifecycleError> {
    let heartbeat = tokio::spawn(heartbeats(
        client.clone(),
        uuid.to_string(),
        plan.heartbeat_every,
    ));
    let result = wipe_all(inv, opts, mode).await;
    let wiped = match result {
        Ok(w) => w,
        Err(e) => {
            heartbeat.abort();
            return Err(e);
        }
    };
    let req = api::MarkServerAsWipedRequest {
        uuid: uuid.to_string(),
    };
    let marked = opts
        .retry
        .run("MarkServerAsWiped", || {
            let mut c = client.clone();
            let r = req.clone();
            async move { c.mark_server_as_wiped(r).await }
        })
        .await;
    heartbeat.abort();
    marked?;
    tracing::info!("server {uuid} marked as wiped");
    Ok(wiped)
}

/// Sends a heartbeat now and then every `every`, until aborted; failures are logged only.
pub async fn heartbeats(client: AgentApi, uuid: String, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let mut c = client.clone();
        let req = api::HeartbeatRequest { uuid: uuid.clone() };
        match tokio::time::timeout(every, c.heartbeat(req)).await {
            Ok(Ok(_)) => tracing::info!("heartbeat sent"),
            Ok(Err(e)) => tracing::warn!("heartbeat failed: {}", e.message()),
            Err(_) => tracing::warn!("heartbeat got no answer within {} s", every.as_secs()),
        }
    }
}

/// Wipes every writable disk concurrently; a disk that cannot be opened is skipped, any other
/// failure fails the whole wipe.
async fn wipe_all(
    inv: &Inventory,
    opts: &Options,
    mode: WipeMode,
) -> Result<Vec<String>, LifecycleError> {
    let mut tasks = Vec::new();
    for d in &inv.disks {
        if d.read_only {
            tracing::info!("{}: read-only, not wiped", d.device_name);
            continue;
        }
        let path = opts.dev_root.join(&d.name);
        let label = d.device_name.clone();
        tracing::info!("{label}: starting {mode:?} wipe of {} bytes", d.size);
        tasks.push((
            label.clone(),
            tokio::task::spawn_blocking(move || wipe::wipe(&path, &label, mode)),
        ));
    }
    let mut wiped = Vec::new();
    for (label, task) in tasks {
        match task.await {
            Ok(Ok(r)) => {
                tracing::info!("{label}: wiped ({} bytes zeroed)", r.zeroed);
                wiped.push(label);
            }
            Ok(Err(wipe::WipeError::Open { source, .. })) => {
                tracing::warn!("{label}: cannot open ({source}); skipped");
            }
            Ok(Err(e)) => {
                return Err(LifecycleError::Wipe {
                    disk: label,
                    error: e.to_string(),
                });
            }
            Err(e) => {
                return Err(LifecycleError::Wipe {
                    disk: label,
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(wiped)
}

async fn setup_bmc(client: &AgentApi, uuid: &str, opts: &Options) -> Result<(), String> {
    let opener = opts.bmc.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut ipmi = opener()?;
        let lan = bmc::discover(&mut *ipmi)?;
        Ok::<_, BmcError>((lan, ipmi))
    })
    .await
    .map_err(|e| e.to_string())?;
    let (lan, mut ipmi) = found.map_err(|e| match e {
        e @ BmcError::NotAvailable(_) => e.to_string(),
        e => format!("BMC discovery failed: {e}"),
    })?;
    tracing::info!("BMC found at {}:{}", lan.ip, lan.port);
    update_bmc(
        client,
        uuid,
        opts,
        lan.ip.to_string(),
        u32::from(lan.port),
        "",
        "",
    )
    .await?;

    let password = bmc::generate_password().map_err(|e| format!("generating a password: {e}"))?;
    let pass = password.clone();
    let id = tokio::task::spawn_blocking(move || bmc::setup_user(&mut *ipmi, &pass))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("BMC user setup failed: {e}"))?;
    tracing::info!("BMC user {} set up as user id {id}", bmc::SIDERO_USER);
    update_bmc(
        client,
        uuid,
        opts,
        String::new(),
        0,
        bmc::SIDERO_USER,
        &password,
    )
    .await?;
    tracing::info!("BMC credentials reported");
    Ok(())
}

async fn update_bmc(
    client: &AgentApi,
    uuid: &str,
    opts: &Options,
    ip: String,
    port: u32,
    user: &str,
    pass: &str,
) -> Result<(), String> {
    let req = api::UpdateBmcInfoRequest {
        uuid: uuid.to_string(),
        bmc_info: Some(api::BmcInfo {
            ip,
            port,
            user: user.to_string(),
            pass: pass.to_string(),
        }),
    };
    opts.retry
        .run("UpdateBMCInfo", || {
            let mut c = client.clone();
            let r = req.clone();
            async move { c.update_bmc_info(r).await }
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn resp(wipe: bool, insecure: bool, bmc: bool, timeout: f64) -> api::CreateServerResponse {
        api::CreateServerResponse {
            wipe,
            insecure_wipe: insecure,
            setup_bmc: bmc,
            reboot_timeout: timeout,
        }
    }

    #[test]
    fn plans() {
        let s = Duration::from_secs;
        let cases = [
            (resp(false, false, false, 0.0), None, s(1), false),
            (resp(false, true, true, 0.0), None, s(1), true),
            (
                resp(true, true, false, 600.0),
                Some(WipeMode::Fast),
                s(200),
                false,
            ),
            (
                resp(true, false, true, 600.0),
                Some(WipeMode::Full),
                s(200),
                true,
            ),
            (
                resp(true, false, false, 10.0),
                Some(WipeMode::Full),
                s(3),
                false,
            ),
            (
                resp(true, false, false, 2.0),
                Some(WipeMode::Full),
                s(1),
                false,
            ),
            (
                resp(true, false, false, f64::NAN),
                Some(WipeMode::Full),
                s(1),
                false,
            ),
            (
                resp(true, false, false, -5.0),
                Some(WipeMode::Full),
                s(1),
                false,
            ),
            (
                resp(true, false, false, 1e300),
                Some(WipeMode::Full),
                s(3600),
                false,
            ),
        ];
        for (r, wipe, every, bmc) in cases {
            let p = plan(&r);
            assert_eq!(
                (p.wipe, p.heartbeat_every, p.setup_bmc),
                (wipe, every, bmc),
                "{r:?}"
            );
        }
    }
}
