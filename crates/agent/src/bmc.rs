//! The local BMC (spec §7.2 step 9): its LAN address and RMCP port, read over the Linux IPMI
//! driver (`/dev/ipmi0`). Machines without a BMC (and VMs) have no such device; that is
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
    /// The device exists but the local IPMI path is not implemented yet.
    #[error("{0} exists, but reading the BMC over the local IPMI interface is not implemented")]
    Unsupported(String),
}

/// Reads the BMC's LAN address through `device`.
pub fn discover(device: &Path) -> Result<LanAddress, BmcError> {
    let name = device.display().to_string();
    if !device.exists() {
        return Err(BmcError::NotAvailable(name));
    }
    Err(BmcError::Unsupported(name))
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
