//! The local BMC (spec §7.2 step 9): its LAN address and RMCP port (Get LAN Configuration
//! Parameters 3 and 8 on channel 1), read over the Linux IPMI driver (`/dev/ipmi0`). Machines without a BMC (and VMs) have no such device; that is
//! reported as "not available", never as a failure of the agent.

use std::net::Ipv4Addr;
use std::path::Path;

/// The BMC's LAN endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanAddress {
    /// IPv4 address (LAN parameter 3).
    pub ip: Ipv4Addr,
    /// Primary RMCP port (LAN parameter 8).
    pub port: u16,
}

/// Why the BMC could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BmcError {
    /// No IPMI device: no BMC, or no driver for it.
    #[error("no BMC available: {0} does not exist (no IPMI device or driver)")]
    NotAvailable(String),
    /// The device could not be used or the BMC did not answer.
    #[error("{what} through {device}: {source}")]
    Io {
        /// Device.
        device: String,
        /// What was asked.
        what: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The BMC answered with a non-zero completion code.
    #[error("{what}: BMC completion code {code:#04x}")]
    Completion {
        /// What was asked.
        what: &'static str,
        /// Completion code.
        code: u8,
    },
    /// The answer is too short or the address is unset.
    #[error("the BMC's LAN configuration is unusable: {0}")]
    Unusable(String),
}

/// Reads the BMC's LAN address through `device`.
pub fn discover(device: &Path) -> Result<LanAddress, BmcError> {
    let name = device.display().to_string();
    if !device.exists() {
        return Err(BmcError::NotAvailable(name));
    }
    let io = |what| {
        let device = name.clone();
        move |source| BmcError::Io {
            device,
            what,
            source,
        }
    };
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(io("opening"))?;
    let param = |p: u8, what: &'static str, msgid: i64| -> Result<Vec<u8>, BmcError> {
        let data = [LAN_CHANNEL, p, 0, 0];
        let resp = crate::ipmi::command(
            &dev,
            NETFN_TRANSPORT,
            CMD_GET_LAN_CONFIG,
            &data,
            msgid,
            IPMI_TIMEOUT,
        )
        .map_err(io(what))?;
        match resp.split_first() {
            Some((0, rest)) => Ok(rest.to_vec()),
            Some((&code, _)) => Err(BmcError::Completion { what, code }),
            None => Err(BmcError::Unusable(format!("empty answer to {what}"))),
        }
    };
    let p3 = param(3, "Get LAN Configuration Parameters (IP address)", 1)?;
    let p8 = param(8, "Get LAN Configuration Parameters (RMCP port)", 2)?;
    let lan = lan_address(&p3, &p8)
        .ok_or_else(|| BmcError::Unusable(format!("short answers {p3:02x?} {p8:02x?}")))?;
    if lan.ip.is_unspecified() {
        return Err(BmcError::Unusable(
            "the BMC has no IPv4 address (0.0.0.0)".into(),
        ));
    }
    Ok(lan)
}

/// LAN channel the agent reads (upstream's choice).
const LAN_CHANNEL: u8 = 1;
/// Transport network function.
const NETFN_TRANSPORT: u8 = 0x0C;
/// Get LAN Configuration Parameters.
const CMD_GET_LAN_CONFIG: u8 = 0x02;
/// How long the BMC gets per request.
const IPMI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_is_not_available() {
        let e = discover(Path::new("/nonexistent/ipmi0")).unwrap_err();
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
}
