//! Gathering the inventory the lifecycle reports: SMBIOS from
//! `<sys>/firmware/dmi/tables`, disks from `<sys>/block`, NICs over rtnetlink, the kernel
//! hostname. The sysfs root is a parameter so tests use a fake tree.

use std::path::Path;

use sidero_smbios::Smbios;

use crate::lifecycle::Inventory;
use crate::{disks, hardware, nics};

/// Reads SMBIOS from `<sys>/firmware/dmi/tables`; missing or unusable tables give an empty
/// report (logged), never an error: the server can still register if it has a UUID.
pub fn smbios(sys: &Path) -> Smbios {
    let tables = sys.join("firmware/dmi/tables");
    let smbios = match (
        std::fs::read(tables.join("smbios_entry_point")),
        std::fs::read(tables.join("DMI")),
    ) {
        (Ok(ep), Ok(table)) => sidero_smbios::parse(&ep, &table).unwrap_or_else(|e| {
            tracing::warn!("SMBIOS entry point unusable: {e}");
            Smbios::default()
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("no SMBIOS tables under {}: {e}", tables.display());
            Smbios::default()
        }
    };
    if smbios.truncated {
        tracing::warn!("the SMBIOS table is truncated; using the structures before the break");
    }
    tracing::info!(
        "SMBIOS {}: {} structures, {} processor sockets, {} memory slots",
        smbios.version,
        smbios.structure_count,
        smbios.processors.len(),
        smbios.memory_devices.len()
    );
    smbios
}

/// SMBIOS, disks and NICs; each failure is logged and leaves its section empty.
pub async fn gather(sys: &Path) -> Inventory {
    let smbios = smbios(sys);
    let disks = disks::list(sys).unwrap_or_else(|e| {
        tracing::warn!("listing disks: {e}");
        Vec::new()
    });
    for d in &disks {
        tracing::info!(
            "disk {} {:?} {} bytes model {:?} serial {:?}",
            d.device_name,
            d.kind,
            d.size,
            d.model,
            d.serial
        );
    }
    let nics = match nics::list().await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("listing interfaces: {e}");
            None
        }
    };
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let list = nics.clone().unwrap_or_default();
    Inventory {
        hardware: hardware::report(&smbios, &disks, &list),
        disks,
        addresses: nics.as_deref().map(nics::internal_addresses),
        hostname,
    }
}
