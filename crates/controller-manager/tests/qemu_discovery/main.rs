//! Discovery end to end (issue 4's acceptance): a QEMU machine with a blank qcow2 disk that
//! carries a known pattern at its start, middle and end, and SMBIOS system data given on the
//! command line, network-boots through our proxy DHCP, TFTP and `/ipxe` (see `qemu_boot`)
//! into the agent environment whose `/init` is our `sidero-agent`. The agent registers the
//! machine, which appears as a `Server` with the SMBIOS data, disks, NIC and address QEMU
//! gave it; once accepted, it is wiped (the test reads the disk image afterwards), reports
//! `isClean: true`, and is listed in the matching ServerClass's `serversAvailable`. The
//! agent reboots at the end; QEMU runs with `-no-reboot`, so that ends the VM.
//!
//! * auto-accept (BIOS): `--auto-accept-servers`; one boot; the default fast wipe zeroes the
//!   first and last MiB only, so the middle pattern survives.
//! * manual accept (UEFI): the first boot registers the machine unaccepted and leaves the
//!   disk alone; the test accepts the Server and powers the VM on again (the Server has no
//!   BMC: "not managed"); with `--insecure-wipe=false` the whole disk is zeroed.
//!
//! The agent is built static by `tools/agent/build.sh` and packed by
//! `tools/initramfs/build.sh` (both cached; `scripts/test.sh` builds them first with the same
//! arguments). Needs what `qemu_boot` needs plus `qemu-img`/`qemu-io` (Debian's qemu-utils).
//! The two tests share the test API server, and each runs its own manager whose controllers
//! see every Server, so they run one after the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../qemu_boot/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use harness::{field, log_events, start_manager};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use sidero_api::metal::v1alpha2::{Server, ServerClass};
use sidero_testenv::lab::{Lab, missing_prerequisite};
use sidero_testenv::vm::{self, Firmware};

/// Power on to power off (boot, register, wipe, ten-second countdown) under TCG on a loaded
/// 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(480);
/// The disk: small enough to zero fully in seconds, large enough for distinct regions.
const DISK_MIB: u64 = 64;
const MIB: usize = 1 << 20;
/// Pattern bytes of the first MiB, the MiB at 32 MiB, and the last MiB.
const HEAD: u8 = 0xA5;
const MIDDLE: u8 = 0x5A;
const TAIL: u8 = 0xC3;

/// The SMBIOS system (type 1) data QEMU is given, besides the UUID. The version is given
/// but not expected on the Server: upstream's agent leaves it out.
const MANUFACTURER: &str = "Acme Metal Works";
const PRODUCT: &str = "RS-4100 Discovery";
const VERSION: &str = "rev 2";
const SERIAL: &str = "SN-DISC-0001";
const SKU: &str = "SKU-7731";
const FAMILY: &str = "Rack Servers";

/// One test at a time (see the module comment).
static SERIAL_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The agent environment: Debian's kernel and an initramfs with the agent as `/init` plus the
/// virtio NIC and disk drivers; built once per test binary. `scripts/test.sh` runs the same.
fn environment() -> &'static PathBuf {
    static ENV: OnceLock<PathBuf> = OnceLock::new();
    ENV.get_or_init(|| sidero_testenv::bootenv::agent_environment().unwrap())
}

fn tool_missing() -> Option<String> {
    for tool in ["qemu-img", "qemu-io"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        if !found {
            return Some(format!("{tool} not installed (Debian's qemu-utils)"));
        }
    }
    None
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A blank qcow2 disk with the three patterns written into it.
fn make_disk(path: &Path) {
    let p = path.to_str().unwrap();
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", p, &format!("{DISK_MIB}M")],
    );
    let writes = [
        format!("write -q -P {HEAD:#x} 0 1M"),
        format!("write -q -P {MIDDLE:#x} 32M 1M"),
        format!("write -q -P {TAIL:#x} {}M 1M", DISK_MIB - 1),
    ];
    let mut args = vec!["-f", "qcow2"];
    for w in &writes {
        args.extend(["-c", w.as_str()]);
    }
    args.push(p);
    run("qemu-io", &args);
}

/// The disk's bytes (`qemu-img convert` to raw).
fn read_disk(lab: &Lab, path: &Path) -> Vec<u8> {
    let raw = lab.path("disk.raw");
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "qcow2",
            "-O",
            "raw",
            path.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
    );
    let data = std::fs::read(&raw).unwrap();
    std::fs::remove_file(&raw).unwrap();
    assert_eq!(data.len() as u64, DISK_MIB << 20);
    data
}

/// Which of the three regions still hold their pattern (head, middle, tail), and whether
/// each is all zeros.
#[derive(Debug, PartialEq)]
struct Regions {
    head: Fill,
    middle: Fill,
    tail: Fill,
}

#[derive(Debug, PartialEq)]
enum Fill {
    Pattern,
    Zero,
    Mixed,
}

fn fill(bytes: &[u8], pattern: u8) -> Fill {
    if bytes.iter().all(|b| *b == pattern) {
        Fill::Pattern
    } else if bytes.iter().all(|b| *b == 0) {
        Fill::Zero
    } else {
        Fill::Mixed
    }
}

fn regions(data: &[u8]) -> Regions {
    let n = data.len();
    Regions {
        head: fill(&data[..MIB], HEAD),
        middle: fill(&data[32 * MIB..33 * MIB], MIDDLE),
        tail: fill(&data[n - MIB..], TAIL),
    }
}

/// QEMU's arguments for the machine: `vm::qemu_args` with the full SMBIOS system data, the
/// disk on virtio-blk, and the serial console in `serial`.
fn machine_args(
    lab: &Lab,
    firmware: Firmware,
    uuid: &str,
    mac: &str,
    disk: &Path,
    serial: &str,
) -> Vec<String> {
    let default_serial = format!("file:{}", lab.path("serial.log").display());
    let mut args: Vec<String> = vm::qemu_args(lab, firmware, uuid, mac)
        .unwrap()
        .into_iter()
        .map(|a| {
            if a == format!("type=1,uuid={uuid}") {
                format!(
                    "type=1,uuid={uuid},manufacturer={MANUFACTURER},product={PRODUCT},\
                     version={VERSION},serial={SERIAL},sku={SKU},family={FAMILY}"
                )
            } else if a == default_serial {
                format!("file:{}", lab.path(serial).display())
            } else {
                a
            }
        })
        .collect();
    args.push("-drive".into());
    args.push(format!("file={},if=virtio,format=qcow2", disk.display()));
    args
}

/// Everything the machine and the services printed (with the console of boot `serial`).
fn context(lab: &Lab, serial: &str) -> String {
    format!(
        "--- serial ({serial}):\n{}\n{}",
        String::from_utf8_lossy(&std::fs::read(lab.path(serial)).unwrap_or_default()),
        harness::context(lab)
    )
}

/// Polls `f` every 250 ms until it returns `Some`, for at most `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, lab: &Lab, serial: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}\n{}",
            context(lab, serial)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts the VM as process `name` and waits until it powers itself off (the agent's reboot
/// under `-no-reboot`); returns how long it ran.
fn boot_until_off(lab: &mut Lab, name: &str, args: &[String], serial: &str) -> Duration {
    let started = Instant::now();
    lab.spawn(name, "qemu-system-x86_64", args).unwrap();
    let off = lab.wait_exit(name, BOOT_TIMEOUT);
    assert!(
        off,
        "{name}: still running after {BOOT_TIMEOUT:?}\n{}",
        context(lab, serial)
    );
    started.elapsed()
}

/// A ServerClass whose only qualifier is the manufacturer QEMU reports.
async fn create_class(client: &kube::Client, name: &str) {
    let class: ServerClass = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": name},
        "spec": {"qualifiers": {"hardware": [{"system": {"manufacturer": MANUFACTURER}}]}}
    }))
    .unwrap();
    Api::<ServerClass>::all(client.clone())
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
}

/// The registered Server carries what QEMU and the agent saw.
fn assert_hardware(server: &Server, uuid: &str, mac: &str) {
    let hw = server.spec.hardware.as_ref().expect("hardware reported");
    let sys = hw.system.as_ref().expect("system information");
    assert_eq!(sys.uuid.as_deref(), Some(uuid), "{sys:?}");
    assert_eq!(sys.manufacturer.as_deref(), Some(MANUFACTURER), "{sys:?}");
    assert_eq!(sys.product_name.as_deref(), Some(PRODUCT), "{sys:?}");
    // Upstream's agent does not send the SMBIOS version (neither does ours).
    assert_eq!(sys.version, None, "{sys:?}");
    assert_eq!(sys.serial_number.as_deref(), Some(SERIAL), "{sys:?}");
    assert_eq!(sys.sku_number.as_deref(), Some(SKU), "{sys:?}");
    assert_eq!(sys.family.as_deref(), Some(FAMILY), "{sys:?}");
    let hw_json = serde_json::to_value(hw).unwrap();
    let devices = hw_json["storage"]["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        devices
            .iter()
            .any(|d| d["deviceName"] == "/dev/vda" && d["size"].as_u64() == Some(DISK_MIB << 20)),
        "the virtio disk is reported: {}",
        hw_json["storage"]
    );
    let nics = hw_json["network"]["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        nics.iter().any(|n| n["mac"] == mac),
        "the boot NIC is reported: {}",
        hw_json["network"]
    );
}

async fn discover(firmware: Firmware, uuid: &str, mac: &str, auto_accept: bool) {
    let _one_at_a_time = SERIAL_RUN.lock().await;
    if let Some(why) = missing_prerequisite().or_else(tool_missing) {
        panic!("QEMU discovery test cannot run: {why}");
    }
    let env = environment().clone();
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let api_port: u16 = cp.url().rsplit(':').next().unwrap().parse().unwrap();
    let servers: Api<Server> = Api::all(client.clone());
    let classes: Api<ServerClass> = Api::all(client.clone());
    let class = format!("acme-{}", &uuid[..8]);
    create_class(&client, &class).await;

    let mut lab = Lab::new().unwrap();
    lab.forward_host_port(api_port).unwrap();
    lab.start_dnsmasq().unwrap();
    let disk = lab.path("disk.qcow2");
    make_disk(&disk);
    assert_eq!(
        regions(&read_disk(&lab, &disk)),
        Regions {
            head: Fill::Pattern,
            middle: Fill::Pattern,
            tail: Fill::Pattern
        }
    );
    let mut flags = vec![format!("--auto-accept-servers={auto_accept}")];
    if !auto_accept {
        flags.push("--insecure-wipe=false".into());
    }
    start_manager(&mut lab, cp.kubeconfig(), &env, &flags);

    let mut boots = Vec::new();
    if !auto_accept {
        // First boot: registered, not accepted, nothing asked of the agent.
        let args = machine_args(&lab, firmware, uuid, mac, &disk, "serial-1.log");
        let ran = boot_until_off(&mut lab, "qemu-1", &args, "serial-1.log");
        boots.push(ran);
        let server = servers.get_opt(uuid).await.unwrap();
        let Some(server) = server else {
            panic!(
                "no Server {uuid} after the first boot\n{}",
                context(&lab, "serial-1.log")
            );
        };
        assert!(!server.spec.accepted, "registered unaccepted");
        assert_hardware(&server, uuid, mac);
        let console =
            String::from_utf8_lossy(&std::fs::read(lab.path("serial-1.log")).unwrap()).into_owned();
        assert!(
            console.contains("no wipe requested"),
            "the agent was asked for nothing\n{console}"
        );
        assert_eq!(
            regions(&read_disk(&lab, &disk)),
            Regions {
                head: Fill::Pattern,
                middle: Fill::Pattern,
                tail: Fill::Pattern
            },
            "an unaccepted server's disks are left alone"
        );
        servers
            .patch(
                uuid,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"accepted": true}})),
            )
            .await
            .unwrap();
    }

    // The boot that wipes. The VM powers off by itself when the agent reboots.
    let serial = "serial-wipe.log";
    let args = machine_args(&lab, firmware, uuid, mac, &disk, serial);
    let ran = boot_until_off(&mut lab, "qemu-wipe", &args, serial);
    boots.push(ran);
    let console = String::from_utf8_lossy(&std::fs::read(lab.path(serial)).unwrap()).into_owned();
    assert!(
        console.contains(&format!("server {uuid} marked as wiped")),
        "the agent reported the wipe\n{}",
        context(&lab, serial)
    );

    let server = servers.get(uuid).await.unwrap();
    assert!(server.spec.accepted);
    assert_hardware(&server, uuid, mac);
    let st = wait_for("isClean", Duration::from_secs(30), &lab, serial, || async {
        let s = servers.get(uuid).await.ok()?;
        let st = s.status.unwrap_or_default();
        st.is_clean.then_some(st)
    })
    .await;
    let addresses: Vec<String> = st
        .addresses
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.address)
        .collect();
    assert!(
        addresses.iter().any(|a| a.starts_with("10.214.0.")),
        "the leased address is reported: {addresses:?}"
    );
    let available = wait_for(
        "the class lists the server",
        Duration::from_secs(30),
        &lab,
        serial,
        || async {
            let c = classes.get(&class).await.ok()?;
            let s = c.status.unwrap_or_default();
            s.servers_available
                .contains(&uuid.to_string())
                .then_some(s.servers_available)
        },
    )
    .await;

    // The disk: both ends zeroed; the middle only by the full wipe.
    let got = regions(&read_disk(&lab, &disk));
    let middle = if auto_accept {
        Fill::Pattern
    } else {
        Fill::Zero
    };
    assert_eq!(
        got,
        Regions {
            head: Fill::Zero,
            middle,
            tail: Fill::Zero
        },
        "after the {} wipe",
        if auto_accept { "fast" } else { "full" }
    );

    // The manager served this machine the agent environment.
    let log = lab.log("manager");
    assert!(
        log_events(&log, "ipxe decision")
            .iter()
            .any(|d| field(d, "uuid") == uuid && field(d, "branch") == "agent"),
        "no /ipxe agent decision for {uuid}\n{log}"
    );
    let at = |needle: &str| kernel_secs(&console, needle);
    let (started, wiping, marked) = (
        at("sidero-agent 0.1.0 starting").or_else(|| at("sidero-agent ")),
        at(": starting "),
        at("marked as wiped"),
    );
    eprintln!(
        "qemu discovery {firmware:?} (auto-accept {auto_accept}): boots ran {:?}; agent started \
         {started:?} s after the kernel, wipe began at {wiping:?} s, marked wiped at {marked:?} s \
         (wipe + MarkServerAsWiped {:?} s); disk after: {got:?}; class {class} available \
         {available:?}; addresses {addresses:?}",
        boots
            .iter()
            .map(|d| format!("{:.1}s", d.as_secs_f64()))
            .collect::<Vec<_>>(),
        wiping
            .zip(marked)
            .map(|(a, b)| ((b - a) * 1000.0).round() / 1000.0),
    );
    for l in console
        .lines()
        .filter(|l| l.contains("[sidero]") && l.contains("wip"))
    {
        eprintln!("  {}", l.trim_end());
    }
}

/// The kernel timestamp (`[    3.369723]`) of the first agent line containing `needle`.
fn kernel_secs(console: &str, needle: &str) -> Option<f64> {
    let line = console
        .lines()
        .find(|l| l.contains("[sidero]") && l.contains(needle))?;
    let stamp = line.split_once('[')?.1.split_once(']')?.0;
    stamp.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_accepted_machine_is_discovered_fast_wiped_and_available() {
    discover(
        Firmware::Bios,
        "d15c0a00-0000-4000-8000-00000000d15c",
        "52:54:00:5e:d1:5c",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_machine_is_discovered_fully_wiped_and_available() {
    discover(
        Firmware::Uefi,
        "d15c0b00-0000-4000-8000-00000000d15d",
        "52:54:00:5e:d1:5d",
        false,
    )
    .await;
}
