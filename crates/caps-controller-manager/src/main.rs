//! caps-controller-manager: runs the MetalCluster, MetalMachine and ServerBinding controllers
//! (on the replica holding the leader Lease when `--enable-leader-election`), the conversion
//! and MetalMachineTemplate webhooks (every replica), and serves `/healthz`, `/readyz` and
//! `/metrics` (spec §1.3, §10.2).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::{metalcluster, metalmachine, serverbinding};
use caps_controller_manager::flags::Flags;
use caps_controller_manager::metrics::{self, Metrics};
use clap::Parser;
use prometheus_client::registry::Registry;
use sidero_diagnostics::probes::{self, Checks};

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
