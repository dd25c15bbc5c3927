//! The local BMC (spec §7.2 step 9, §9.2): its LAN address and RMCP port (Get LAN
//! Configuration Parameters 3 and 8 on channel 1), and a `sidero` administrator user with a
//! fresh password. Requests go through an [`Ipmi`] transport: the Linux IPMI driver
//! (`/dev/ipmi0`, [`DevIpmi`]) on real machines. Machines without a BMC (and VMs) have no such
//! device; that is reported as "not available", never as a failure of the agent.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// The user Sidero creates or claims on the BMC.
pub const SIDERO_USER: &str = "sidero";
/// LAN channel the agent reads and configures (upstream's choice).
const LAN_CHANNEL: u8 = 1;
const NETFN_APP: u8 = 0x06;
const NETFN_TRANSPORT: u8 = 0x0C;
const CMD_GET_LAN_CONFIG: u8 = 0x02;
const CMD_SET_USER_ACCESS: u8 = 0x43;
const CMD_GET_USER_ACCESS: u8 = 0x44;
const CMD_SET_USER_NAME: u8 = 0x45;
const CMD_GET_USER_NAME: u8 = 0x46;
const CMD_SET_USER_PASSWORD: u8 = 0x47;
/// How long the BMC gets per request.
const IPMI_TIMEOUT: Duration = Duration::from_secs(5);

/// One IPMI request/response exchange with the BMC.
pub trait Ipmi {
    /// Sends `netfn`/`cmd` with `data`; returns the response data after a zero completion
    /// code.
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError>;
}

/// A failed IPMI exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpmiError {
    /// The BMC answered with a non-zero completion code.
    #[error("completion code {0:#04x}")]
    Completion(u8),
    /// No answer, or the transport failed.
    #[error("{0}")]
    Transport(String),
}

/// Completion code "parameter not supported" of Get LAN Configuration Parameters.
const PARAMETER_NOT_SUPPORTED: u8 = 0x80;
/// The standard RMCP port, for BMCs that do not report theirs.
const DEFAULT_RMCP_PORT: u16 = 623;

/// The BMC's LAN endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanAddress {
    /// IPv4 address (LAN parameter 3).
    pub ip: Ipv4Addr,
    /// Primary RMCP port (LAN parameter 8).
    pub port: u16,
}

/// Why the BMC could not be read or set up.
#[derive(Debug, thiserror::Error)]
pub enum BmcError {
    /// No IPMI device: no BMC, or no driver for it.
    #[error("no BMC available: {0} does not exist (no IPMI device or driver)")]
    NotAvailable(String),
    /// The device could not be opened.
    #[error("opening {device}: {source}")]
    Open {
        /// Device.
        device: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A request failed.
    #[error("{what}: {error}")]
    Call {
        /// What was asked.
        what: &'static str,
        /// What went wrong.
        error: IpmiError,
    },
    /// The answer is too short or the address is unset.
    #[error("the BMC's LAN configuration is unusable: {0}")]
    Unusable(String),
    /// Every user slot is taken by someone else.
    #[error("no slot available for sidero user")]
    NoSlot,
}

/// The Linux IPMI driver's device as an [`Ipmi`] transport.
pub struct DevIpmi {
    file: std::fs::File,
    msgid: i64,
}

impl DevIpmi {
    /// Opens `device` (`/dev/ipmi0`).
    pub fn open(device: &Path) -> Result<DevIpmi, BmcError> {
        let name = device.display().to_string();
        if !device.exists() {
            return Err(BmcError::NotAvailable(name));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
            .map_err(|source| BmcError::Open {
                device: name,
                source,
            })?;
        Ok(DevIpmi { file, msgid: 0 })
    }
}

impl Ipmi for DevIpmi {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.msgid += 1;
        let resp = crate::ipmi::command(&self.file, netfn, cmd, data, self.msgid, IPMI_TIMEOUT)
            .map_err(|e| IpmiError::Transport(e.to_string()))?;
        match resp.split_first() {
            Some((0, rest)) => Ok(rest.to_vec()),
            Some((code, _)) => Err(IpmiError::Completion(*code)),
            None => Err(IpmiError::Transport("empty response".into())),
        }
    }
}

fn call(
    ipmi: &mut dyn Ipmi,
    what: &'static str,
    netfn: u8,
    cmd: u8,
    data: &[u8],
) -> Result<Vec<u8>, BmcError> {
    ipmi.call(netfn, cmd, data)
        .map_err(|error| BmcError::Call { what, error })
}

/// Reads the BMC's LAN address.
pub fn discover(ipmi: &mut dyn Ipmi) -> Result<LanAddress, BmcError> {
    let p3 = call(
        ipmi,
        "Get LAN Configuration Parameters (IP address)",
        NETFN_TRANSPORT,
        CMD_GET_LAN_CONFIG,
        &[LAN_CHANNEL, 3, 0, 0],
    )?;
    // Parameter 8 is optional in IPMI 2.0; a BMC without it listens on the standard port.
    let p8 = match ipmi.call(NETFN_TRANSPORT, CMD_GET_LAN_CONFIG, &[LAN_CHANNEL, 8, 0, 0]) {
        Err(IpmiError::Completion(PARAMETER_NOT_SUPPORTED)) => {
            tracing::info!("the BMC does not report its RMCP port; using {DEFAULT_RMCP_PORT}");
            let [lo, hi] = DEFAULT_RMCP_PORT.to_le_bytes();
            vec![0x11, lo, hi]
        }
        r => r.map_err(|error| BmcError::Call {
            what: "Get LAN Configuration Parameters (RMCP port)",
            error,
        })?,
    };
    let lan = lan_address(&p3, &p8)
        .ok_or_else(|| BmcError::Unusable(format!("short answers {p3:02x?} {p8:02x?}")))?;
    if lan.ip.is_unspecified() {
        return Err(BmcError::Unusable(
            "the BMC has no IPv4 address (0.0.0.0)".into(),
        ));
    }
    Ok(lan)
}

/// The LAN endpoint from the data of Get LAN Configuration Parameters responses for
/// parameters 3 (4 address bytes) and 8 (port, little-endian), each after the revision byte.
pub fn lan_address(param3: &[u8], param8: &[u8]) -> Option<LanAddress> {
    let ip: [u8; 4] = param3.get(1..5)?.try_into().ok()?;
    let port: [u8; 2] = param8.get(1..3)?.try_into().ok()?;
    Some(LanAddress {
        ip: Ipv4Addr::from(ip),
        port: u16::from_le_bytes(port),
    })
}

/// What a user slot holds, as Get User Name reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Get User Name failed: the slot is unused.
    Unused,
    /// A user name (empty or `(Empty User)` for a free slot).
    Named(String),
}

/// Which user id to use for `sidero` among slots 2..=max (spec §9.2): the existing `sidero`
/// user if any (`true`), else the first unused slot, else the first empty-named one (`false`).
pub fn choose_slot(slots: &[(u8, Slot)]) -> Result<(u8, bool), BmcError> {
    let mut candidate = None;
    for (id, slot) in slots {
        match slot {
            Slot::Named(n) if n == SIDERO_USER => return Ok((*id, true)),
            Slot::Unused => {
                if candidate.is_none() {
                    candidate = Some(*id);
                }
            }
            Slot::Named(n) if n.is_empty() || n == "(Empty User)" => {
                if candidate.is_none() {
                    candidate = Some(*id);
                }
            }
            Slot::Named(_) => {}
        }
    }
    candidate.map(|id| (id, false)).ok_or(BmcError::NoSlot)
}

/// A 16-byte field padded with NULs.
fn padded16(s: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (d, c) in b.iter_mut().zip(s.bytes()) {
        *d = c;
    }
    b
}

/// A 16-character password from `[a-zA-Z0-9]`, from the kernel's random source.
pub fn generate_password() -> Result<String, std::io::Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        let mut buf = [0u8; 32];
        fill_random(&mut buf)?;
        // 248 = 4 × 62: bytes above it are dropped so every character is equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() < 16 {
                out.push(char::from(ALPHABET[usize::from(*b % 62)]));
            }
        }
    }
    Ok(out)
}

/// Fills `buf` from the kernel's random source. Before the kernel's pool is initialized
/// (machines without a hardware random source, early in a boot) the call blocks; that is said
/// on the console first, so the wait is never silent.
fn fill_random(buf: &mut [u8]) -> Result<(), std::io::Error> {
    use rustix::rand::{GetRandomFlags, getrandom};
    match getrandom(&mut *buf, GetRandomFlags::NONBLOCK) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(_) | Err(rustix::io::Errno::AGAIN) => {
            tracing::warn!(
                "waiting for the kernel's random pool to generate the BMC password \
                 (this machine has no hardware random source)"
            );
            let n = getrandom(&mut *buf, GetRandomFlags::empty())?;
            if n == buf.len() {
                Ok(())
            } else {
                Err(std::io::Error::other("short read from getrandom"))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates or claims the `sidero` administrator user with `password`; returns its user id.
pub fn setup_user(ipmi: &mut dyn Ipmi, password: &str) -> Result<u8, BmcError> {
    let access = call(
        ipmi,
        "Get User Access",
        NETFN_APP,
        CMD_GET_USER_ACCESS,
        &[LAN_CHANNEL, 1],
    )?;
    let max = access.first().map(|b| b & 0x1F).unwrap_or(0);
    let slots: Vec<(u8, Slot)> = (2..=max)
        .map(|id| {
            let slot = match ipmi.call(NETFN_APP, CMD_GET_USER_NAME, &[id]) {
                Ok(name) => Slot::Named(
                    String::from_utf8_lossy(&name)
                        .trim_end_matches('\0')
                        .to_string(),
                ),
                Err(_) => Slot::Unused,
            };
            (id, slot)
        })
        .collect();
    let (id, exists) = choose_slot(&slots)?;
    if !exists {
        let mut data = vec![id];
        data.extend_from_slice(&padded16(SIDERO_USER));
        call(ipmi, "Set User Name", NETFN_APP, CMD_SET_USER_NAME, &data)?;
    }
    let mut data = vec![id, 0x02];
    data.extend_from_slice(&padded16(password));
    call(
        ipmi,
        "Set User Password",
        NETFN_APP,
        CMD_SET_USER_PASSWORD,
        &data,
    )?;
    call(
        ipmi,
        "Set User Access",
        NETFN_APP,
        CMD_SET_USER_ACCESS,
        &[0x91, id, 0x04, 0x00],
    )?;
    call(
        ipmi,
        "Enable User",
        NETFN_APP,
        CMD_SET_USER_PASSWORD,
        &[id, 0x01],
    )?;
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_is_not_available() {
        let e = DevIpmi::open(Path::new("/nonexistent/ipmi0"))
            .err()
            .unwrap();
        assert!(matches!(e, BmcError::NotAvailable(_)));
        assert_eq!(
            e.to_string(),
            "no BMC available: /nonexistent/ipmi0 does not exist (no IPMI device or driver)"
        );
    }

    #[test]
    fn lan_parameters() {
        assert_eq!(
            lan_address(&[0x11, 10, 0, 0, 9], &[0x11, 0x6F, 0x02]),
            Some(LanAddress {
                ip: Ipv4Addr::new(10, 0, 0, 9),
                port: 623
            })
        );
        assert_eq!(lan_address(&[0x11, 10, 0], &[0x11, 0x6F, 0x02]), None);
        assert_eq!(lan_address(&[0x11, 10, 0, 0, 9], &[0x11]), None);
    }

    #[test]
    fn slot_choice() {
        use Slot::*;
        let n = |s: &str| Named(s.into());
        type Case = (Vec<(u8, Slot)>, Option<(u8, bool)>);
        let cases: Vec<Case> = vec![
            (
                vec![(2, n("admin")), (3, n("sidero")), (4, Unused)],
                Some((3, true)),
            ),
            (
                vec![(2, n("admin")), (3, Unused), (4, n(""))],
                Some((3, false)),
            ),
            (
                vec![(2, n("admin")), (3, n("(Empty User)")), (4, Unused)],
                Some((3, false)),
            ),
            (
                vec![(2, n("")), (3, n("x")), (4, n("sidero"))],
                Some((4, true)),
            ),
            (vec![(2, n("admin")), (3, n("ops"))], None),
            (vec![], None),
        ];
        for (slots, want) in cases {
            let got = choose_slot(&slots).ok();
            assert_eq!(got, want, "{slots:?}");
        }
    }

    #[test]
    fn passwords() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
        assert_eq!(&padded16("sidero")[..7], b"sidero\0");
    }
}
