//! sidero-agent: PID 1 of the discovery initramfs (spec §7.2). Every run, successful or not,
//! ends with a ten-second countdown and a reboot, so a machine never hangs silently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sidero_agent::lifecycle::{self, Options};
use sidero_agent::retry::Retry;
use sidero_agent::{cmdline, console, dhcp, early, inventory, netconf, power};

fn main() {
    let problems = early::setup();
    set_path();
    console::init();
    tracing::info!("sidero-agent {} starting", env!("CARGO_PKG_VERSION"));
    for p in problems {
        tracing::warn!("early setup: {p}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            halt_forever();
        }
    };
    runtime.block_on(async {
        match run().await {
            Ok(()) => tracing::info!("done"),
            Err(e) => tracing::error!("failed: {e:#}"),
        }
        let e = power::countdown_and_reboot(10).await;
        tracing::error!("reboot failed: {e}");
    });
    halt_forever();
}

/// PID 1 must never exit (the kernel panics); when even rebooting fails, wait.
fn halt_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[allow(unsafe_code)]
fn set_path() {
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe { std::env::set_var("PATH", early::PATH) };
}

async fn run() -> anyhow::Result<()> {
    let text = std::fs::read_to_string("/proc/cmdline").context("reading /proc/cmdline")?;
    let args = cmdline::parse(&text)?;
    tracing::info!("boot NIC {}, Agent API at {}", args.mac, args.endpoint);
    network_up(&args.mac).await?;

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", args.endpoint))
        .context("endpoint")?
        .connect_timeout(Duration::from_secs(10))
        .connect_lazy();
    let client = sidero_proto::api::agent_client::AgentClient::new(channel);

    let inventory = inventory::gather(Path::new("/sys")).await;
    let opts = Options {
        dev_root: PathBuf::from("/dev"),
        ipmi_device: PathBuf::from("/dev/ipmi0"),
        retry: Retry::API,
    };
    let outcome = lifecycle::run(client, &inventory, &opts).await?;
    tracing::info!(
        "server {}: wiped {:?}; BMC {:?}",
        outcome.uuid,
        outcome.wiped,
        outcome.bmc
    );
    Ok(())
}

/// Finds the boot NIC, sets it up and configures it by DHCP (retried for 5 minutes).
async fn network_up(mac: &str) -> anyhow::Result<()> {
    let handle = netconf::connect()?;
    let (index, name) = netconf::wait_for_link(&handle, mac, Duration::from_secs(60)).await?;
    tracing::info!("boot NIC is {name} (index {index}); setting it up");
    netconf::link_up(&handle, index).await?;
    let mac_bytes = parse_mac(mac).context("boot MAC")?;
    let dhcp_retry = Retry {
        total: Duration::from_secs(300),
        per_call: Duration::from_secs(30),
        first_wait: Duration::from_secs(10),
        max_wait: Duration::from_secs(10),
    };
    let lease = dhcp_retry
        .run("DHCP", || {
            dhcp::acquire(&name, mac_bytes, Duration::from_secs(29))
        })
        .await?;
    tracing::info!(
        "DHCP lease: {}/{} routers {:?} dns {:?} mtu {:?} hostname {:?}",
        lease.address,
        lease.prefix,
        lease.routers,
        lease.dns,
        lease.mtu,
        lease.hostname
    );
    netconf::apply(&handle, index, &lease).await?;
    if let Some(h) = &lease.hostname
        && let Err(e) = rustix::system::sethostname(h.as_bytes())
    {
        tracing::warn!("setting hostname {h}: {e}");
    }
    if let Err(e) = std::fs::write("/etc/resolv.conf", netconf::resolv_conf(&lease)) {
        tracing::warn!("writing /etc/resolv.conf: {e}");
    }
    Ok(())
}

fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = mac
        .split(':')
        .map(|o| u8::from_str_radix(o, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}
