//! sidero-agent: PID 1 of the discovery initramfs (spec §7.2). Every run, successful or not,
//! ends with a ten-second countdown and a reboot, so a machine never hangs silently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sidero_agent::lifecycle::{self, Options};
use sidero_agent::retry::Retry;
use sidero_agent::{cmdline, console, early, inventory, modules, network, power};

fn main() {
    // Everything below mounts over /dev, /proc, … and ends in reboot(2): never on a host.
    if std::process::id() != 1 {
        eprintln!(
            "sidero-agent runs only as PID 1 (/init) of the discovery initramfs; it mounts \
             file systems and reboots the machine. Refusing to run as PID {}.",
            std::process::id()
        );
        std::process::exit(2);
    }
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
    tracing::info!(
        "boot NIC {}, Agent API at {}, agent token {}",
        args.mac,
        args.endpoint,
        if args.token.is_some() {
            "present"
        } else {
            "absent"
        }
    );
    modules::load_listed(Path::new("/"), Path::new("/etc/modules.order"));
    modules::coldplug(Path::new("/sys"));
    network::up(&args.mac, &network::NetOptions::pid1()).await?;

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", args.endpoint))
        .context("endpoint")?
        .connect_timeout(Duration::from_secs(10))
        .connect_lazy();
    let client = lifecycle::client(channel, args.token.as_deref());

    let inventory = inventory::gather(Path::new("/sys")).await;
    let opts = Options {
        dev_root: PathBuf::from("/dev"),
        bmc: lifecycle::device_bmc(PathBuf::from("/dev/ipmi0")),
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
