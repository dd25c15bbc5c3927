//! Networking on the boot NIC only (spec §7.2 step 3): wait for the interface with the boot
//! MAC, set it up, get a DHCP lease (retried), apply it, set the hostname and write
//! `resolv.conf`. Runs in whatever network namespace the calling thread is in.

use std::path::PathBuf;
use std::time::Duration;

use sidero_dhcpc::Lease;

use crate::retry::{Retry, RetryError};
use crate::{dhcp, netconf};

/// Knobs of [`up`]; [`NetOptions::pid1`] is what the agent uses.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// How long to wait for the boot NIC to appear.
    pub link_wait: Duration,
    /// DHCP retry budget (each attempt bounded by its `per_call`).
    pub dhcp: Retry,
    /// Where `resolv.conf` is written (`/etc`).
    pub etc: PathBuf,
    /// Whether to set the kernel hostname from the lease.
    pub set_hostname: bool,
}

impl NetOptions {
    /// The spec's values: 1 minute for the NIC, DHCP retried for 5 minutes every 10 s with
    /// 30 s per attempt.
    pub fn pid1() -> NetOptions {
        NetOptions {
            link_wait: Duration::from_secs(60),
            dhcp: Retry {
                total: Duration::from_secs(300),
                per_call: Duration::from_secs(30),
                first_wait: Duration::from_secs(10),
                max_wait: Duration::from_secs(10),
            },
            etc: PathBuf::from("/etc"),
            set_hostname: true,
        }
    }
}

/// Why the network did not come up.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The boot MAC is not six octets.
    #[error("boot MAC {0:?} is not six hex octets")]
    Mac(String),
    /// Netlink failed or the NIC never appeared.
    #[error(transparent)]
    Net(#[from] netconf::NetError),
    /// DHCP kept failing.
    #[error(transparent)]
    Dhcp(#[from] RetryError),
}

fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = mac
        .split(':')
        .map(|o| u8::from_str_radix(o, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// Brings the boot NIC `mac` up by DHCP; returns the interface name and the lease applied.
pub async fn up(mac: &str, opts: &NetOptions) -> Result<(String, Lease), NetworkError> {
    let mac_bytes = parse_mac(mac).ok_or_else(|| NetworkError::Mac(mac.to_string()))?;
    let handle = netconf::connect()?;
    tracing::info!("waiting for the interface with MAC {mac}");
    let (index, name) = netconf::wait_for_link(&handle, mac, opts.link_wait).await?;
    tracing::info!("boot NIC is {name} (index {index}); setting it up");
    netconf::link_up(&handle, index).await?;
    let attempt = opts.dhcp.per_call.saturating_sub(Duration::from_secs(1));
    let lease = opts
        .dhcp
        .run("DHCP", || dhcp::acquire(&name, mac_bytes, attempt))
        .await?;
    tracing::info!(
        "DHCP lease: {}/{} routers {:?} dns {:?} mtu {:?} hostname {:?}",
        lease.address,
        lease.prefix,
        lease.routers,
        lease.dns,
        lease.mtu,
        lease.hostname
    );
    netconf::apply(&handle, index, &lease).await?;
    if opts.set_hostname
        && let Some(h) = &lease.hostname
        && let Err(e) = rustix::system::sethostname(h.as_bytes())
    {
        tracing::warn!("setting hostname {h}: {e}");
    }
    let resolv = opts.etc.join("resolv.conf");
    if let Err(e) = std::fs::write(&resolv, netconf::resolv_conf(&lease)) {
        tracing::warn!("writing {}: {e}", resolv.display());
    }
    Ok((name, lease))
}
