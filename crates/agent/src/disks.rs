//! Disk inventory from sysfs (`<sys>/block/*`), no udev needed. The sysfs root is a parameter
//! so tests read a fake tree. Virtual devices (loop, ram, zram, device-mapper, md, nbd,
//! optical and floppy drives) are not disks Sidero reports or wipes.

use std::path::{Path, PathBuf};

use sidero_proto::api;

/// Name prefixes of block devices that are not disks to report or wipe.
const SKIPPED_PREFIXES: &[&str] = &["loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"];

/// The kind of a disk, as the Agent API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKind {
    /// Kind not known (no `queue/rotational`).
    Unknown,
    /// Non-rotational, not NVMe or SD.
    Ssd,
    /// Rotational.
    Hdd,
    /// NVMe namespace.
    Nvme,
    /// SD/MMC card.
    Sd,
}

impl DiskKind {
    /// The protobuf enum value.
    pub fn to_proto(self) -> api::StorageType {
        match self {
            DiskKind::Unknown => api::StorageType::Unknown,
            DiskKind::Ssd => api::StorageType::Ssd,
            DiskKind::Hdd => api::StorageType::Hdd,
            DiskKind::Nvme => api::StorageType::NvMe,
            DiskKind::Sd => api::StorageType::Sd,
        }
    }
}

/// One disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name (`sda`, `nvme0n1`).
    pub name: String,
    /// `/dev/<name>`, as reported (the device opened for wiping may live elsewhere in tests).
    pub device_name: String,
    /// Size in bytes (sysfs counts 512-byte sectors whatever the block size).
    pub size: u64,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// World-wide identifier.
    pub wwid: String,
    /// Kind.
    pub kind: DiskKind,
    /// Read-only (`ro` = 1): never wiped.
    pub read_only: bool,
}

/// Lists the disks under `<sys_root>/block`, sorted by name. An unreadable directory yields
/// no disks (logged by the caller as an empty inventory); unreadable attributes read as empty.
pub fn list(sys_root: &Path) -> std::io::Result<Vec<Disk>> {
    let dir = sys_root.join("block");
    let mut disks = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if SKIPPED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let disk = read_disk(&dir.join(&name), name);
        // Card readers without media and gone devices have no capacity.
        if disk.size > 0 {
            disks.push(disk);
        }
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(disks)
}

fn read_disk(path: &Path, name: String) -> Disk {
    let attr = |rel: &str| read_attr(&path.join(rel));
    let sectors = attr("size").parse::<u64>().unwrap_or(0);
    let kind = if name.starts_with("nvme") {
        DiskKind::Nvme
    } else if name.starts_with("mmcblk") {
        DiskKind::Sd
    } else {
        match attr("queue/rotational").as_str() {
            "1" => DiskKind::Hdd,
            "0" => DiskKind::Ssd,
            _ => DiskKind::Unknown,
        }
    };
    let first = |names: &[&str]| {
        names
            .iter()
            .map(|n| attr(n))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    };
    Disk {
        device_name: format!("/dev/{name}"),
        size: sectors.saturating_mul(512),
        model: first(&["device/model", "device/name"]),
        serial: first(&["device/serial", "serial"]),
        wwid: first(&["wwid", "device/wwid"]),
        kind,
        read_only: attr("ro") == "1",
        name,
    }
}

/// A sysfs attribute, trimmed; empty when missing or unreadable. Non-UTF-8 bytes are replaced
/// (some firmware puts junk in model strings).
fn read_attr(path: &PathBuf) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default()
}

/// The Agent API's storage section for `disks`.
pub fn to_proto(disks: &[Disk]) -> api::StorageInformation {
    api::StorageInformation {
        total_size: disks.iter().map(|d| d.size).fold(0, u64::saturating_add),
        device_count: u32::try_from(disks.len()).unwrap_or(u32::MAX),
        devices: disks
            .iter()
            .map(|d| api::StorageDevice {
                r#type: d.kind.to_proto() as i32,
                size: d.size,
                model: d.model.clone(),
                serial: d.serial.clone(),
                name: d.name.clone(),
                device_name: d.device_name.clone(),
                uuid: String::new(),
                wwid: d.wwid.clone(),
            })
            .collect(),
    }
}
