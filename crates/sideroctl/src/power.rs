//! `sideroctl power …`: the server's power client, built exactly as the Server controller
//! builds it (`sidero-server-power`), and one action.

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use sidero_power::{
    BootMode, IpmiConfig, PowerOutcome, PowerState, RedfishConfig, SelectOptions, TlsVerification,
};
use sidero_server_power::server_power;

use crate::{BmcOptions, Cli, cluster};

/// `power` arguments.
#[derive(Args, Debug)]
pub struct PowerArgs {
    #[command(subcommand)]
    action: Action,
}

/// One power action on one server.
#[derive(Subcommand, Debug)]
enum Action {
    /// Show the power state.
    Status {
        /// Server name (its UUID).
        server: String,
    },
    /// Power on.
    On {
        /// Server name.
        server: String,
    },
    /// Power off (hard).
    Off {
        /// Server name.
        server: String,
    },
    /// Power cycle (off, then on).
    Cycle {
        /// Server name.
        server: String,
    },
    /// Network-boot (PXE) on the next boot only; does not change power.
    Pxe {
        /// Server name.
        server: String,
        /// Firmware flavour (default: the server's spec.pxeMode, else uefi).
        #[arg(long, value_enum)]
        mode: Option<Mode>,
    },
}

/// `--mode` values.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum Mode {
    Uefi,
    Bios,
}

impl Action {
    fn server(&self) -> &str {
        match self {
            Self::Status { server }
            | Self::On { server }
            | Self::Off { server }
            | Self::Cycle { server }
            | Self::Pxe { server, .. } => server,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Self::Status { .. } => "power status",
            Self::On { .. } => "power on",
            Self::Off { .. } => "power off",
            Self::Cycle { .. } => "power cycle",
            Self::Pxe { .. } => "set PXE boot once",
        }
    }
}

fn select_options(o: &BmcOptions) -> SelectOptions {
    SelectOptions {
        ipmi: IpmiConfig {
            timeout: o.ipmi_timeout,
            ..IpmiConfig::default()
        },
        redfish: RedfishConfig {
            timeout: o.redfish_timeout,
            tls: if o.redfish_insecure_skip_verify {
                TlsVerification::InsecureSkipVerify
            } else {
                TlsVerification::Verify
            },
            ..RedfishConfig::default()
        },
        ..SelectOptions::default()
    }
}

/// Runs one `power` command and prints its result.
pub async fn run(cli: &Cli, args: &PowerArgs) -> anyhow::Result<()> {
    let name = args.action.server();
    let client = cluster::client(cli.kubeconfig.as_deref(), cli.context.as_deref()).await?;
    let server = cluster::server(&client, name).await?;
    let power = server_power(&client, &server, &select_options(&cli.bmc))
        .await
        .with_context(|| format!("server {name}: building its power client"))?;
    if let Some(reason) = power.not_managed {
        bail!("server {name}: {reason}");
    }
    let pm = power.manager;
    let target = pm.target();
    let verb = args.action.verb();
    // Power errors already name the BMC (`BMC host:port`) and the failing step.
    let failed = || format!("server {name}: {verb}");
    let outcome = match &args.action {
        Action::Status { .. } => {
            let state = pm.power_status().await.with_context(failed)?;
            let word = match state {
                PowerState::On => "on",
                PowerState::Off => "off",
                PowerState::Unknown => "unknown",
            };
            println!("{name}\tpower {word}\t({target})");
            return Ok(());
        }
        Action::On { .. } => pm.power_on().await,
        Action::Off { .. } => pm.power_off().await,
        Action::Cycle { .. } => pm.power_cycle().await,
        Action::Pxe { mode, .. } => {
            let mode = match mode {
                Some(Mode::Uefi) => BootMode::Uefi,
                Some(Mode::Bios) => BootMode::Bios,
                None => match server.spec.pxe_mode.as_deref() {
                    Some("bios") => BootMode::Bios,
                    _ => BootMode::Uefi,
                },
            };
            pm.set_pxe_once(mode).await
        }
    }
    .with_context(failed)?;
    match outcome {
        PowerOutcome::Done => println!("{name}\t{verb}: done\t({target})"),
        PowerOutcome::NotManaged => bail!("server {name}: {verb}: not power managed"),
        PowerOutcome::Unsupported => bail!("server {name}: {verb}: not supported by {target}"),
    }
    Ok(())
}
