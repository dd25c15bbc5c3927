//! Native IPMI v2.0 RMCP+ (`lanplus`) client.
//!
//! * [`codec`]: pure packet codec (fuzzed); [`crypto`]: RAKP and session cryptography.
//! * Sessions use cipher suite 17 (HMAC-SHA256) or 3 (HMAC-SHA1), both with AES-CBC-128,
//!   are raised to Administrator right after activation, and are cached per BMC and user in
//!   a [`SessionCache`]; a session that fails in transport is dropped and re-established.
//! * Every exchange has a timeout and a bounded number of retransmissions ([`IpmiConfig`]).

pub mod codec;
pub mod crypto;

mod cache;
mod presession;
mod session;
mod transport;

use std::sync::Arc;
use std::time::Duration;

pub use cache::SessionCache;

use crate::error::{PowerError, Step};
use crate::manager::{BootMode, PowerFuture, PowerManager, PowerOutcome, PowerState};
use cache::SlotKey;
use codec::NETFN_CHASSIS;
use crypto::CipherSuite;
use session::{Login, Session};
use transport::Timing;

/// Default RMCP port.
pub const DEFAULT_PORT: u16 = 623;

/// Boot device selector "force PXE" (param 5, data 2).
const DEVICE_PXE: u8 = 0x04;
/// Boot device selector "force boot from default hard drive".
const DEVICE_DISK: u8 = 0x08;

/// Tuning of the IPMI client.
#[derive(Debug, Clone)]
pub struct IpmiConfig {
    /// How long to wait for each answer before retransmitting.
    pub timeout: Duration,
    /// Retransmissions per exchange (total attempts = retries + 1).
    pub retries: u32,
    /// A cached session idle longer than this is replaced by a new one (BMCs time sessions
    /// out, commonly after 60 s).
    pub idle_limit: Duration,
    /// Cipher suites to propose, in order; the next is tried when the BMC refuses one in
    /// Open Session. Supported: 17 and 3.
    pub cipher_suites: Vec<u8>,
}

impl Default for IpmiConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            retries: 2,
            idle_limit: Duration::from_secs(20),
            cipher_suites: vec![17, 3],
        }
    }
}

/// A BMC reached over IPMI v2.0 `lanplus`. Cheap to clone; sessions live in the shared
/// [`SessionCache`]. `Debug` never shows the password.
#[derive(Clone)]
pub struct IpmiClient {
    target: String,
    host: String,
    port: u16,
    user: String,
    password: Vec<u8>,
    suites: Vec<CipherSuite>,
    config: IpmiConfig,
    cache: Arc<SessionCache>,
}

impl std::fmt::Debug for IpmiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpmiClient")
            .field("target", &self.target)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `BMC host:port`, bracketing IPv6 literals.
pub(crate) fn bmc_target(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("BMC [{host}]:{port}")
    } else {
        format!("BMC {host}:{port}")
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Status,
    Control(u8),
    Boot { flags: u8, device: u8 },
}

impl IpmiClient {
    /// Creates a client. Fails on an empty/over-long user (16 bytes), an over-long password
    /// (20 bytes) or an unsupported cipher suite; the error never contains the password.
    pub fn new(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        config: IpmiConfig,
        cache: Arc<SessionCache>,
    ) -> Result<Self, PowerError> {
        let target = bmc_target(host, port);
        let bad = |detail: String| PowerError::Config {
            target: target.clone(),
            detail,
        };
        if user.is_empty() || user.len() > 16 {
            return Err(bad(format!(
                "user name must be 1 to 16 bytes, got {}",
                user.len()
            )));
        }
        if password.len() > 20 {
            return Err(bad(format!(
                "password must be at most 20 bytes, got {}",
                password.len()
            )));
        }
        let suites = config
            .cipher_suites
            .iter()
            .map(|id| {
                CipherSuite::from_id(*id)
                    .ok_or_else(|| bad(format!("unsupported cipher suite {id} (supported: 17, 3)")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if suites.is_empty() {
            return Err(bad("no cipher suite configured".into()));
        }
        Ok(Self {
            target: target.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            user: user.to_owned(),
            password: password.as_bytes().to_vec(),
            suites,
            config,
            cache,
        })
    }

    /// The session cache this client uses.
    pub fn cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    async fn establish(&self) -> Result<Session, PowerError> {
        let addr = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|source| PowerError::Io {
                target: self.target.clone(),
                step: Step::Resolve,
                source,
            })?
            .next()
            .ok_or_else(|| PowerError::Io {
                target: self.target.clone(),
                step: Step::Resolve,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            })?;
        let timing = Timing {
            timeout: self.config.timeout,
            retries: self.config.retries,
        };
        let mut last = None;
        for suite in &self.suites {
            let login = Login {
                target: &self.target,
                addr,
                suite: *suite,
                user: self.user.as_bytes(),
                password: &self.password,
                timing: &timing,
            };
            match Session::establish(&login).await {
                Ok(s) => {
                    self.cache.note_opened();
                    return Ok(s);
                }
                // Only a refusal of the algorithms moves on to the next suite.
                Err(
                    e @ PowerError::RmcpStatus {
                        step: Step::OpenSession,
                        code: 0x04..=0x07 | 0x10 | 0x11,
                        ..
                    },
                ) => {
                    tracing::debug!(target_bmc = self.target, suite = suite.id, error = %e, "cipher suite refused");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| PowerError::Config {
            target: self.target.clone(),
            detail: "no cipher suite configured".into(),
        }))
    }

    /// Runs an operation on the cached session, establishing one when needed. A session
    /// that breaks is dropped; idempotent operations on a reused session are retried once
    /// on a fresh one (the BMC may have timed the old one out).
    async fn run(&self, op: Op) -> Result<Option<PowerState>, PowerError> {
        let slot = self.cache.slot(SlotKey {
            target: self.target.clone(),
            user: self.user.clone(),
        });
        let mut slot = slot.lock().await;
        let fresh_enough = slot
            .session
            .as_ref()
            .is_some_and(|s| s.last_used.elapsed() < self.config.idle_limit);
        let reused = fresh_enough && slot.password == self.password;
        if !reused {
            match slot.session.take() {
                Some(old) if fresh_enough => old.close().await,
                Some(old) => old.abandon().await,
                None => {}
            }
            slot.session = Some(self.establish().await?);
            slot.password.clone_from(&self.password);
        }
        let first = match slot.session.as_mut() {
            Some(s) => execute(s, op).await,
            None => {
                return Err(PowerError::Config {
                    target: self.target.clone(),
                    detail: "no session".into(),
                });
            }
        };
        match first {
            Err(e) if e.breaks_session() => {
                slot.session = None;
                if !reused || matches!(op, Op::Control(0x02)) {
                    return Err(e);
                }
                tracing::debug!(target_bmc = self.target, error = %e, "cached session failed, re-establishing");
                let mut s = self.establish().await?;
                let second = execute(&mut s, op).await;
                if second.is_ok() {
                    slot.session = Some(s);
                }
                second
            }
            other => other,
        }
    }
}

/// Executes one operation in a session.
async fn execute(s: &mut Session, op: Op) -> Result<Option<PowerState>, PowerError> {
    match op {
        Op::Status => {
            let data = s
                .request(Step::GetChassisStatus, NETFN_CHASSIS, 0x01, &[])
                .await?;
            let state = match data.first() {
                Some(b) if b & 0x01 != 0 => PowerState::On,
                Some(_) => PowerState::Off,
                None => PowerState::Unknown,
            };
            Ok(Some(state))
        }
        Op::Control(c) => {
            s.request(Step::ChassisControl(c), NETFN_CHASSIS, 0x02, &[c])
                .await?;
            Ok(None)
        }
        Op::Boot { flags, device } => set_boot_device(s, flags, device).await.map(|()| None),
    }
}

/// One Set System Boot Options request (`p`, `v` only name the step).
async fn param(s: &mut Session, p: u8, v: u8, data: &[u8]) -> Result<Vec<u8>, PowerError> {
    s.request(Step::SetBootOption(p, v), NETFN_CHASSIS, 0x08, data)
        .await
}

/// Set System Boot Options sequence (§9.2): set-in-progress (skipped if refused), boot info
/// acknowledge, boot flags, commit write, set complete.
async fn set_boot_device(s: &mut Session, flags: u8, device: u8) -> Result<(), PowerError> {
    let in_progress = match param(s, 0, 0x01, &[0x00, 0x01]).await {
        Ok(_) => true,
        Err(e @ PowerError::Completion { .. }) => {
            tracing::debug!(error = %e, "set-in-progress refused; skipping the handshake");
            false
        }
        Err(e) => return Err(e),
    };
    let mut result = param(s, 4, 0x01, &[0x04, 0x01, 0x01]).await.map(drop);
    if result.is_ok() {
        result = param(s, 5, flags, &[0x05, flags, device, 0x00, 0x00, 0x00])
            .await
            .map(drop);
        if result.is_ok()
            && in_progress
            && let Err(e) = param(s, 0, 0x02, &[0x00, 0x02]).await
        {
            if e.breaks_session() {
                return Err(e);
            }
            tracing::debug!(error = %e, "commit write refused (ignored)");
        }
    }
    let broken = result.as_ref().is_err_and(PowerError::breaks_session);
    if in_progress
        && !broken
        && let Err(e) = param(s, 0, 0x00, &[0x00, 0x00]).await
    {
        tracing::debug!(error = %e, "set complete refused (ignored)");
    }
    result
}

impl IpmiClient {
    async fn action(&self, op: Op) -> Result<PowerOutcome, PowerError> {
        self.run(op).await.map(|_| PowerOutcome::Done)
    }
}

impl PowerManager for IpmiClient {
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        Box::pin(async move { Ok(self.run(Op::Status).await?.unwrap_or(PowerState::Unknown)) })
    }

    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.action(Op::Control(0x01)))
    }

    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.action(Op::Control(0x00)))
    }

    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.action(Op::Control(0x02)))
    }

    fn set_pxe_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.action(Op::Boot {
            flags: mode.boot_flags(),
            device: DEVICE_PXE,
        }))
    }

    fn set_boot_disk_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.action(Op::Boot {
            flags: mode.boot_flags(),
            device: DEVICE_DISK,
        }))
    }

    fn is_fake(&self) -> bool {
        false
    }

    fn target(&self) -> String {
        self.target.clone()
    }
}
