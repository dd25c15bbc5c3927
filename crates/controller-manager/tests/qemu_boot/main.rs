//! End to end network boot of a QEMU machine through our own services only: in a network
//! namespace, dnsmasq hands out addresses (no boot options), and the real
//! `sidero-controller-manager` answers with proxy DHCP, TFTP, `/boot.ipxe` and `/ipxe`, then
//! serves the agent environment (Debian's kernel and a busybox initramfs built by
//! `tools/initramfs/build.sh`). The initramfs prints a marker with `/proc/cmdline` on the
//! serial console and powers off.
//!
//! * BIOS: SeaBIOS runs the NIC's iPXE option ROM, which DHCPs as iPXE; the proxy hands it
//!   `/boot.ipxe` (Debian's iPXE has no embedded script, so TFTP is not used on this path).
//! * UEFI: OVMF's own PXE (the NIC's ROM is removed) gets `snp.efi` from the proxy and
//!   fetches it from our TFTP; that iPXE DHCPs again as iPXE and continues as above.
//!
//! Needs root, ip, dnsmasq, qemu-system-x86, ovmf, ipxe, ipxe-qemu, and the initramfs build's
//! tools (scripts/test.sh installs them). QEMU runs with TCG (this machine's KVM is kvm-pvm,
//! which breaks stock guests), so each boot takes tens of seconds; timeouts are minutes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod harness;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use harness::{API_PORT, field, log_events, start_manager};
use sidero_netboot::args::{Endpoints, agent_args};
use sidero_netboot::cmdline::Cmdline;
use sidero_testenv::lab::{Lab, MANAGER_IP, missing_prerequisite};
use sidero_testenv::vm::{self, Firmware};

/// The whole boot, power on to power off, under TCG on a loaded 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);

/// The agent environment: the marker initramfs, built once per test binary. virtio_pci +
/// virtio_net make the marker list the NIC, as the agent (issue 4) will need it.
fn environment() -> &'static PathBuf {
    static ENV: OnceLock<PathBuf> = OnceLock::new();
    ENV.get_or_init(|| {
        harness::build_environment(&["--module", "virtio_pci", "--module", "virtio_net"])
    })
}

/// Waits for the initramfs's marker line on the serial console; returns it from the marker
/// on. None on timeout or when QEMU ends without printing it.
fn wait_for_marker(lab: &mut Lab, serial: &Path, timeout: Duration) -> Option<String> {
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

/// Everything the machine and the services printed, for failure messages.
fn context(lab: &Lab) -> String {
    harness::context(lab)
}

async fn boot(firmware: Firmware, uuid: &str, mac: &str) {
    if let Some(why) = missing_prerequisite() {
        panic!("QEMU boot test cannot run: {why}");
    }
    let env = environment().clone();
    let cp = sidero_testenv::shared().unwrap();
    let api_port: u16 = cp.url().rsplit(':').next().unwrap().parse().unwrap();

    let mut lab = Lab::new().unwrap();
    lab.forward_host_port(api_port).unwrap();
    lab.start_dnsmasq().unwrap();
    start_manager(&mut lab, cp.kubeconfig(), &env, &[]);

    let started = Instant::now();
    vm::start(&mut lab, firmware, uuid, mac).unwrap();
    let serial = lab.path("serial.log");
    let marker = wait_for_marker(&mut lab, &serial, BOOT_TIMEOUT);
    let marker_at = started.elapsed();
    let Some(marker) = marker else {
        panic!(
            "{firmware:?}: no marker within {BOOT_TIMEOUT:?} ({:.1}s)\n{}",
            started.elapsed().as_secs_f64(),
            context(&lab)
        );
    };
    let powered_off = lab.wait_exit("qemu", Duration::from_secs(60));
    let off_at = started.elapsed();

    // The initramfs ran on this machine, with the command line we rendered for it.
    assert!(marker.contains(&format!("uuid={uuid} ")), "{marker}");
    assert!(marker.contains("eth0"), "virtio_net loaded: {marker}");
    let endpoints = Endpoints {
        api_host: MANAGER_IP.into(),
        api_port: API_PORT,
        siderolink_address: String::new(),
    };
    let expected = agent_args(Some(mac), &endpoints, &Cmdline::parse("")).join(" ");
    assert!(
        expected.contains(&format!("sidero.mac={mac}"))
            && expected.contains("sidero.endpoint=10.214.0.2:8081"),
        "{expected}"
    );
    let cmdline = marker.split_once("cmdline=").unwrap().1.trim();
    // iPXE's EFI loader passes the image name first (the EFI stub keeps it); its bzImage
    // loader passes the arguments only.
    let want = match firmware {
        Firmware::Bios => expected.clone(),
        Firmware::Uefi => format!("vmlinuz {expected}"),
    };
    assert_eq!(cmdline, want, "the kernel got the command line we rendered");
    assert!(powered_off, "the initramfs powers off\n{}", context(&lab));

    // The manager saw this machine: proxy DHCP, /boot.ipxe, the /ipxe decision for its UUID
    // and MAC, and the environment's files.
    let log = lab.log("manager");
    let offers = log_events(&log, "offering boot response");
    assert!(
        offers
            .iter()
            .any(|o| field(o, "mac") == mac && field(o, "boot_filename").ends_with("/boot.ipxe")),
        "no proxy DHCP offer of /boot.ipxe to {mac}\n{log}"
    );
    let decisions = log_events(&log, "ipxe decision");
    let ours: Vec<_> = decisions
        .iter()
        .filter(|d| field(d, "uuid") == uuid)
        .collect();
    assert!(!ours.is_empty(), "no /ipxe decision for {uuid}\n{log}");
    for d in &ours {
        assert_eq!(field(d, "mac"), format!("Some(\"{mac}\")"), "{d}");
        assert_eq!(field(d, "branch"), "agent", "{d}");
        assert_eq!(d["fields"]["status"].as_u64(), Some(200), "{d}");
    }
    for path in [
        "/boot.ipxe",
        "/env/agent-amd64/vmlinuz",
        "/env/agent-amd64/initramfs.xz",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("HTTP GET {path} ")) && l.contains("\"status\":200")),
            "no successful GET {path}\n{log}"
        );
    }
    if firmware == Firmware::Uefi {
        // OVMF's PXE got snp.efi from our proxy and our TFTP server.
        assert!(
            offers
                .iter()
                .any(|o| field(o, "mac") == mac && field(o, "boot_filename") == "snp.efi"),
            "no proxy DHCP offer of snp.efi to {mac}\n{log}"
        );
        assert!(
            log.lines()
                .any(|l| l.contains("transfer completed") && l.contains("snp.efi")),
            "no TFTP transfer of snp.efi\n{log}"
        );
        assert!(
            !offers
                .iter()
                .any(|o| field(o, "firmware") == "x86-uefi-http"),
            "OVMF fell back to UEFI HTTP boot: the PXE/TFTP path failed\n{log}"
        );
    }
    eprintln!(
        "qemu {firmware:?} boot: marker after {:.1}s, powered off after {:.1}s (env {})\n{marker}",
        marker_at.as_secs_f64(),
        off_at.as_secs_f64(),
        env.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bios_pxe_boot_reaches_the_agent_initramfs() {
    boot(
        Firmware::Bios,
        "b105b105-0000-4000-8000-00000000b105",
        "52:54:00:5e:b1:05",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uefi_pxe_boot_reaches_the_agent_initramfs() {
    boot(
        Firmware::Uefi,
        "0ef10ef1-0000-4000-8000-000000000ef1",
        "52:54:00:5e:0e:f1",
    )
    .await;
}
