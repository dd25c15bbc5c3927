//! Disk inventory against a fake sysfs tree with the entries real machines have, and odd ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use sidero_agent::disks::{self, DiskKind};
use sidero_proto::api;

fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    // SATA disk: model padded with spaces as the kernel shows it; serial only via VPD (absent).
    put(r, "block/sda/size", b"1953525168\n");
    put(r, "block/sda/queue/rotational", b"1\n");
    put(r, "block/sda/device/model", b"ST1000NM0008-2F2\n");
    put(
        r,
        "block/sda/device/wwid",
        b"t10.ATA     ST1000NM0008-2F2   ZFA1234\n",
    );
    put(r, "block/sda/ro", b"0\n");
    // SATA SSD.
    put(r, "block/sdb/size", b"937703088\n");
    put(r, "block/sdb/queue/rotational", b"0\n");
    put(r, "block/sdb/device/model", b"SAMSUNG MZ7LH480\n");
    put(r, "block/sdb/device/serial", b"S45PNA0M123456\n");
    // NVMe namespace: wwid at the namespace, serial and model at the controller.
    put(r, "block/nvme0n1/size", b"3750748848\n");
    put(r, "block/nvme0n1/queue/rotational", b"0\n");
    put(
        r,
        "block/nvme0n1/wwid",
        b"eui.36344730526054940025384500000001\n",
    );
    put(
        r,
        "block/nvme0n1/device/model",
        b"SAMSUNG MZQLB1T9HAJR-00007              \n",
    );
    put(r, "block/nvme0n1/device/serial", b"S439NA0N123456      \n");
    // SD card: name instead of model.
    put(r, "block/mmcblk0/size", b"62333952\n");
    put(r, "block/mmcblk0/device/name", b"SC64G\n");
    put(r, "block/mmcblk0/device/serial", b"0x1234abcd\n");
    // Virtio disk without a queue folder: kind unknown, no model.
    put(r, "block/vda/size", b"20971520\n");
    // Read-only disk (a write-protected USB stick).
    put(r, "block/sdc/size", b"30031872\n");
    put(r, "block/sdc/ro", b"1\n");
    put(r, "block/sdc/device/model", b"Flash \xff Disk\n");
    // Virtual devices and empty readers: not disks.
    for v in [
        "loop0", "loop7", "ram0", "zram0", "dm-0", "md127", "nbd0", "sr0", "fd0",
    ] {
        put(r, &format!("block/{v}/size"), b"2048\n");
    }
    put(r, "block/sdd/size", b"0\n");
    put(r, "block/sdd/device/model", b"Card Reader\n");
    // A size that is not a number reads as 0 (skipped).
    put(r, "block/sde/size", b"lots\n");
    t
}

#[test]
fn lists_real_disks_only() {
    let t = tree();
    let d = disks::list(t.path()).unwrap();
    let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["mmcblk0", "nvme0n1", "sda", "sdb", "sdc", "vda"]);
    let by = |n: &str| d.iter().find(|d| d.name == n).unwrap();

    let sda = by("sda");
    assert_eq!(sda.kind, DiskKind::Hdd);
    assert_eq!(sda.size, 1953525168 * 512);
    assert_eq!(sda.model, "ST1000NM0008-2F2");
    assert_eq!(sda.serial, "");
    assert_eq!(sda.wwid, "t10.ATA     ST1000NM0008-2F2   ZFA1234");
    assert_eq!(sda.device_name, "/dev/sda");
    assert!(!sda.read_only);

    assert_eq!(by("sdb").kind, DiskKind::Ssd);
    assert_eq!(by("sdb").serial, "S45PNA0M123456");
    let nvme = by("nvme0n1");
    assert_eq!(nvme.kind, DiskKind::Nvme);
    assert_eq!(nvme.model, "SAMSUNG MZQLB1T9HAJR-00007");
    assert_eq!(nvme.serial, "S439NA0N123456");
    assert_eq!(nvme.wwid, "eui.36344730526054940025384500000001");
    assert_eq!(
        (by("mmcblk0").kind, by("mmcblk0").model.as_str()),
        (DiskKind::Sd, "SC64G")
    );
    assert_eq!(
        (by("vda").kind, by("vda").model.as_str()),
        (DiskKind::Unknown, "")
    );
    assert!(by("sdc").read_only);
    assert_eq!(by("sdc").model, "Flash \u{fffd} Disk");
}

#[test]
fn storage_report() {
    let t = tree();
    let d = disks::list(t.path()).unwrap();
    let s = disks::to_proto(&d);
    assert_eq!(s.device_count, 6);
    assert_eq!(s.total_size, d.iter().map(|d| d.size).sum::<u64>());
    let nvme = s.devices.iter().find(|x| x.name == "nvme0n1").unwrap();
    assert_eq!(nvme.r#type, api::StorageType::NvMe as i32);
    assert_eq!(nvme.device_name, "/dev/nvme0n1");
}

#[test]
fn missing_block_folder_is_an_error_and_empty_folder_no_disks() {
    let t = tempfile::tempdir().unwrap();
    assert!(disks::list(t.path()).is_err());
    std::fs::create_dir(t.path().join("block")).unwrap();
    assert_eq!(disks::list(t.path()).unwrap(), vec![]);
}
