//! caps-controller-manager: runs the MetalCluster, MetalMachine and ServerBinding controllers
//! (on the replica holding the leader Lease when `--enable-leader-election`), the conversion
//! and MetalMachineTemplate webhooks (every replica), and serves `/healthz`, `/readyz` and
//! `/metrics` (spec §1.3, §10.2).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::{metalcluster, metalmachine, serverbinding};
use caps_controller_manager::metrics::{self, Metrics};
use clap::Parser;
use prometheus_client::registry::Registry;
use sidero_diagnostics::logging::LogFormat;
use sidero_diagnostics::probes::{self, Checks};

/// Parses a Go-style duration (`15s`, `1m`).
fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Flags as upstream (`--enable-leader-election`, `--webhook-port`, `--webhook-cert-dir`,
/// `--health-addr`, diagnostics) plus `--kubeconfig`, lease settings and the log format.
#[derive(Parser, Debug)]
#[command(name = "caps-controller-manager", version)]
struct Flags {
    /// Leader election: only the replica holding the Lease runs the controllers.
    #[arg(long, visible_alias = "leader-elect", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    enable_leader_election: bool,
    /// Namespace of the Lease; empty means the pod's namespace, else `sidero-system`.
    #[arg(long, default_value = "")]
    leader_election_namespace: String,
    /// Name of the Lease (upstream's election ID).
    #[arg(long, default_value = "controller-leader-election-capm")]
    leader_election_id: String,
    /// How long followers wait on an unrenewed Lease before taking over.
    #[arg(long, default_value = "10s", value_parser = duration)]
    leader_elect_lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    #[arg(long, default_value = "7s", value_parser = duration)]
    leader_elect_renew_deadline: Duration,
    /// Time between renewals and tries.
    #[arg(long, default_value = "1s", value_parser = duration)]
    leader_elect_retry_period: Duration,
    /// Webhook server port.
    #[arg(long, default_value_t = 9443)]
    webhook_port: u16,
    /// Address the webhook server binds (empty: every address, as upstream).
    #[arg(long, default_value = "")]
    webhook_host: String,
    /// Webhook serving certificates.
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs/")]
    webhook_cert_dir: String,
    /// Address of `/healthz` and `/readyz`.
    #[arg(long, default_value = ":9440")]
    health_addr: String,
    /// Diagnostics (metrics) address.
    #[arg(long, default_value = ":8443")]
    diagnostics_address: String,
    /// Serve diagnostics over plain HTTP without authentication.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    insecure_diagnostics: bool,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, visible_alias = "log-format", default_value = "json")]
    logging_format: LogFormat,
    /// Kubeconfig (default: in-cluster, then `KUBECONFIG`).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<String>,
}

async fn serve_diagnostics(
    flags: &Flags,
    registry: Registry,
    client: &kube::Client,
) -> anyhow::Result<()> {
    let checks = Checks::default()
        .healthz("ping", probes::ping())
        .readyz("ping", probes::ping());
    sidero_diagnostics::serve("health probes", &flags.health_addr, probes::router(checks))
        .await
        .context("--health-addr")?;
    let router = sidero_diagnostics::metrics::router(Arc::new(registry));
    if flags.insecure_diagnostics {
        sidero_diagnostics::serve("metrics", &flags.diagnostics_address, router).await
    } else {
        sidero_diagnostics::serve_secure(
            "metrics",
            &flags.diagnostics_address,
            router,
            client.clone(),
        )
        .await
    }
    .context("--diagnostics-address")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    sidero_diagnostics::logging::init(flags.logging_format);
    let client = match &flags.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).context("reading the kubeconfig")?;
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
            kube::Client::try_from(config)?
        }
        None => kube::Client::try_default()
            .await
            .context("connecting to the API server")?,
    };
    // Conversion of the infrastructure kinds and MetalMachineTemplate validation.
    sidero_webhook::server::start(
        sidero_webhook::Role::Caps,
        sidero_webhook::server::listen_addr(&flags.webhook_host, flags.webhook_port)
            .map_err(anyhow::Error::msg)?,
        flags.webhook_cert_dir.as_ref(),
    )
    .await
    .context("starting the webhook server")?;
    let mut registry = Registry::default();
    let metrics: &'static Metrics =
        metrics::install(Metrics::register(&mut registry)).context("installing the metrics")?;
    serve_diagnostics(&flags, registry, &client).await?;
    let mut renewal = None;
    if flags.enable_leader_election {
        let namespace = if flags.leader_election_namespace.is_empty() {
            sidero_leader::default_namespace()
        } else {
            flags.leader_election_namespace.clone()
        };
        let mut elector = sidero_leader::Elector::new(
            client.clone(),
            &namespace,
            &flags.leader_election_id,
            &sidero_leader::default_identity(),
            sidero_leader::Timing {
                lease_duration: flags.leader_elect_lease_duration,
                renew_deadline: flags.leader_elect_renew_deadline,
                retry_period: flags.leader_elect_retry_period,
            },
        )?;
        tokio::select! {
            () = elector.acquire() => {}
            () = sidero_diagnostics::shutdown_signal() => return Ok(()),
        }
        renewal = Some(tokio::spawn(async move {
            match elector.keep(sidero_diagnostics::shutdown_signal()).await {
                sidero_leader::Lost::Released => {}
                lost => {
                    tracing::error!(?lost, "leader election lost");
                    std::process::exit(1);
                }
            }
        }));
    }
    metrics.leader.set(1);
    let capi = CapiResources::discover(&client).await;
    tracing::info!(
        leader_election = flags.enable_leader_election,
        "caps-controller-manager started"
    );
    tokio::join!(
        metalcluster::run(client.clone()),
        metalmachine::run(client.clone(), capi),
        serverbinding::run(client),
    );
    // The controllers stop on SIGINT/SIGTERM; the renewal task saw it too and releases.
    if let Some(task) = renewal {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    #[test]
    fn upstream_flags_and_defaults() {
        let f = super::Flags::try_parse_from([
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
        let f = super::Flags::try_parse_from(["caps", "--leader-elect=false", "--log-format=text"])
            .unwrap();
        assert!(!f.enable_leader_election);
        assert_eq!(f.logging_format, super::LogFormat::Text);
        assert_eq!(super::duration("1500ms").unwrap().as_millis(), 1500);
        assert!(super::duration("soon").is_err());
    }
}
