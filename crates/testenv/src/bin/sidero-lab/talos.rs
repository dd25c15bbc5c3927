//! The installed operating system of the lab's machines, simulated: when the Server controller
//! powers an allocated machine on through its BMC (PXE once), the hook records it and the
//! lab boots a Talos node simulator for that machine from its own network namespace on the
//! bridge: `/ipxe` and the `talos.config` URL with its token, SideroLink Provision and
//! userspace WireGuard, a few kernel-log lines and the events of an install.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sidero_testenv::talos_sim::{self, TalosNode, install_events, kmsg_line};
use tokio::sync::mpsc;

/// Boots the simulated node `uuid` (MAC `mac`, LAN address `lan_ip`) in namespace `netns`
/// against the manager's HTTP endpoint `http`, reporting each step on `tx` (tagged `idx`). Returns the node,
/// whose tunnel must stay up as long as the lab runs.
pub async fn boot(
    netns: String,
    http: SocketAddr,
    uuid: &'static str,
    mac: &'static str,
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
    let node = TalosNode::join(boot.args.clone(), uuid, &netns, "siderolink")
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
    node.stream_logs(
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| kmsg_line(i as u64, l)),
    )
    .await
    .context("kernel logs")?;
    let tunnel = node.address.to_string();
    let hostname = format!("talos-{}", &uuid[uuid.len() - 4..]);
    node.publish(install_events(&hostname, &[&lan_ip, &tunnel]))
        .await
        .context("install events")?;
    say(format!(
        "kernel logs streamed, install events sent (hostname {hostname})"
    ));
    Ok(node)
}
