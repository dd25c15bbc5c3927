//! The lab's three machines: QEMU VMs (SeaBIOS + iPXE ROM, a qcow2 disk, SMBIOS product name
//! selecting their ServerClass) behind one `ipmi_sim` BMC each, whose chassis hook starts and
//! stops the VM. The operator powers them on once through their BMCs (PXE first): they
//! network-boot into the agent, which registers them (auto-accepted), wipes them and reboots
//! (`-no-reboot` ends the VM). Their BMCs are then recorded on the Servers (address on the
//! Server, credentials in a Secret), which makes the Server controller manage their power.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_testenv::bmc_hook::{self, qemu_hook};
use sidero_testenv::ipmi_sim::{self, PASSWORD, USER};
use sidero_testenv::lab::{BRIDGE, Lab};
use sidero_testenv::vm::{self, Firmware};

use crate::progress::Progress;

/// One machine of the lab.
pub struct Spec {
    /// SMBIOS system UUID, the Server's name.
    pub uuid: &'static str,
    /// The boot NIC's MAC address.
    pub mac: &'static str,
    /// SMBIOS product name (selects the ServerClass).
    pub product: &'static str,
    /// The BMC's address on the lab's bridge (RMCP+ on port 623).
    pub bmc_ip: &'static str,
    /// The VM's tap device on the bridge.
    pub tap: &'static str,
    /// Short name for folders and logs.
    pub short: &'static str,
}

/// The three machines: one for the control plane, two workers.
pub const MACHINES: [Spec; 3] = [
    Spec {
        uuid: "4c4c4544-0000-4000-8000-000000000c01",
        mac: "52:54:00:10:0c:01",
        product: "lab-cp",
        bmc_ip: "10.214.0.11",
        tap: "tap0",
        short: "cp1",
    },
    Spec {
        uuid: "4c4c4544-0000-4000-8000-000000000a01",
        mac: "52:54:00:10:0a:01",
        product: "lab-worker",
        bmc_ip: "10.214.0.12",
        tap: "tap1",
        short: "w1",
    },
    Spec {
        uuid: "4c4c4544-0000-4000-8000-000000000a02",
        mac: "52:54:00:10:0a:02",
        product: "lab-worker",
        bmc_ip: "10.214.0.13",
        tap: "tap2",
        short: "w2",
    },
];

/// The tap devices the lab's namespace needs.
pub fn taps() -> Vec<&'static str> {
    MACHINES.iter().map(|m| m.tap).collect()
}

/// RMCP+ port of every BMC.
pub const BMC_PORT: u16 = 623;
/// Memory per VM: the agent environment needs little, and TCG is slow with more.
const MEMORY_MIB: u32 = 384;
/// Disk per VM: the fast wipe zeroes its first and last MiB.
const DISK_MIB: u64 = 64;

/// A machine whose BMC runs.
pub struct Running {
    /// What it is.
    pub spec: &'static Spec,
    /// Its folder in the lab (disk, serial console, BMC).
    pub dir: PathBuf,
    /// The BMC hook's state folder.
    pub state: PathBuf,
}

impl Running {
    /// The serial console so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("serial.log")).unwrap_or_default())
            .into_owned()
    }

    /// The VM's PID while it runs.
    pub fn vm_pid(&self) -> Option<u32> {
        bmc_hook::vm_pid(&self.state).filter(|p| bmc_hook::alive(*p))
    }
}

/// Creates each machine's disk and starts its BMC in the lab (addresses on the bridge).
pub async fn start_bmcs(lab: &mut Lab, p: &Progress) -> anyhow::Result<Vec<Running>> {
    let mut out = Vec::new();
    for spec in &MACHINES {
        lab.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", spec.bmc_ip),
            "dev",
            BRIDGE,
        ])?;
        let dir = lab.path(spec.short);
        std::fs::create_dir_all(&dir)?;
        let disk = dir.join("disk.qcow2");
        vm::create_disk(&disk, DISK_MIB)?;
        let machine = vm::Machine {
            firmware: Firmware::Bios,
            smbios: format!(
                "uuid={},manufacturer=QEMU,product={},serial=SN-{}",
                spec.uuid, spec.product, spec.short
            ),
            mac: spec.mac.into(),
            tap: spec.tap.into(),
            memory_mib: MEMORY_MIB,
            dir: dir.clone(),
            disk: Some(disk),
        };
        let bmc = dir.join("bmc");
        let args = ipmi_sim::prepare(&bmc, spec.bmc_ip, BMC_PORT, &qemu_hook(&machine.args()?)?)?;
        let state = bmc.join("state");
        lab.kill_on_drop(state.join("vm.pid"));
        lab.spawn(&format!("ipmi_sim-{}", spec.short), "ipmi_sim", &args)?;
        let (ns, ip) = (lab.ns.clone(), spec.bmc_ip);
        tokio::task::spawn_blocking(move || {
            ipmi_sim::wait_ready(Some(&ns), ip, BMC_PORT, Duration::from_secs(20))
        })
        .await??;
        p.step(format!(
            "{} ({}): BMC {}:{BMC_PORT} (ipmi_sim), {MEMORY_MIB} MiB, {DISK_MIB} MiB disk, MAC {}",
            spec.short, spec.product, spec.bmc_ip, spec.mac
        ));
        out.push(Running { spec, dir, state });
    }
    Ok(out)
}

/// What the operator does with a new machine: PXE once, power on, through its BMC.
pub async fn power_on(lab: &Lab, m: &Running) -> anyhow::Result<()> {
    let (ns, ip) = (lab.ns.clone(), m.spec.bmc_ip);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for cmd in [
            &["chassis", "bootdev", "pxe"][..],
            &["chassis", "power", "on"],
        ] {
            let out = ipmi_sim::ipmitool(Some(&ns), ip, BMC_PORT, cmd)?;
            if !out.status.success() {
                bail!(
                    "ipmitool {cmd:?} on {ip}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    })
    .await?
}

fn servers(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "metal.sidero.dev",
        "v1alpha2",
        "Server",
    ));
    Api::all_with(client.clone(), &ar)
}

/// The Server named `uuid` as JSON, if it exists.
pub async fn server(client: &Client, uuid: &str) -> anyhow::Result<Option<Value>> {
    Ok(servers(client)
        .get_opt(uuid)
        .await?
        .map(|s| serde_json::to_value(s).unwrap_or_default()))
}

/// Records the BMC of `m` on its Server: a Secret with the credentials, `spec.bmc` naming it.
async fn record_bmc(client: &Client, m: &Running) -> anyhow::Result<()> {
    let name = format!("bmc-{}", m.spec.short);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"user": USER, "pass": PASSWORD}
    }))?;
    match Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e).context("creating the BMC Secret"),
    }
    let key = |k: &str| json!({"secretKeyRef": {"namespace": "default", "name": name, "key": k}});
    let patch = json!({"spec": {"bmc": {
        "endpoint": m.spec.bmc_ip, "port": BMC_PORT,
        "userFrom": key("user"), "passFrom": key("pass")}}});
    servers(client)
        .patch(m.spec.uuid, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .with_context(|| format!("recording the BMC on Server {}", m.spec.uuid))?;
    Ok(())
}

/// Discovery milestones of one machine, in order; each is printed once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    PoweredOn,
    Netbooted,
    AgentRunning,
    Registered,
    Wiped,
    Rebooted,
    BmcRecorded,
    Ready,
}

/// Waits until every machine is discovered, accepted, wiped and `Ready` with its BMC
/// recorded (at most `limit`), printing each machine's milestones. `manager_log` is read for
/// the `/ipxe` decisions.
pub async fn discover(
    client: &Client,
    machines: &[Running],
    manager_log: &std::path::Path,
    p: &Progress,
    limit: Duration,
) -> anyhow::Result<Vec<Value>> {
    let start = Instant::now();
    let mut stages = vec![Stage::PoweredOn; machines.len()];
    loop {
        let log = std::fs::read_to_string(manager_log).unwrap_or_default();
        for (m, stage) in machines.iter().zip(stages.iter_mut()) {
            let s = m.spec.short;
            if *stage == Stage::PoweredOn
                && log.lines().any(|l| {
                    l.contains("ipxe decision") && l.contains(m.spec.uuid) && l.contains("agent")
                })
            {
                *stage = Stage::Netbooted;
                p.step(format!(
                    "{s}: network-booted: proxy DHCP, iPXE, /ipxe → agent environment"
                ));
            }
            if *stage == Stage::Netbooted && m.console().contains("sidero-agent") {
                *stage = Stage::AgentRunning;
                p.step(format!("{s}: kernel up, sidero-agent running"));
            }
            let server = server(client, m.spec.uuid).await?;
            let st = server
                .as_ref()
                .map(|v| v["status"].clone())
                .unwrap_or_default();
            if *stage < Stage::Registered && server.is_some() {
                *stage = Stage::Registered;
                let accepted = server
                    .as_ref()
                    .is_some_and(|v| v["spec"]["accepted"] == true);
                p.step(format!(
                    "{s}: registered as Server {} (product {}), accepted: {accepted}",
                    m.spec.uuid, m.spec.product
                ));
            }
            if *stage == Stage::Registered && st["isClean"] == true {
                *stage = Stage::Wiped;
                p.step(format!("{s}: disks wiped, isClean"));
            }
            if *stage == Stage::Wiped && m.vm_pid().is_none() {
                *stage = Stage::Rebooted;
                p.step(format!("{s}: agent rebooted (the VM powered off)"));
                // From now on the machine's OS is simulated (Talos; no images offline).
                bmc_hook::simulate_os(&m.state)?;
                record_bmc(client, m).await?;
                *stage = Stage::BmcRecorded;
                p.step(format!(
                    "{s}: BMC {}:{BMC_PORT} recorded on the Server (Secret default/bmc-{s})",
                    m.spec.bmc_ip
                ));
            }
            if *stage == Stage::BmcRecorded
                && st["ready"] == true
                && st["isClean"] == true
                && st["power"] == "off"
            {
                *stage = Stage::Ready;
                p.step(format!("{s}: Ready (clean, power off, managed over IPMI)"));
            }
        }
        if stages.iter().all(|s| *s == Stage::Ready) {
            let mut out = Vec::new();
            for m in machines {
                out.push(server(client, m.spec.uuid).await?.unwrap_or_default());
            }
            return Ok(out);
        }
        if start.elapsed() > limit {
            let mut why = String::new();
            for (m, stage) in machines.iter().zip(&stages) {
                let console = m.console();
                let tail: Vec<&str> = console.lines().rev().take(15).collect();
                why.push_str(&format!(
                    "\n--- {} at {stage:?}; console tail:\n{}",
                    m.spec.short,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            bail!("discovery did not finish within {limit:?}:{why}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
