//! caps-controller-manager: runs the MetalCluster, MetalMachine and ServerBinding controllers,
//! the conversion and MetalMachineTemplate webhooks, and serves `/healthz` and `/readyz`
//! (spec §1.3, §10.2).

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use caps_controller_manager::capi::CapiResources;
use caps_controller_manager::controllers::{metalcluster, metalmachine, serverbinding};
use clap::Parser;

/// Flags as upstream (`--enable-leader-election`, `--webhook-port`, `--webhook-cert-dir`,
/// `--health-addr`, diagnostics) plus `--kubeconfig`.
#[derive(Parser, Debug)]
#[command(name = "caps-controller-manager", version)]
struct Flags {
    /// Enable leader election (accepted for manifest compatibility; one replica runs).
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    enable_leader_election: bool,
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
    /// Serve diagnostics over plain HTTP.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    insecure_diagnostics: bool,
    /// Kubeconfig (default: in-cluster, then `KUBECONFIG`).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<String>,
}

fn listen_addr(flag: &str) -> anyhow::Result<SocketAddr> {
    let full = if flag.starts_with(':') {
        format!("0.0.0.0{flag}")
    } else {
        flag.to_owned()
    };
    full.parse()
        .with_context(|| format!("invalid address {flag:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::parse();
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
    let health = tokio::net::TcpListener::bind(listen_addr(&flags.health_addr)?)
        .await
        .with_context(|| format!("binding {}", flags.health_addr))?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(health, app).await });
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
    Ok(())
}
