//! sidero-agent: PID 1 of Sidero's discovery initramfs (spec §7.2).
//!
//! One module per concern; the binary (`main.rs`) wires them in order:
//!
//! * [`early`]: mounts and folders a PID 1 needs; [`console`]: plain-word logging to the
//!   console and `/dev/kmsg`;
//! * [`modules`]: drivers for the devices present (modprobe by modalias);
//! * [`cmdline`]: `sidero.mac` and `sidero.endpoint` from the kernel command line;
//! * [`network`], with [`dhcp`] and [`netconf`]: DHCPv4 on the boot NIC and applying the
//!   lease over rtnetlink;
//! * [`disks`], [`nics`], [`hardware`], gathered by [`inventory`]: SMBIOS, sysfs, rtnetlink;
//! * [`lifecycle`]: the Agent API conversation, with [`retry`], [`wipe`] (+ [`blkdev`]) and
//!   [`bmc`] (over [`ipmi`]);
//! * [`power`]: the countdown and reboot every run ends with.

pub mod blkdev;
pub mod bmc;
pub mod cmdline;
pub mod console;
pub mod dhcp;
pub mod disks;
pub mod early;
pub mod hardware;
pub mod inventory;
pub mod ipmi;
pub mod lifecycle;
pub mod modules;
pub mod netconf;
pub mod network;
pub mod nics;
pub mod power;
pub mod retry;
pub mod wipe;
