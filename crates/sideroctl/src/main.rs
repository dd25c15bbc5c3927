//! `sideroctl`: operator commands for Sidero Metal servers.
//!
//! ```text
//! sideroctl [--kubeconfig FILE] get servers [NAME…] [-o table|wide|json|yaml]
//! sideroctl [--kubeconfig FILE] describe server <uuid>
//! sideroctl [--kubeconfig FILE] accept|cordon|uncordon <server>…
//! sideroctl [--kubeconfig FILE] power status|on|off|cycle <server>
//! sideroctl [--kubeconfig FILE] power pxe [--mode uefi|bios] <server>
//! sideroctl [--kubeconfig FILE] doctor [--endpoint HOST[:PORT]] [--tftp-port 69]
//! sideroctl logs [-f] [--events] [--tail N] [--json] [--endpoint URL] <server>
//! ```
//!
//! Subcommands are grouped by concern, one module each. Exit status 0 on success, 1 on any
//! error (for `doctor`: any failed check); errors name the server, the BMC and the failing
//! step, never a credential.

mod cluster;
mod describe;
mod doctor;
mod edit;
mod explain;
mod get;
mod power;

use std::time::Duration;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "sideroctl", version, about = "Operate Sidero Metal servers")]
struct Cli {
    /// kubeconfig of the management cluster (default: $KUBECONFIG, then ~/.kube/config or
    /// the in-cluster configuration).
    #[arg(long, env = "KUBECONFIG", global = true)]
    kubeconfig: Option<String>,
    /// kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    context: Option<String>,
    #[command(flatten)]
    bmc: BmcOptions,
    #[command(subcommand)]
    command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
enum Command {
    /// List servers: state, classes, power, address, age.
    Get(get::GetArgs),
    /// One server's facts, what it waits for, and its timeline.
    Describe(describe::DescribeArgs),
    /// Accept servers (they will be wiped, then can be allocated).
    Accept {
        /// Server names (UUIDs).
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// Cordon servers: no new allocations.
    Cordon {
        /// Server names (UUIDs).
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// Uncordon servers.
    Uncordon {
        /// Server names (UUIDs).
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// Power management through the server's BMC (IPMI or Redfish) or management API.
    Power(power::PowerArgs),
    /// Check the boot path from here: advertised address, /boot.ipxe, /ipxe, TFTP.
    Doctor(doctor::DoctorArgs),
    /// A server's kernel logs (or Talos events) from the SideroLink endpoint.
    Logs(sideroctl::logs::LogsArgs),
}

/// Options for reaching BMCs, as the controller's flags of the same names.
#[derive(clap::Args, Debug, Clone)]
struct BmcOptions {
    /// IPMI: wait for each answer this long before retransmitting.
    #[arg(long, default_value = "2s", value_parser = duration, global = true)]
    ipmi_timeout: Duration,
    /// Redfish: timeout of each request.
    #[arg(long, default_value = "20s", value_parser = duration, global = true)]
    redfish_timeout: Duration,
    /// Redfish: accept any BMC certificate (self-signed BMCs).
    #[arg(long, global = true)]
    redfish_insecure_skip_verify: bool,
}

pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Get(args) => get::run(&cli, args).await,
        Command::Describe(args) => describe::run(&cli, args).await,
        Command::Accept { servers } => edit::run(&cli, edit::Change::Accept, servers).await,
        Command::Cordon { servers } => edit::run(&cli, edit::Change::Cordon, servers).await,
        Command::Uncordon { servers } => edit::run(&cli, edit::Change::Uncordon, servers).await,
        Command::Power(args) => power::run(&cli, args).await,
        Command::Doctor(args) => doctor::run(&cli, args).await,
        Command::Logs(args) => sideroctl::logs::run(args, &mut std::io::stdout()).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        for args in [
            &["sideroctl", "--ipmi-timeout=1s", "power", "on", "s1"][..],
            &["sideroctl", "power", "--ipmi-timeout=1s", "on", "s1"][..],
            &["sideroctl", "power", "on", "s1", "--ipmi-timeout=1s"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.bmc.ipmi_timeout, std::time::Duration::from_secs(1));
            assert!(matches!(cli.command, Command::Power(_)));
        }
        assert!(Cli::try_parse_from(["sideroctl", "get", "servers", "-o", "json"]).is_ok());
        assert!(Cli::try_parse_from(["sideroctl", "get", "nodes"]).is_err());
        assert!(Cli::try_parse_from(["sideroctl", "describe", "server", "u1"]).is_ok());
        assert!(Cli::try_parse_from(["sideroctl", "accept"]).is_err());
        assert!(
            Cli::try_parse_from(["sideroctl", "doctor", "--endpoint", "10.0.0.1:8081"]).is_ok()
        );
        assert!(Cli::try_parse_from(["sideroctl", "power", "pxe", "--mode", "efi", "s1"]).is_err());
        assert!(Cli::try_parse_from(["sideroctl", "power", "on"]).is_err());
    }
}
