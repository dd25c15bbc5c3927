//! Command-line flags of sidero-controller-manager, named and defaulted as upstream's
//! (spec §10.1), so the Deployment in `infrastructure-components.yaml` works unchanged.

use std::time::Duration;

use clap::Parser;

/// Parses a Go-style duration (`20m`, `1h30m`, `90s`).
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Parses a Go-style boolean value (`true`, `false`, `1`, `0`, `t`, `f`).
pub(crate) fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {s:?}")),
    }
}

/// `-` means empty: clusterctl cannot express an empty default in a template variable.
fn dash_empty(s: &str) -> String {
    if s == "-" {
        String::new()
    } else {
        s.to_string()
    }
}

/// [`dash_empty`] as a flag value parser, for flags whose consumers only know "empty".
fn dash_empty_value(s: &str) -> Result<String, String> {
    Ok(dash_empty(s))
}

/// The flags. Booleans take `--flag`, `--flag=true` or `--flag=false`, as Go's flag package.
#[derive(Parser, Clone, Debug)]
#[command(name = "sidero-controller-manager", version, about)]
pub struct Flags {
    /// Address servers use to reach us (iPXE, kernel args, metadata, DHCP proxy server IP);
    /// `-` or empty falls back to the API_ENDPOINT environment variable.
    #[arg(long, default_value = "", value_parser = dash_empty_value)]
    pub api_endpoint: String,
    /// Port advertised to servers.
    #[arg(long, default_value_t = 8081)]
    pub api_port: u16,
    /// Port the combined HTTP/gRPC listener binds.
    #[arg(long, default_value_t = 8081)]
    pub http_port: u16,
    /// Address the combined listener binds (ours; upstream always binds all addresses).
    #[arg(long, default_value = "0.0.0.0")]
    pub http_bind: String,
    /// Health probe bind address.
    #[arg(long, default_value = ":9440")]
    pub health_addr: String,
    /// Webhook server port.
    #[arg(long, default_value_t = 9443)]
    pub webhook_port: u16,
    /// Address the webhook server binds (empty or `-`: every address, as upstream).
    #[arg(long, default_value = "", value_parser = dash_empty_value)]
    pub webhook_host: String,
    /// Webhook TLS certificate folder.
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs/")]
    pub webhook_cert_dir: String,
    /// Kernel arguments merged into the agent command line, overriding by key (`-` = none).
    #[arg(long, default_value = "", value_parser = dash_empty_value)]
    pub extra_agent_kernel_args: String,
    /// Default boot-from-disk method: ipxe-exit, http-404 or ipxe-sanboot.
    #[arg(long, default_value = "ipxe-exit")]
    pub boot_from_disk_method: String,
    /// Leader election: only the replica holding the Lease runs the controllers; every replica
    /// serves the boot endpoints (HTTP, gRPC, TFTP, DHCP).
    #[arg(long, visible_alias = "leader-elect", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub enable_leader_election: bool,
    /// Lease timing and location.
    #[command(flatten)]
    pub leader: LeaderFlags,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, visible_alias = "log-format", default_value = "json")]
    pub logging_format: sidero_diagnostics::logging::LogFormat,
    /// New servers are created accepted (they will be wiped!).
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub auto_accept_servers: bool,
    /// Fast wipe instead of zeroing whole disks.
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub insecure_wipe: bool,
    /// Ask the agent to configure the BMC when a server has none.
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub auto_bmc_setup: bool,
    /// Serve `/configdata` to anyone who knows a server's UUID, as upstream (ours requires
    /// the per-boot token `/ipxe` puts into the `talos.config` URL).
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub insecure_configdata: bool,
    /// Lifetime of a config token.
    #[arg(long, default_value = "1h", value_parser = duration)]
    pub config_token_ttl: Duration,
    /// Bind config tokens to the address that fetched the iPXE script.
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub config_token_bind_address: bool,
    /// Serve the Agent API to anyone, as upstream (ours refuses calls about an accepted
    /// server unless they come from the address it registered from or carry its agent token).
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub insecure_agent_api: bool,
    /// Lifetime of an agent token (`sidero.token=` in the agent's kernel arguments); long
    /// enough for a full wipe.
    #[arg(long, default_value = "24h", value_parser = duration)]
    pub agent_token_ttl: Duration,
    /// Wipe/reboot timeout (the agent heartbeats every third of it).
    #[arg(long, default_value = "20m", value_parser = duration)]
    pub server_reboot_timeout: Duration,
    /// IPMI boot device flavour for PXE: uefi or bios.
    #[arg(long, default_value = "uefi", value_parser = ["uefi", "bios"])]
    pub ipmi_pxe_method: String,
    /// Disable the proxy DHCP server.
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub disable_dhcp_proxy: bool,
    /// Power management: IPMI/Redfish/management API tuning and the test-only failure
    /// injection (upstream's `--test-power-simulated-*` flags keep their names).
    #[command(flatten)]
    pub power: crate::power_flags::PowerFlags,
    /// Metrics/diagnostics address.
    #[arg(long, default_value = ":8443")]
    pub diagnostics_address: String,
    /// Serve diagnostics over plain HTTP without authentication.
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub insecure_diagnostics: bool,
    /// Folder of boot environments (`<name>/vmlinuz`, `<name>/initramfs.xz`).
    #[arg(long, default_value = "/var/lib/sidero/env")]
    pub env_dir: String,
    /// Folder served over TFTP and at `/tftp/`.
    #[arg(long, default_value = "/var/lib/sidero/tftp")]
    pub tftp_dir: String,
    /// Folder of prebuilt iPXE binaries: upstream's layout (`amd64/snp.efi`, …) or Debian's
    /// flat one (`snponly.efi`, `ipxe.efi`, `undionly.kpxe`).
    #[arg(long, default_value = "/var/lib/sidero/ipxe")]
    pub ipxe_dir: String,
    /// Folder of the arm64 EFI binaries (`ipxe.efi`, `snp.efi`, served as `ipxe-arm64.efi`
    /// and `snp-arm64.efi`); empty means `<ipxe-dir>/arm64`, upstream's layout. Missing
    /// binaries are logged and answered with TFTP "file not found". `-` is empty.
    #[arg(long, default_value = "", value_parser = dash_empty_value)]
    pub ipxe_arm64_dir: String,
    /// TFTP listen address (`:69` means all addresses, as upstream).
    #[arg(long, default_value = ":69")]
    pub tftp_addr: String,
    /// TFTP socket mode: `single` keeps every transfer on the listen port (works behind a
    /// Service), `multi` gives each transfer its own port.
    #[arg(long, default_value = "single", value_parser = ["single", "multi"])]
    pub tftp_mode: String,
    /// What the proxy DHCP hands clients already running iPXE: `upstream`
    /// (`tftp://<ip>/undionly.kpxe` to BIOS clients, as upstream) or `http-script`
    /// (`http://<ip>:<port>/boot.ipxe` to every iPXE client; needed with iPXE builds that carry
    /// no embedded script, such as Debian's).
    #[arg(long, default_value = "upstream", value_parser = ["upstream", "http-script"])]
    pub dhcp_ipxe_clients: String,
    /// Talos release of the `default` Environment (upstream fixes it at build time).
    #[arg(long, default_value = "v1.13.0")]
    pub talos_release: String,
    /// Base URL the `default` Environment downloads Talos release assets from (a mirror for
    /// air-gapped sites; upstream always uses GitHub).
    #[arg(
        long,
        default_value = "https://github.com/siderolabs/talos/releases/download"
    )]
    pub talos_assets_base: String,
    /// Address nodes reach the SideroLink WireGuard endpoint at (an IP or a hostname, resolved
    /// to its first address); `-` or empty means `--api-endpoint`.
    #[arg(long, default_value = "", value_parser = dash_empty_value)]
    pub wireguard_endpoint: String,
    /// UDP port of the SideroLink WireGuard endpoint (advertised and listened on).
    #[arg(long, default_value_t = 51821)]
    pub wireguard_port: u16,
    /// Run the SideroLink WireGuard endpoint, kernel-log receiver and events sink in this
    /// process (upstream runs them as the `siderolink`, `serverlogs` and `serverevents`
    /// containers). The Provision API is served either way.
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub siderolink: bool,
    /// Name of the SideroLink WireGuard interface.
    #[arg(long, default_value = "siderolink")]
    pub wireguard_interface: String,
    /// WireGuard implementation: `auto` (kernel, else userspace over TUN), `kernel` or
    /// `userspace`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "kernel", "userspace"])]
    pub wireguard_mode: String,
    /// Kernel-log receiver listen address; empty means `[<SideroLink server address>]:4001`.
    #[arg(long, default_value = "")]
    pub log_receiver_addr: String,
    /// Events sink listen address; empty means `[<SideroLink server address>]:4002`.
    #[arg(long, default_value = "")]
    pub events_sink_addr: String,
    /// Node addresses inside these CIDRs are left out of ServerBinding addresses
    /// (comma-separated; `-` entries ignored).
    #[arg(long, default_value = "-", value_delimiter = ',')]
    pub negative_address_filter: Vec<String>,
    /// Lines kept per server for `sideroctl logs`.
    #[arg(long, default_value_t = 1000)]
    pub server_log_lines: usize,
    /// kubeconfig to use instead of the in-cluster configuration.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<String>,
}

/// Leader-election settings shared by both managers (CAPI's flag names for the timing).
#[derive(clap::Args, Clone, Debug)]
pub struct LeaderFlags {
    /// Namespace of the Lease; empty means the pod's namespace, else `sidero-system`.
    #[arg(long, default_value = "")]
    pub leader_election_namespace: String,
    /// Name of the Lease (upstream's election ID).
    #[arg(
        long,
        default_value = "controller-leader-election-sidero-controller-manager"
    )]
    pub leader_election_id: String,
    /// How long followers wait on an unrenewed Lease before taking over.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    #[arg(long, default_value = "7s", value_parser = duration)]
    pub leader_elect_renew_deadline: Duration,
    /// Time between renewals and tries.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub leader_elect_retry_period: Duration,
}

impl LeaderFlags {
    /// The Lease namespace after the defaults.
    pub fn namespace(&self) -> String {
        if self.leader_election_namespace.is_empty() {
            sidero_leader::default_namespace()
        } else {
            self.leader_election_namespace.clone()
        }
    }

    /// The Lease timing.
    pub fn timing(&self) -> sidero_leader::Timing {
        sidero_leader::Timing {
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
        }
    }
}

/// Why the flags cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Neither `--api-endpoint` nor `API_ENDPOINT` is set.
    #[error("no api endpoint found: set --api-endpoint or the API_ENDPOINT environment variable")]
    NoApiEndpoint,
}

impl Flags {
    /// The API endpoint after the `-` sentinel and the `API_ENDPOINT` fallback.
    pub fn resolved_api_endpoint(&self, env: Option<&str>) -> Result<String, ConfigError> {
        let flag = dash_empty(&self.api_endpoint);
        if !flag.is_empty() {
            return Ok(flag);
        }
        match env.map(dash_empty) {
            Some(e) if !e.is_empty() => Ok(e),
            _ => Err(ConfigError::NoApiEndpoint),
        }
    }

    /// `--tftp-addr` as a socket address (`:69` → `0.0.0.0:69`).
    pub fn tftp_socket_addr(&self) -> Result<std::net::SocketAddr, String> {
        listen_addr(&self.tftp_addr)
    }

    /// The WireGuard endpoint host after the `-` sentinel, falling back to `api_host`.
    pub fn wireguard_endpoint_host(&self, api_host: &str) -> String {
        let own = dash_empty(&self.wireguard_endpoint);
        if own.is_empty() {
            api_host.to_string()
        } else {
            own
        }
    }

    /// `--extra-agent-kernel-args` after the `-` sentinel.
    pub fn extra_agent_kernel_args(&self) -> String {
        dash_empty(&self.extra_agent_kernel_args)
    }
}

/// Parses a Go-style listen address: `:port` means every IPv4 address.
pub fn listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("m").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn upstream_defaults() {
        let f = parse(&[]);
        assert_eq!((f.api_port, f.http_port), (8081, 8081));
        assert!(f.enable_leader_election && f.insecure_wipe && f.auto_bmc_setup);
        assert!(!f.auto_accept_servers && !f.disable_dhcp_proxy);
        assert_eq!(f.server_reboot_timeout, Duration::from_secs(1200));
        assert!(!f.insecure_configdata && f.config_token_bind_address);
        assert_eq!(f.config_token_ttl, Duration::from_secs(3600));
        assert!(!f.insecure_agent_api);
        assert_eq!(f.agent_token_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(f.boot_from_disk_method, "ipxe-exit");
        assert_eq!(f.ipmi_pxe_method, "uefi");
        assert_eq!(f.power.test_power_simulated_silent_failure_prob, 0.0);
        assert_eq!(
            f.leader.leader_election_id,
            "controller-leader-election-sidero-controller-manager"
        );
        assert_eq!(f.health_addr, ":9440");
        assert!(f.leader.timing().renew_deadline < f.leader.timing().lease_duration);
        let f = parse(&["--leader-elect=false", "--log-format=text"]);
        assert!(!f.enable_leader_election);
        assert_eq!(
            f.logging_format,
            sidero_diagnostics::logging::LogFormat::Text
        );
    }

    #[test]
    fn the_deployment_command_line_parses() {
        // As rendered from infrastructure-components.yaml with the default variables.
        let f = parse(&[
            "--enable-leader-election",
            "--diagnostics-address=:8443",
            "--insecure-diagnostics=false",
            "--api-endpoint=-",
            "--api-port=8081",
            "--http-port=8081",
            "--extra-agent-kernel-args=-",
            "--boot-from-disk-method=ipxe-exit",
            "--auto-accept-servers=false",
            "--insecure-wipe=true",
            "--auto-bmc-setup=true",
            "--server-reboot-timeout=20m",
            "--ipmi-pxe-method=uefi",
            "--disable-dhcp-proxy=false",
            "--test-power-simulated-explicit-failure-prob=0",
            "--test-power-simulated-silent-failure-prob=0",
        ]);
        assert_eq!(
            f.resolved_api_endpoint(Some("10.0.0.5")).unwrap(),
            "10.0.0.5"
        );
        assert_eq!(
            f.resolved_api_endpoint(None),
            Err(ConfigError::NoApiEndpoint)
        );
        assert_eq!(f.extra_agent_kernel_args(), "");
    }

    #[test]
    fn siderolink_flags() {
        let f = parse(&[]);
        assert_eq!((f.wireguard_port, f.siderolink), (51821, false));
        assert_eq!(f.wireguard_endpoint_host("10.0.0.5"), "10.0.0.5");
        let f = parse(&[
            "--wireguard-endpoint=-",
            "--wireguard-port=51822",
            "--siderolink",
            "--negative-address-filter=10.0.0.0/8,-",
            "--negative-address-filter=fd00::/8",
        ]);
        assert_eq!(f.wireguard_endpoint_host("10.0.0.5"), "10.0.0.5");
        assert_eq!((f.wireguard_port, f.siderolink), (51822, true));
        assert_eq!(f.negative_address_filter, ["10.0.0.0/8", "-", "fd00::/8"]);
        let f = parse(&["--webhook-host=-", "--ipxe-arm64-dir=-"]);
        assert_eq!(
            (f.webhook_host.as_str(), f.ipxe_arm64_dir.as_str()),
            ("", "")
        );
        let f = parse(&["--wireguard-endpoint=wg.example"]);
        assert_eq!(f.wireguard_endpoint_host("10.0.0.5"), "wg.example");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr(":69").unwrap().to_string(), "0.0.0.0:69");
        assert_eq!(
            listen_addr("127.0.0.1:6969").unwrap().to_string(),
            "127.0.0.1:6969"
        );
        assert!(listen_addr("69").is_err());
    }

    #[test]
    fn invalid_values_are_refused() {
        let bad = |a: &[&str]| {
            Flags::try_parse_from(std::iter::once("m").chain(a.iter().copied())).is_err()
        };
        assert!(bad(&["--ipmi-pxe-method=pxe"]));
        assert!(bad(&["--server-reboot-timeout=soon"]));
        assert!(bad(&["--insecure-wipe=maybe"]));
    }
}
