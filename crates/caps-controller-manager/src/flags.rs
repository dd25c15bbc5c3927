//! Command-line flags of caps-controller-manager, named and defaulted as upstream's (spec
//! §10.2); public so that the release tests can check the Deployment sets every one an
//! operator needs.

use std::time::Duration;

use clap::Parser;
use sidero_diagnostics::logging::LogFormat;

/// Parses a Go-style duration (`15s`, `1m`).
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// `-` means empty: clusterctl cannot express an empty default in a template variable.
fn dash_empty(s: &str) -> Result<String, String> {
    Ok(if s == "-" {
        String::new()
    } else {
        s.to_string()
    })
}

/// Flags as upstream (`--enable-leader-election`, `--webhook-port`, `--webhook-cert-dir`,
/// `--health-addr`, diagnostics) plus `--kubeconfig`, lease settings and the log format.
#[derive(Parser, Clone, Debug)]
#[command(name = "caps-controller-manager", version)]
pub struct Flags {
    /// Leader election: only the replica holding the Lease runs the controllers.
    #[arg(long, visible_alias = "leader-elect", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_leader_election: bool,
    /// Namespace of the Lease; empty means the pod's namespace, else `sidero-system`.
    #[arg(long, default_value = "")]
    pub leader_election_namespace: String,
    /// Name of the Lease (upstream's election ID).
    #[arg(long, default_value = "controller-leader-election-capm")]
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
    /// Webhook server port.
    #[arg(long, default_value_t = 9443)]
    pub webhook_port: u16,
    /// Address the webhook server binds (empty: every address, as upstream).
    #[arg(long, default_value = "", value_parser = dash_empty)]
    pub webhook_host: String,
    /// Webhook serving certificates.
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs/")]
    pub webhook_cert_dir: String,
    /// Address of `/healthz` and `/readyz`.
    #[arg(long, default_value = ":9440")]
    pub health_addr: String,
    /// Diagnostics (metrics) address.
    #[arg(long, default_value = ":8443")]
    pub diagnostics_address: String,
    /// Serve diagnostics over plain HTTP without authentication.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub insecure_diagnostics: bool,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, visible_alias = "log-format", default_value = "json")]
    pub logging_format: LogFormat,
    /// Kubeconfig (default: in-cluster, then `KUBECONFIG`).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn upstream_flags_and_defaults() {
        let f = Flags::try_parse_from([
            "caps",
            "--enable-leader-election",
            "--diagnostics-address=:8443",
            "--insecure-diagnostics=false",
        ])
        .unwrap();
        assert!(f.enable_leader_election);
        assert_eq!(f.leader_election_id, "controller-leader-election-capm");
        assert_eq!(f.health_addr, ":9440");
        assert!(f.leader_elect_renew_deadline < f.leader_elect_lease_duration);
        let f =
            Flags::try_parse_from(["caps", "--leader-elect=false", "--log-format=text"]).unwrap();
        assert!(!f.enable_leader_election);
        assert_eq!(f.logging_format, LogFormat::Text);
        assert_eq!(duration("1500ms").unwrap().as_millis(), 1500);
        assert!(duration("soon").is_err());
    }

    #[test]
    fn dash_means_empty() {
        let f = Flags::try_parse_from(["caps", "--webhook-host=-"]).unwrap();
        assert_eq!(f.webhook_host, "");
        let f = Flags::try_parse_from(["caps", "--webhook-host=127.0.0.1"]).unwrap();
        assert_eq!(f.webhook_host, "127.0.0.1");
    }
}
