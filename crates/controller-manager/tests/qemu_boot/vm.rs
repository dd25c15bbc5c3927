//! The QEMU machine: one virtio NIC on the lab's tap, SMBIOS UUID set, serial console in a
//! file, TCG. Firmware is SeaBIOS with the NIC's iPXE ROM, or OVMF with its own PXE.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use crate::lab::{Lab, TAP};

/// Which firmware boots the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS; the NIC's option ROM (Debian's ipxe-qemu) is iPXE.
    Bios,
    /// OVMF (Debian's ovmf, 4 MiB flash); the NIC's ROM is removed so OVMF's PXE runs.
    Uefi,
}

/// OVMF's code and variable store templates (Debian's `ovmf` package).
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Powers the machine on, PXE first.
pub fn start(lab: &mut Lab, firmware: Firmware, uuid: &str, mac: &str) {
    let args = qemu_args(lab, firmware, uuid, mac);
    lab.spawn("qemu", "qemu-system-x86_64", &args);
}

/// The QEMU command line (without the program) of the machine: network boot first, serial
/// console in the lab's `serial.log`, monitor on `monitor.sock`.
pub fn qemu_args(lab: &Lab, firmware: Firmware, uuid: &str, mac: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "-accel",
        "tcg",
        "-m",
        "512",
        "-display",
        "none",
        "-no-reboot",
        "-no-user-config",
        "-nodefaults",
    ]
    .map(String::from)
    .to_vec();
    args.push("-serial".into());
    args.push(format!("file:{}", lab.path("serial.log").display()));
    args.push("-monitor".into());
    args.push(format!(
        "unix:{},server,nowait",
        lab.path("monitor.sock").display()
    ));
    args.push("-smbios".into());
    args.push(format!("type=1,uuid={uuid}"));
    args.push("-netdev".into());
    args.push(format!("tap,id=n0,ifname={TAP},script=no,downscript=no"));
    args.push("-device".into());
    match firmware {
        Firmware::Bios => {
            args.push(format!("virtio-net-pci,netdev=n0,mac={mac},bootindex=1"));
            args.extend(["-vga", "std"].map(String::from));
        }
        Firmware::Uefi => {
            // An empty romfile drops the iPXE ROM: OVMF's own PXE asks our proxy for a
            // boot file (snp.efi), as real UEFI servers do.
            args.push(format!(
                "virtio-net-pci,netdev=n0,mac={mac},bootindex=1,romfile="
            ));
            let vars = lab.path("OVMF_VARS.fd");
            std::fs::copy(OVMF_VARS, &vars).unwrap();
            args.extend(["-machine", "q35", "-drive"].map(String::from));
            args.push(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"));
            args.push("-drive".into());
            args.push(format!("if=pflash,format=raw,file={}", vars.display()));
        }
    }
    args
}

/// Waits for the initramfs's marker line on the serial console; returns it from the marker
/// on. None on timeout or when QEMU ends without printing it.
pub fn wait_for_marker(lab: &mut Lab, serial: &Path, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(serial).unwrap_or_default()).into_owned();
        if let Some(at) = text.find("SIDERO-MARKER ") {
            let rest = &text[at..];
            // The line is complete once its newline is written.
            if let Some(end) = rest.find('\n') {
                return Some(rest[..end].trim_end().to_owned());
            }
        }
        if !lab.running("qemu") || Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
