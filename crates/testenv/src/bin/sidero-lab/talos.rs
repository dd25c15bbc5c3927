//! The installed operating system of the lab's machines, simulated: when the Server controller
//! powers an allocated machine on through its BMC (PXE once), the hook records it and the
//! lab boots a Talos node simulator for that machine from its own network namespace on the
//! bridge: `/ipxe` and the `talos.config` URL with its token, SideroLink Provision and
//! userspace WireGuard, a few kernel-log lines and the events of an install.
//!
//! Each node runs as its own process (`sidero-lab talos-node …`, [`child_main`]): the
//! userspace WireGuard device blocks SIGINT and SIGTERM in its threads and reads them from a
//! signalfd, which would swallow the lab's Ctrl-C. The child prints one `step: …` line per
//! step, then keeps the tunnel up until it is stopped.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sidero_testenv::process::Proc;
use sidero_testenv::talos_sim::{self, TalosNode, install_events, kmsg_line};
use tokio::sync::mpsc;

/// Boots the simulated node `uuid` (MAC `mac`, LAN address `lan_ip`) in namespace `netns`
/// against the manager's HTTP endpoint `http`, reporting each step on `tx` (tagged `idx`). Returns the node,
/// whose tunnel must stay up as long as the lab runs.
async fn boot(
    netns: String,
    http: SocketAddr,
    uuid: &str,
    mac: &str,
    lan_ip: String,
    idx: usize,
    tx: mpsc::UnboundedSender<(usize, String)>,
) -> anyhow::Result<TalosNode> {
    let start = Instant::now();
    let say = |m: String| {
        let _ = tx.send((idx, m));
    };
    // iPXE sends the MAC hyphenated (`${mac:hexhyp}`).
    let hyp = mac.replace(':', "-");
    let boot = loop {
        match talos_sim::boot(&netns, http, uuid, &hyp).await {
            Ok(b) => break b,
            // The binding or the bootstrap data may land a moment after the power-on.
            Err(e) if start.elapsed() < Duration::from_secs(120) => {
                tracing::debug!("talos boot of {uuid}: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e).context("booting the Talos node"),
        }
    };
    let kind = boot
        .config
        .lines()
        .find_map(|l| l.trim().strip_prefix("type: "))
        .unwrap_or("?")
        .to_string();
    say(format!(
        "iPXE → /ipxe (Talos environment), machine config fetched with its token ({} bytes, type {kind})",
        boot.config.len()
    ));
    // Unique per host, not just per namespace: a userspace device's control socket is
    // `/var/run/wireguard/<name>.sock`, so three nodes named alike (joining at once)
    // configured each other's devices and one or all never got a working tunnel.
    let ifname = format!("sln{}", std::process::id());
    let node = TalosNode::join(boot.args.clone(), uuid, &netns, &ifname)
        .await
        .context("SideroLink Provision")?;
    let joined = Instant::now();
    loop {
        let stats = node.device.stats().await.context("WireGuard stats")?;
        if stats.iter().any(|p| p.last_handshake.is_some()) {
            break;
        }
        if joined.elapsed() > Duration::from_secs(30) {
            bail!("no WireGuard handshake with Sidero within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say(format!(
        "SideroLink up: node {} ↔ Sidero {} (WireGuard handshake)",
        node.address, node.server_address
    ));
    let lines = [
        "Linux version 6.12.0-talos (simulated)",
        "[talos] task loadConfig (1/1): done",
        "[talos] installing Talos to /dev/vda",
        "[talos] install successful",
        "[talos] rebooting",
    ];
    // Through the tunnel. A connection can time out while the manager is still adding this
    // node among its peers (three join at once); Talos retries too. Retries are reported.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = node
            .stream_logs(
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| kmsg_line(i as u64, l)),
            )
            .await;
        match sent {
            Ok(()) => break,
            Err(e) if attempt < 5 => say(format!("kernel logs: {e}; retrying")),
            Err(e) => return Err(e).context("kernel logs"),
        }
    }
    let tunnel = node.address.to_string();
    let hostname = format!("talos-{}", &uuid[uuid.len() - 4..]);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match node
            .publish(install_events(&hostname, &[&lan_ip, &tunnel]))
            .await
        {
            Ok(()) => break,
            Err(e) if attempt < 5 => say(format!("install events: {e}; retrying")),
            Err(e) => return Err(e).context("install events"),
        }
    }
    say(format!(
        "kernel logs streamed, install events sent (hostname {hostname})"
    ));
    Ok(node)
}

/// The first argument that selects [`child_main`].
pub const SUBCOMMAND: &str = "talos-node";

/// Starts the simulated node of `uuid` as a child process (`sidero-lab talos-node …`) with
/// its output in `log`.
pub fn spawn(
    netns: &str,
    http: SocketAddr,
    uuid: &str,
    mac: &str,
    lan_ip: &str,
    log: &Path,
) -> anyhow::Result<Proc> {
    let exe = std::env::current_exe().context("locating sidero-lab")?;
    let args: Vec<String> = vec![
        SUBCOMMAND.into(),
        netns.into(),
        http.to_string(),
        uuid.into(),
        mac.into(),
        lan_ip.into(),
    ];
    Ok(Proc::spawn(&format!("talos-{uuid}"), &exe, &args, log)?)
}

/// What a child's output says so far: its steps, and an error if it failed.
pub fn read_steps(log: &Path) -> (Vec<String>, Option<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut steps = Vec::new();
    let mut error = None;
    for l in text.lines() {
        if let Some(s) = l.strip_prefix("step: ") {
            steps.push(s.to_string());
        } else if let Some(e) = l.strip_prefix("error: ") {
            error = Some(e.to_string());
        }
    }
    (steps, error)
}

/// `sidero-lab talos-node <netns> <http> <uuid> <mac> <lan-ip>`: boots the node, prints its
/// steps, then keeps its tunnel up until killed.
pub fn child_main(args: &[String]) -> anyhow::Result<()> {
    let [netns, http, uuid, mac, lan_ip] = args else {
        bail!("usage: sidero-lab {SUBCOMMAND} <netns> <http> <uuid> <mac> <lan-ip>");
    };
    let http: SocketAddr = http.parse().context("http address")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some((_, m)) = rx.recv().await {
                println!("step: {m}");
                let _ = std::io::stdout().flush();
            }
        });
        let node = boot(netns.clone(), http, uuid, mac, lan_ip.clone(), 0, tx).await;
        let _ = printer.await;
        match node {
            Ok(node) => {
                println!("installed");
                let _ = std::io::stdout().flush();
                let _keep = node;
                std::future::pending::<()>().await;
                Ok(())
            }
            Err(e) => {
                println!("error: {e:#}");
                Err(e)
            }
        }
    })
}
