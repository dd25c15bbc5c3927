//! Redfish power management (DMTF DSP0266) of one ComputerSystem.
//!
//! * **System**: the one pinned by the endpoint URL (`…/redfish/v1/Systems/<id>`), else the
//!   first member of `/redfish/v1/Systems`.
//! * **Status**: the system's `PowerState` (`On`/`PoweringOn` → on, `Off`/`PoweringOff` →
//!   off, anything else → unknown).
//! * **Power actions**: `POST <Actions.#ComputerSystem.Reset.target>` with a `ResetType`
//!   chosen from the advertised `ResetType@Redfish.AllowableValues` (inline or via
//!   `@Redfish.ActionInfo`); without a list the first candidate is used:
//!   on = `On`, else `ForceOn`; off = `ForceOff`; cycle = `PowerCycle` (a real off/on, the
//!   IPMI chassis-cycle equivalent) when advertised, else `ForceRestart`. If no candidate
//!   is allowed the action returns [`PowerOutcome::Unsupported`].
//! * **One-time boot**: `PATCH <system>` with `Boot.BootSourceOverrideTarget` `Pxe` or `Hdd`,
//!   `BootSourceOverrideEnabled` `Once` and `BootSourceOverrideMode` `UEFI` or `Legacy`.
//! * **Auth**: see [`RedfishAuth`]; sessions are shared through [`RedfishSessions`] and
//!   re-established once on `401`. A `401`/`403` is [`PowerError::Auth`].
//! * **Transport**: HTTPS (rustls + ring, [`TlsVerification`]) or HTTP, one connection per
//!   request, every request bounded by [`RedfishConfig::timeout`].
//!
//! Errors name `Redfish BMC <scheme://host:port>` and the request step; neither the
//! password nor a session token ever appears in an error, log or `Debug` output.

mod endpoint;
mod request;
mod session;
mod tls;
mod transport;

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

pub use endpoint::{RedfishEndpoint, Scheme};
pub use session::{RedfishAuth, RedfishSessions};
pub use tls::TlsVerification;

use crate::error::{PowerError, Step};
use crate::manager::{BootMode, PowerFuture, PowerManager, PowerOutcome, PowerState};
use transport::Transport;

/// Default timeout of each Redfish request (BMC web servers can be slow).
pub const DEFAULT_REDFISH_TIMEOUT: Duration = Duration::from_secs(20);

/// Process-wide Redfish settings.
#[derive(Debug, Clone)]
pub struct RedfishConfig {
    /// Timeout of each request (connect + TLS + response).
    pub timeout: Duration,
    /// Authentication method.
    pub auth: RedfishAuth,
    /// Certificate verification for HTTPS (default: verify).
    pub tls: TlsVerification,
    /// Shared authentication state.
    pub sessions: RedfishSessions,
}

impl Default for RedfishConfig {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_REDFISH_TIMEOUT,
            auth: RedfishAuth::default(),
            tls: TlsVerification::default(),
            sessions: RedfishSessions::new(),
        }
    }
}

/// What a power action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// Power on.
    On,
    /// Hard power off.
    Off,
    /// Power cycle.
    Cycle,
}

/// Picks the `ResetType` for `kind` from the advertised allowable values (see module docs).
pub fn choose_reset_type(kind: ResetKind, allowable: Option<&[String]>) -> Option<&'static str> {
    let candidates: &[&'static str] = match kind {
        ResetKind::On => &["On", "ForceOn"],
        ResetKind::Off => &["ForceOff"],
        ResetKind::Cycle => &["PowerCycle", "ForceRestart"],
    };
    match allowable {
        None => match kind {
            ResetKind::Cycle => Some("ForceRestart"),
            _ => candidates.first().copied(),
        },
        Some(list) => candidates
            .iter()
            .copied()
            .find(|c| list.iter().any(|a| a == c)),
    }
}

/// What was learnt about the ComputerSystem.
#[derive(Debug, Clone)]
struct SystemInfo {
    path: String,
    reset_target: String,
    allowable: Option<Vec<String>>,
}

/// Redfish client for one BMC (cheap to create; sessions live in [`RedfishSessions`]).
pub struct RedfishClient {
    transport: Transport,
    user: String,
    pass: String,
    config: RedfishConfig,
    system: Mutex<Option<SystemInfo>>,
}

impl std::fmt::Debug for RedfishClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishClient")
            .field("target", &self.transport.target)
            .field("user", &self.user)
            .field("pass", &"<redacted>")
            .field("auth", &self.config.auth)
            .field("tls", &self.config.tls)
            .finish()
    }
}

fn static_step(s: &'static str) -> Step {
    Step::Api(s)
}

impl RedfishClient {
    /// A client for `endpoint` with the given credentials.
    pub fn new(
        endpoint: RedfishEndpoint,
        user: &str,
        pass: &str,
        config: RedfishConfig,
    ) -> Result<Self, PowerError> {
        let target = format!("Redfish BMC {}", endpoint.base_url());
        let tls = match endpoint.scheme {
            Scheme::Https => {
                Some(
                    tls::client_config(config.tls).map_err(|detail| PowerError::Config {
                        target: target.clone(),
                        detail,
                    })?,
                )
            }
            Scheme::Http => None,
        };
        let system = endpoint.system_path.clone();
        Ok(Self {
            transport: Transport {
                endpoint,
                target,
                timeout: config.timeout,
                tls,
            },
            user: user.to_owned(),
            pass: pass.to_owned(),
            config,
            system: Mutex::new(system.map(|path| SystemInfo {
                reset_target: format!("{path}/Actions/ComputerSystem.Reset"),
                path,
                allowable: None,
            })),
        })
    }

    fn base(&self) -> String {
        self.transport.endpoint.base_url()
    }

    /// Reads the system (discovering it first if needed): its info and power state.
    async fn read_system(&self) -> Result<(SystemInfo, PowerState), PowerError> {
        let known = self.system.lock().await.clone();
        let path = match &known {
            Some(i) => i.path.clone(),
            None => {
                let step = static_step("GET /redfish/v1/Systems");
                let coll = self.get_json("/redfish/v1/Systems", step).await?;
                odata_id(&coll["Members"][0]).ok_or_else(|| PowerError::Protocol {
                    target: self.transport.target.clone(),
                    step,
                    detail: "no ComputerSystem in /redfish/v1/Systems".to_owned(),
                })?
            }
        };
        let sys = self.get_json(&path, static_step("GET system")).await?;
        let reset = &sys["Actions"]["#ComputerSystem.Reset"];
        let mut allowable = string_list(&reset["ResetType@Redfish.AllowableValues"]);
        if allowable.is_none()
            && let Some(info) = reset["@Redfish.ActionInfo"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| odata_id(&reset["@Redfish.ActionInfo"]))
        {
            let step = static_step("GET ComputerSystem.Reset ActionInfo");
            if let Ok(ai) = self.get_json(&info, step).await {
                allowable = ai["Parameters"].as_array().and_then(|ps| {
                    ps.iter()
                        .find(|p| p["Name"] == "ResetType")
                        .and_then(|p| string_list(&p["AllowableValues"]))
                });
            }
        }
        let info = SystemInfo {
            reset_target: reset["target"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{path}/Actions/ComputerSystem.Reset")),
            path,
            allowable,
        };
        *self.system.lock().await = Some(info.clone());
        let state = match sys["PowerState"].as_str() {
            Some("On" | "PoweringOn") => PowerState::On,
            Some("Off" | "PoweringOff") => PowerState::Off,
            _ => PowerState::Unknown,
        };
        Ok((info, state))
    }

    async fn system(&self) -> Result<SystemInfo, PowerError> {
        match self.system.lock().await.clone() {
            Some(i) if i.allowable.is_some() => return Ok(i),
            _ => {}
        }
        Ok(self.read_system().await?.0)
    }

    async fn reset(&self, kind: ResetKind) -> Result<PowerOutcome, PowerError> {
        let info = self.system().await?;
        let Some(reset_type) = choose_reset_type(kind, info.allowable.as_deref()) else {
            tracing::warn!(target = %self.transport.target, ?kind, allowable = ?info.allowable,
                "no suitable Redfish ResetType advertised");
            return Ok(PowerOutcome::Unsupported);
        };
        let step = static_step(match reset_type {
            "On" => "POST ComputerSystem.Reset (On)",
            "ForceOn" => "POST ComputerSystem.Reset (ForceOn)",
            "ForceOff" => "POST ComputerSystem.Reset (ForceOff)",
            "PowerCycle" => "POST ComputerSystem.Reset (PowerCycle)",
            _ => "POST ComputerSystem.Reset (ForceRestart)",
        });
        let body = json!({ "ResetType": reset_type });
        self.request(Method::POST, &info.reset_target, step, Some(body))
            .await?;
        Ok(PowerOutcome::Done)
    }

    async fn boot_once(
        &self,
        target: &'static str,
        mode: BootMode,
    ) -> Result<PowerOutcome, PowerError> {
        let path = match self.system.lock().await.clone() {
            Some(i) => i.path,
            None => self.read_system().await?.0.path,
        };
        let step = static_step(if target == "Pxe" {
            "PATCH system Boot override (Pxe once)"
        } else {
            "PATCH system Boot override (Hdd once)"
        });
        let body = json!({"Boot": {
            "BootSourceOverrideTarget": target,
            "BootSourceOverrideEnabled": "Once",
            "BootSourceOverrideMode": redfish_boot_mode(mode),
        }});
        self.request(Method::PATCH, &path, step, Some(body.clone()))
            .await?;
        // Some BMCs acknowledge the PATCH and drop it (seen with sushy-tools under load); a
        // server booting from the wrong device costs far more than two requests: read the
        // override back and send it once more if it did not stick. A BMC that does not let
        // us read it back is taken at its word.
        let readback = static_step("GET system (boot override read-back)");
        match self.get_json(&path, readback).await {
            Ok(sys) if !override_kept(&sys["Boot"], target, mode) => {
                tracing::warn!(target = %self.transport.target, wanted = target,
                    reported = %sys["Boot"]["BootSourceOverrideTarget"],
                    "the BMC did not keep the boot override; sending it again");
                self.request(Method::PATCH, &path, step, Some(body)).await?;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "boot override read-back failed"),
        }
        Ok(PowerOutcome::Done)
    }
}

/// Whether a system's `Boot` object shows the one-time override we set: the target, and the
/// mode where the BMC reports one (many leave `BootSourceOverrideMode` out).
pub fn override_kept(boot: &Value, target: &str, mode: BootMode) -> bool {
    let mode_ok = match boot["BootSourceOverrideMode"].as_str() {
        Some(m) => m == redfish_boot_mode(mode),
        None => true,
    };
    boot["BootSourceOverrideTarget"].as_str() == Some(target) && mode_ok
}

/// `BootSourceOverrideMode` for a [`BootMode`]: `UEFI` or `Legacy`.
pub fn redfish_boot_mode(mode: BootMode) -> &'static str {
    match mode {
        BootMode::Uefi => "UEFI",
        BootMode::Bios => "Legacy",
    }
}

fn odata_id(v: &Value) -> Option<String> {
    v["@odata.id"].as_str().map(str::to_owned)
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    })
}

impl PowerManager for RedfishClient {
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        Box::pin(async { Ok(self.read_system().await?.1) })
    }

    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.reset(ResetKind::On))
    }

    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.reset(ResetKind::Off))
    }

    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.reset(ResetKind::Cycle))
    }

    fn set_pxe_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.boot_once("Pxe", mode))
    }

    fn set_boot_disk_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.boot_once("Hdd", mode))
    }

    fn is_fake(&self) -> bool {
        false
    }

    fn target(&self) -> String {
        self.transport.target.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_is_kept_when_target_and_any_reported_mode_match() {
        let table = [
            (
                json!({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideMode": "UEFI"}),
                "Pxe",
                BootMode::Uefi,
                true,
            ),
            (
                json!({"BootSourceOverrideTarget": "Pxe"}),
                "Pxe",
                BootMode::Bios,
                true,
            ),
            (
                json!({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideMode": "Legacy"}),
                "Pxe",
                BootMode::Uefi,
                false,
            ),
            (
                json!({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideMode": "UEFI"}),
                "Hdd",
                BootMode::Uefi,
                false,
            ),
            (
                json!({"BootSourceOverrideTarget": "None"}),
                "Hdd",
                BootMode::Bios,
                false,
            ),
            (json!({}), "Pxe", BootMode::Uefi, false),
            (Value::Null, "Pxe", BootMode::Uefi, false),
        ];
        for (boot, target, mode, want) in table {
            assert_eq!(
                override_kept(&boot, target, mode),
                want,
                "{boot} {target} {mode:?}"
            );
        }
    }
}
