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
pub enum Stage {
    /// Powered on by the operator.
    PoweredOn,
    /// `/ipxe` answered it with the agent environment.
    Netbooted,
    /// The agent runs (its console says so).
    AgentRunning,
    /// Its Server exists.
    Registered,
    /// Its Server is clean.
    Wiped,
    /// The agent rebooted, which ends the VM (`-no-reboot`); the BMC is recorded now.
    Rebooted,
    /// The BMC is on the Server.
    BmcRecorded,
    /// Ready, clean and off.
    Ready,
}

/// What one look at a machine saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    /// The manager logged an `/ipxe` agent decision for it.
    pub netbooted: bool,
    /// Its console shows the agent.
    pub agent: bool,
    /// Its Server exists.
    pub server: bool,
    /// `status.isClean`.
    pub clean: bool,
    /// `status.ready` and `status.power == "off"`.
    pub ready_off: bool,
    /// The VM process runs.
    pub vm_running: bool,
}

/// The next stage of a machine at `stage` given what was `seen`, or `Err` when the machine
/// cannot get further (its VM ended before the wipe was reported). `None`: no change.
pub fn advance(stage: Stage, seen: &Seen) -> Result<Option<Stage>, &'static str> {
    use Stage::*;
    if stage < Wiped && !seen.vm_running && !seen.clean {
        return Err("the VM stopped before its Server was wiped");
    }
    Ok(match stage {
        PoweredOn if seen.netbooted => Some(Netbooted),
        // The agent may register before its console line is read: registration counts.
        PoweredOn | Netbooted if seen.agent => Some(AgentRunning),
        PoweredOn | Netbooted | AgentRunning if seen.server => Some(Registered),
        Registered if seen.clean => Some(Wiped),
        Wiped if !seen.vm_running => Some(Rebooted),
        BmcRecorded if seen.ready_off && seen.clean => Some(Ready),
        _ => None,
    })
}

/// The line printed on reaching `stage`.
fn say(stage: Stage, m: &Running) -> String {
    let s = m.spec.short;
    match stage {
        Stage::PoweredOn => format!("{s}: powered on"),
        Stage::Netbooted => {
            format!("{s}: network-booted: proxy DHCP, iPXE, /ipxe → agent environment")
        }
        Stage::AgentRunning => format!("{s}: kernel up, sidero-agent running"),
        Stage::Registered => format!(
            "{s}: registered as Server {} (product {})",
            m.spec.uuid, m.spec.product
        ),
        Stage::Wiped => format!("{s}: accepted and wiped: isClean"),
        Stage::Rebooted => format!("{s}: agent rebooted (the VM powered off)"),
        Stage::BmcRecorded => format!(
            "{s}: BMC {}:{BMC_PORT} recorded on the Server (Secret default/bmc-{s})",
            m.spec.bmc_ip
        ),
        Stage::Ready => format!("{s}: Ready (clean, power off, managed over IPMI)"),
    }
}

fn console_tail(m: &Running, n: usize) -> String {
    let console = m.console();
    let tail: Vec<&str> = console.lines().rev().take(n).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Waits until every machine is discovered, accepted, wiped and `Ready` with its BMC
/// recorded (at most `limit`), printing each machine's milestones, and a status line when
/// nothing changed for a while. `manager_log` is read for the `/ipxe` decisions.
pub async fn discover(
    client: &Client,
    machines: &[Running],
    manager_log: &std::path::Path,
    p: &Progress,
    limit: Duration,
) -> anyhow::Result<Vec<Value>> {
    let start = Instant::now();
    let mut last_change = Instant::now();
    let mut stages = vec![Stage::PoweredOn; machines.len()];
    loop {
        let log = std::fs::read_to_string(manager_log).unwrap_or_default();
        for (m, stage) in machines.iter().zip(stages.iter_mut()) {
            let server = server(client, m.spec.uuid).await?;
            let st = server
                .as_ref()
                .map(|v| v["status"].clone())
                .unwrap_or_default();
            let seen = Seen {
                netbooted: log.lines().any(|l| {
                    l.contains("ipxe decision") && l.contains(m.spec.uuid) && l.contains("agent")
                }),
                agent: m.console().contains("sidero-agent"),
                server: server.is_some(),
                clean: st["isClean"] == true,
                ready_off: st["ready"] == true && st["power"] == "off",
                vm_running: m.vm_pid().is_some(),
            };
            loop {
                let next = advance(*stage, &seen).map_err(|why| {
                    anyhow::anyhow!(
                        "{}: {why} (at {stage:?}); console tail:\n{}",
                        m.spec.short,
                        console_tail(m, 20)
                    )
                })?;
                let Some(next) = next else { break };
                *stage = next;
                last_change = Instant::now();
                p.step(say(next, m));
                if next == Stage::Rebooted {
                    // From now on the machine's OS is simulated (Talos; no images offline).
                    bmc_hook::simulate_os(&m.state)?;
                    record_bmc(client, m).await?;
                    *stage = Stage::BmcRecorded;
                    p.step(say(Stage::BmcRecorded, m));
                }
            }
        }
        if stages.iter().all(|s| *s == Stage::Ready) {
            let mut out = Vec::new();
            for m in machines {
                out.push(server(client, m.spec.uuid).await?.unwrap_or_default());
            }
            return Ok(out);
        }
        if last_change.elapsed() > Duration::from_secs(30) {
            last_change = Instant::now();
            let at: Vec<String> = machines
                .iter()
                .zip(&stages)
                .map(|(m, s)| format!("{} {s:?}", m.spec.short))
                .collect();
            p.step(format!("still working (TCG is slow): {}", at.join(", ")));
        }
        if start.elapsed() > limit {
            let mut why = String::new();
            for (m, stage) in machines.iter().zip(&stages) {
                why.push_str(&format!(
                    "\n--- {} at {stage:?}; console tail:\n{}",
                    m.spec.short,
                    console_tail(m, 15)
                ));
            }
            bail!("discovery did not finish within {limit:?}:{why}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_advance_in_order_on_what_was_seen() {
        use Stage::*;
        let vm = Seen {
            vm_running: true,
            ..Seen::default()
        };
        let rows: [(Stage, Seen, Result<Option<Stage>, ()>); 12] = [
            (PoweredOn, vm, Ok(None)),
            (
                PoweredOn,
                Seen {
                    netbooted: true,
                    ..vm
                },
                Ok(Some(Netbooted)),
            ),
            (
                Netbooted,
                Seen { agent: true, ..vm },
                Ok(Some(AgentRunning)),
            ),
            // Registration seen before the console line: still counts.
            (Netbooted, Seen { server: true, ..vm }, Ok(Some(Registered))),
            // Clean is not taken before registration was noticed.
            (AgentRunning, Seen { clean: true, ..vm }, Ok(None)),
            (
                Registered,
                Seen {
                    server: true,
                    clean: true,
                    ..vm
                },
                Ok(Some(Wiped)),
            ),
            // Still in the agent's countdown: not rebooted yet.
            (
                Wiped,
                Seen {
                    server: true,
                    clean: true,
                    ..vm
                },
                Ok(None),
            ),
            (
                Wiped,
                Seen {
                    server: true,
                    clean: true,
                    ..Seen::default()
                },
                Ok(Some(Rebooted)),
            ),
            (
                BmcRecorded,
                Seen {
                    server: true,
                    clean: true,
                    ready_off: true,
                    ..Seen::default()
                },
                Ok(Some(Ready)),
            ),
            (
                BmcRecorded,
                Seen {
                    server: true,
                    clean: true,
                    ..Seen::default()
                },
                Ok(None),
            ),
            // The VM ended before the wipe: it will not get further.
            (
                AgentRunning,
                Seen {
                    server: true,
                    ..Seen::default()
                },
                Err(()),
            ),
            (PoweredOn, Seen::default(), Err(())),
        ];
        for (stage, seen, want) in rows {
            assert_eq!(
                advance(stage, &seen).map_err(|_| ()),
                want,
                "{stage:?} {seen:?}"
            );
        }
    }
}
