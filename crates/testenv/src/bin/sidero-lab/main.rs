//! The local management plane on one machine, on loopback and in network namespaces:
//!
//! * etcd + kube-apiserver on 127.0.0.1 with the Sidero CRDs;
//! * a lab namespace with a bridge, the site's DHCP server (dnsmasq) and three QEMU machines
//!   (TCG, a qcow2 disk each) behind `ipmi_sim` BMCs whose chassis hooks start and stop them;
//! * `sidero-controller-manager` in that namespace (proxy DHCP, TFTP, HTTP + gRPC,
//!   SideroLink, `--auto-accept-servers`) serving the real agent in an initramfs;
//! * the Cluster API core, Talos bootstrap and control-plane managers and
//!   `caps-controller-manager` on loopback.
//!
//! The operator powers the machines on through their BMCs; they PXE-boot into the agent, are
//! registered, accepted and wiped, and get their BMCs recorded. A cluster from
//! `deploy/cluster-template.yaml` binds them; the Server controller powers each bound machine
//! on over IPMI, and a Talos node simulator (there are no Talos images offline) boots from
//! `/ipxe` and its config URL, joins SideroLink and reports its install. Runs until Ctrl-C (or
//! SIGTERM), then stops everything it started, by PID; `--exit-when-done` (or
//! `SIDERO_LAB_EXIT_WHEN_DONE=1`) stops once the install is reported, `--summary=<file>`
//! writes a JSON summary for tests.

mod cluster;
mod machines;
mod progress;
mod report;
mod talos;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use sidero_testenv::lab::{Lab, MANAGER_IP, missing_prerequisite, on_path};
use sidero_testenv::process::Proc;
use sidero_testenv::{KUBERNETES_VERSION, bmc_hook, bootenv, start_with_crds};

use progress::Progress;

/// The manager's HTTP + gRPC port inside the namespace (upstream's default).
const API_PORT: u16 = 8081;
/// The limit of each long phase (TCG boots on a loaded 2-core machine take minutes).
const DISCOVERY_LIMIT: Duration = Duration::from_secs(15 * 60);
const BIND_LIMIT: Duration = Duration::from_secs(10 * 60);
const INSTALL_LIMIT: Duration = Duration::from_secs(5 * 60);

/// The simulated Talos nodes' processes: all are signalled at once, then each is waited for
/// briefly (their WireGuard threads take SIGTERM for themselves), then killed.
struct Nodes(Vec<Proc>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for n in &self.0 {
            n.terminate();
        }
        for n in &mut self.0 {
            n.stop(Duration::from_millis(500));
        }
    }
}

/// Command-line options (none are needed).
struct Options {
    exit_when_done: bool,
    summary: Option<PathBuf>,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        exit_when_done: std::env::var("SIDERO_LAB_EXIT_WHEN_DONE").is_ok_and(|v| v == "1"),
        summary: std::env::var_os("SIDERO_LAB_SUMMARY").map(PathBuf::from),
    };
    for a in std::env::args().skip(1) {
        if a == "--exit-when-done" {
            o.exit_when_done = true;
        } else if let Some(p) = a.strip_prefix("--summary=") {
            o.summary = Some(PathBuf::from(p));
        } else {
            bail!(
                "usage: sidero-lab [--exit-when-done] [--summary=<file>] (unknown argument {a:?})"
            );
        }
    }
    Ok(o)
}

fn free_tcp() -> anyhow::Result<u16> {
    Ok(sidero_testenv::ports::free_tcp()?)
}

fn bin(var: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .with_context(|| format!("{var} is not set (scripts/run.sh sets it)"))
}

/// Waits until `GET http://127.0.0.1:<port><path>` answers 200.
async fn wait_http_ok(proc: &mut Proc, port: u16, path: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut head = [0u8; 12];
            if s.write_all(req.as_bytes()).await.is_ok()
                && s.read_exact(&mut head).await.is_ok()
                && &head[9..12] == b"200"
            {
                return Ok(());
            }
        }
        if !proc.running() || start.elapsed() > Duration::from_secs(60) {
            bail!(
                "not ready on 127.0.0.1:{port}{path}:\n{}",
                proc.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts the manager in the lab's namespace serving `env` as the agent environment.
async fn start_manager(lab: &mut Lab, kubeconfig: &Path, env: &Path) -> anyhow::Result<()> {
    let env_dir = lab.path("env");
    std::fs::create_dir_all(env_dir.join("agent-amd64"))?;
    for name in ["vmlinuz", "initramfs.xz"] {
        std::os::unix::fs::symlink(env.join(name), env_dir.join("agent-amd64").join(name))?;
    }
    let args: Vec<String> = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--api-endpoint={MANAGER_IP}"),
        format!("--api-port={API_PORT}"),
        format!("--http-port={API_PORT}"),
        // Upstream's :69; the manager also answers from its own address (OVMF needs that).
        "--tftp-addr=:69".into(),
        "--dhcp-ipxe-clients=http-script".into(),
        "--enable-leader-election=false".into(),
        "--health-addr=127.0.0.1:0".into(),
        "--diagnostics-address=127.0.0.1:0".into(),
        "--ipxe-dir=/usr/lib/ipxe".into(),
        // Nothing leaves this machine: Talos assets would come from a loopback mirror.
        "--talos-assets-base=http://127.0.0.1:9/talos".into(),
        format!("--tftp-dir={}", lab.path("tftp").display()),
        format!("--env-dir={}", env_dir.display()),
        // The lab's machines are accepted as they register (upstream's flag).
        "--auto-accept-servers=true".into(),
        // The VMs boot SeaBIOS.
        "--ipmi-pxe-method=bios".into(),
        "--siderolink".into(),
        "--wireguard-port=51821".into(),
        // Named per run: userspace WireGuard's control socket lives in /var/run/wireguard.
        format!("--wireguard-interface=slab{}", std::process::id() % 100_000),
    ];
    lab.spawn(
        "manager",
        &bin("SIDERO_MANAGER_BIN")?.display().to_string(),
        &args,
    )?;
    let start = Instant::now();
    while !lab.log("manager").contains("serving HTTP and gRPC") {
        if !lab.running("manager") || start.elapsed() > Duration::from_secs(60) {
            let log = lab.log("manager");
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            bail!(
                "sidero-controller-manager did not start:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn check_tools() -> anyhow::Result<()> {
    if let Some(why) = missing_prerequisite() {
        bail!("the lab cannot run here: {why}");
    }
    for tool in ["ipmi_sim", "ipmitool", "qemu-img"] {
        if !on_path(tool) {
            bail!("{tool} is not installed (scripts/run.sh installs it)");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(talos::SUBCOMMAND) {
        return talos::child_main(&args[1..]);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(lab_main())
}

async fn lab_main() -> anyhow::Result<()> {
    let opts = options()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut run = Box::pin(run(&opts));
    let outcome = tokio::select! {
        r = &mut run => Some(r),
        r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; None }
        _ = term.recv() => None,
    };
    match outcome {
        Some(r) => r,
        None => {
            println!();
            println!("==> stopping everything the lab started");
            drop(run);
            println!("    stopped");
            Ok(())
        }
    }
}

async fn run(opts: &Options) -> anyhow::Result<()> {
    let mut p = Progress::new();
    check_tools()?;
    let mut phases = serde_json::Map::new();
    let mut mark = |name: &str, since: Instant| {
        phases.insert(name.into(), json!(since.elapsed().as_secs_f64()));
    };

    let t = Instant::now();
    p.phase("building the agent boot environment (static sidero-agent + initramfs; cached)");
    let env = tokio::task::spawn_blocking(bootenv::agent_environment).await??;
    p.step(format!("{}", env.display()));

    p.phase(&format!(
        "starting etcd + kube-apiserver {KUBERNETES_VERSION} on 127.0.0.1 with the Sidero CRDs"
    ));
    let cp = tokio::task::spawn_blocking(start_with_crds)
        .await
        .context("start task")?
        .context("starting the management plane")?;
    let kc = cp.kubeconfig().display().to_string();
    let api_port: u16 = cp
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("API server port")?;
    p.step(format!(
        "API server {} (state in {})",
        cp.url(),
        cp.dir().display()
    ));

    p.phase("lab network namespace: bridge 10.214.0.0/24, site DHCP (dnsmasq), three BMCs");
    let mut lab = Lab::create("slab-", &machines::taps())?;
    lab.forward_host_port(api_port)?;
    lab.start_dnsmasq()?;
    p.step(format!(
        "namespace {} (state in {})",
        lab.ns,
        lab.dir.path().display()
    ));
    let running = machines::start_bmcs(&mut lab, &p).await?;

    p.phase(
        "sidero-controller-manager in the namespace: proxy DHCP, TFTP, HTTP + gRPC, SideroLink",
    );
    start_manager(&mut lab, cp.kubeconfig(), &env).await?;
    let http_host = lab.forward_into_ns(MANAGER_IP, API_PORT).await?;
    let endpoint = format!("http://127.0.0.1:{http_host}");
    p.step(format!(
        "serving on {MANAGER_IP}:{API_PORT} in the namespace, {endpoint} from here (log {})",
        lab.path("manager.log").display()
    ));

    p.phase("Cluster API core, Talos bootstrap + control-plane providers, caps-controller-manager");
    let capi = tokio::task::block_in_place(|| sidero_testenv::capi::CapiStack::start(&cp))
        .context("starting Cluster API")?;
    p.step(format!(
        "CAPI, CABPT, CACPPT ready in {}",
        Progress::fmt(capi.started_in())
    ));
    let health = free_tcp()?;
    let caps_args: Vec<String> = vec![
        format!("--kubeconfig={kc}"),
        format!("--health-addr=127.0.0.1:{health}"),
        format!("--diagnostics-address=127.0.0.1:{}", free_tcp()?),
        format!("--webhook-port={}", free_tcp()?),
    ];
    let caps_log = cp.dir().join("caps-controller-manager.log");
    let mut caps = Proc::spawn(
        "caps-controller-manager",
        &bin("SIDERO_CAPS_BIN")?,
        &caps_args,
        &caps_log,
    )?;
    wait_http_ok(&mut caps, health, "/readyz").await?;
    p.step(format!(
        "caps-controller-manager ready (log {})",
        caps_log.display()
    ));
    let client = cp.client().await.context("API client")?;
    cluster::classes(&client).await?;
    p.step(format!(
        "Environment {} and ServerClasses lab-cp, lab-workers (by SMBIOS product name)",
        cluster::ENVIRONMENT
    ));
    mark("startup", t);

    let t = Instant::now();
    p.phase("discovery: the operator powers each machine on through its BMC (PXE once)");
    for m in &running {
        machines::power_on(&lab, m).await?;
        p.step(format!(
            "{}: ipmitool chassis bootdev pxe; chassis power on → QEMU started by the BMC",
            m.spec.short
        ));
    }
    let discovered = machines::discover(
        &client,
        &running,
        &lab.path("manager.log"),
        &p,
        DISCOVERY_LIMIT,
    )
    .await?;
    let discovered: Vec<_> = discovered.iter().map(report::server_row).collect();
    p.end_phase();
    report::print_servers(&discovered);
    mark("discovery", t);

    let t = Instant::now();
    p.phase(&format!(
        "creating cluster {:?} from deploy/cluster-template.yaml (1 control plane, 2 workers)",
        cluster::NAME
    ));
    cluster::create_from_template(&client).await?;
    let bound = cluster::wait_bound(&client, machines::MACHINES.len(), BIND_LIMIT, &p).await?;
    for b in &bound {
        p.step(format!(
            "{} → {}",
            b.machine,
            b.server.as_deref().unwrap_or("(none)")
        ));
    }
    mark("binding", t);

    let t = Instant::now();
    p.phase("install: the Server controller powers bound machines on over IPMI; Talos nodes (simulated) boot");
    let http: SocketAddr = format!("{MANAGER_IP}:{API_PORT}").parse()?;
    let mut nodes = Nodes(Vec::new());
    let mut started = vec![false; running.len()];
    let mut shown = vec![0usize; running.len()];
    let mut talos_steps: Vec<Vec<String>> = vec![Vec::new(); running.len()];
    let mut reported = vec![false; running.len()];
    loop {
        for (i, m) in running.iter().enumerate() {
            if !started[i] && bmc_hook::simulated_power_on(&m.state) {
                started[i] = true;
                p.step(format!(
                    "{}: powered on by the Server controller (BMC: {})",
                    m.spec.short,
                    // The last two requests: the controller's PXE once and power on.
                    std::fs::read_to_string(m.state.join("log"))
                        .unwrap_or_default()
                        .lines()
                        .rev()
                        .take(2)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let ns = format!("{}-n{i}", lab.ns);
                let lan_ip = format!("10.214.0.{}", 21 + i);
                lab.attach(&ns, &format!("vn{i}"), &format!("{lan_ip}/24"))?;
                let log = lab.path(&format!("talos-{}.log", m.spec.short));
                nodes.0.push(talos::spawn(
                    &ns,
                    http,
                    m.spec.uuid,
                    m.spec.mac,
                    &lan_ip,
                    &log,
                )?);
            }
        }
        for (i, m) in running.iter().enumerate() {
            let log = lab.path(&format!("talos-{}.log", m.spec.short));
            let (steps, error) = talos::read_steps(&log);
            for s in steps.iter().skip(shown[i]) {
                p.step(format!("{}: {s}", m.spec.short));
            }
            shown[i] = steps.len();
            talos_steps[i] = steps;
            if let Some(e) = error {
                bail!("the Talos node of {} failed: {e}", m.spec.short);
            }
        }
        let all = cluster::machines(&client).await?;
        for (i, m) in running.iter().enumerate() {
            let Some(b) = all
                .iter()
                .find(|b| b.server.as_deref() == Some(m.spec.uuid))
            else {
                continue;
            };
            let pxe = machines::server(&client, m.spec.uuid)
                .await?
                .map(|v| report::server_row(&v)["pxeBooted"] == true)
                .unwrap_or(false);
            if !reported[i] && b.installed && pxe {
                reported[i] = true;
                p.step(format!(
                    "{}: install finished: MetalMachine {} TalosInstalled, Server PXEBooted (next boot from disk)",
                    m.spec.short, b.machine
                ));
            }
        }
        if reported.iter().all(|r| *r) {
            break;
        }
        if t.elapsed() > INSTALL_LIMIT {
            bail!(
                "the install did not finish within {INSTALL_LIMIT:?} (powered on: {started:?}, finished: {reported:?})\n{}",
                lab.log("manager")
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    mark("install", t);
    p.end_phase();

    let mut finals = Vec::new();
    for m in &running {
        if let Some(v) = machines::server(&client, m.spec.uuid).await? {
            finals.push(report::server_row(&v));
        }
    }
    let bound = cluster::machines(&client).await?;
    println!();
    println!(
        "The lab is up ({} since start). Servers (sideroctl get servers):",
        Progress::fmt(p.total())
    );
    report::print_servers(&finals);
    println!("Cluster {:?}:", cluster::NAME);
    report::print_bound(&bound);
    let sideroctl = bin("SIDERO_MANAGER_BIN")
        .ok()
        .and_then(|b| b.parent().map(|d| d.join("sideroctl")))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "sideroctl".into());
    let first = machines::MACHINES[0].uuid;
    println!();
    println!("Next, in another shell:");
    println!("  export KUBECONFIG={kc}");
    println!("  {sideroctl} get servers");
    println!("  {sideroctl} describe server {first}");
    println!("  {sideroctl} logs --endpoint {endpoint} {first}");
    println!("  {sideroctl} logs --events --endpoint {endpoint} {first}");
    println!("  kubectl get servers,serverclasses,environments");
    println!("  kubectl get clusters,machines,metalmachines,serverbindings -A");
    println!(
        "  ip netns exec {} ipmitool -I lanplus -H {} -U {} -P {} chassis power status",
        lab.ns,
        machines::MACHINES[0].bmc_ip,
        sidero_testenv::ipmi_sim::USER,
        sidero_testenv::ipmi_sim::PASSWORD
    );
    println!(
        "Logs: {} (manager), {} (caps), {}/<machine>/serial.log (consoles)",
        lab.path("manager.log").display(),
        caps_log.display(),
        lab.dir.path().display()
    );

    if let Some(path) = &opts.summary {
        let mut pids: Vec<u32> = lab.pids();
        pids.extend(nodes.0.iter().filter_map(Proc::pid));
        pids.extend(caps.pid());
        pids.extend(capi.managers().iter().filter_map(|m| m.pid()));
        let (etcd, apiserver) = cp.pids();
        pids.extend(etcd);
        pids.extend(apiserver);
        // The VMs' PIDs (the hooks daemonized them; they exited when the agent rebooted).
        let summary = json!({
            "discovered": discovered,
            "final": {"servers": finals, "machines": report::bound_json(&bound)},
            "talos": talos_steps,
            "pids": pids,
            "dirs": [lab.dir.path(), cp.dir()],
            "netns": lab.ns,
            "phases": phases,
            "total_secs": p.total().as_secs_f64(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if opts.exit_when_done {
        println!();
        println!("==> stopping everything the lab started (--exit-when-done)");
        drop(nodes);
        caps.stop(Duration::from_secs(5));
        drop(capi);
        drop(lab);
        drop(cp);
        println!("    stopped");
        return Ok(());
    }
    println!();
    println!("Press Ctrl-C to stop everything.");
    let _keep = (nodes, caps, capi, lab, cp);
    std::future::pending::<()>().await;
    Ok(())
}
