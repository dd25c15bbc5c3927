//! QEMU machines for the lab: one virtio NIC on a tap of the lab's bridge, SMBIOS system data,
//! serial console in a file, monitor on a socket, TCG (this machine's KVM breaks stock
//! guests). Firmware is SeaBIOS with the NIC's iPXE ROM, or OVMF with its own PXE.

use std::path::{Path, PathBuf};

use crate::Error;
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

/// One machine's hardware.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Firmware.
    pub firmware: Firmware,
    /// SMBIOS type 1 fields after `type=1,` (`uuid=…,product=…`).
    pub smbios: String,
    /// The boot NIC's MAC address.
    pub mac: String,
    /// The tap device in the lab's namespace.
    pub tap: String,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// Folder for the serial console (`serial.log`), monitor socket and OVMF variables.
    pub dir: PathBuf,
    /// A qcow2 disk on virtio-blk, if any.
    pub disk: Option<PathBuf>,
}

impl Machine {
    /// A 512 MiB machine with only a UUID in SMBIOS on [`TAP`], its files in `dir`.
    pub fn new(firmware: Firmware, uuid: &str, mac: &str, dir: &Path) -> Machine {
        Machine {
            firmware,
            smbios: format!("uuid={uuid}"),
            mac: mac.to_string(),
            tap: TAP.to_string(),
            memory_mib: 512,
            dir: dir.to_path_buf(),
            disk: None,
        }
    }

    /// The serial console's file.
    pub fn serial(&self) -> PathBuf {
        self.dir.join("serial.log")
    }

    /// The QEMU command line (without the program): network boot first, `-no-reboot` (a
    /// reboot ends the process), serial console in [`Machine::serial`], monitor on
    /// `monitor.sock`. UEFI copies OVMF's variable store into the folder.
    pub fn args(&self) -> Result<Vec<String>, Error> {
        let mut args: Vec<String> = [
            "-accel",
            "tcg",
            "-m",
            &self.memory_mib.to_string(),
            "-display",
            "none",
            "-no-reboot",
            "-no-user-config",
            "-nodefaults",
        ]
        .map(String::from)
        .to_vec();
        args.push("-serial".into());
        args.push(format!("file:{}", self.serial().display()));
        args.push("-monitor".into());
        args.push(format!(
            "unix:{},server,nowait",
            self.dir.join("monitor.sock").display()
        ));
        args.push("-smbios".into());
        args.push(format!("type=1,{}", self.smbios));
        args.push("-netdev".into());
        args.push(format!(
            "tap,id=n0,ifname={},script=no,downscript=no",
            self.tap
        ));
        args.push("-device".into());
        match self.firmware {
            Firmware::Bios => {
                args.push(format!(
                    "virtio-net-pci,netdev=n0,mac={},bootindex=1",
                    self.mac
                ));
                args.extend(["-vga", "std"].map(String::from));
            }
            Firmware::Uefi => {
                // An empty romfile drops the iPXE ROM: OVMF's own PXE asks our proxy for a
                // boot file (snp.efi), as real UEFI servers do.
                args.push(format!(
                    "virtio-net-pci,netdev=n0,mac={},bootindex=1,romfile=",
                    self.mac
                ));
                let vars = self.dir.join("OVMF_VARS.fd");
                std::fs::copy(OVMF_VARS, &vars)
                    .map_err(|e| Error::io(format!("copying {OVMF_VARS}"), e))?;
                args.extend(["-machine", "q35", "-drive"].map(String::from));
                args.push(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"));
                args.push("-drive".into());
                args.push(format!("if=pflash,format=raw,file={}", vars.display()));
            }
        }
        if let Some(disk) = &self.disk {
            args.push("-drive".into());
            args.push(format!("file={},if=virtio,format=qcow2", disk.display()));
        }
        Ok(args)
    }
}

/// The QEMU tests' machine in `lab` (512 MiB, tap [`TAP`], files in the lab's folder).
pub fn qemu_args(
    lab: &Lab,
    firmware: Firmware,
    uuid: &str,
    mac: &str,
) -> Result<Vec<String>, Error> {
    Machine::new(firmware, uuid, mac, lab.dir.path()).args()
}

/// Powers the tests' machine on (process `qemu` of the lab), PXE first.
pub fn start(lab: &mut Lab, firmware: Firmware, uuid: &str, mac: &str) -> Result<(), Error> {
    let args = qemu_args(lab, firmware, uuid, mac)?;
    lab.spawn("qemu", "qemu-system-x86_64", &args)
}

/// Creates a blank qcow2 disk of `mib` MiB at `path` (`qemu-img`, Debian's qemu-utils).
pub fn create_disk(path: &Path, mib: u64) -> Result<(), Error> {
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg(format!("{mib}M"))
        .output()
        .map_err(|e| Error::io("running qemu-img (Debian's qemu-utils)", e))?;
    if !out.status.success() {
        return Err(Error::Process(format!(
            "qemu-img create {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
