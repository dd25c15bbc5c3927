//! sidero-controller-manager entry point.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use prometheus_client::registry::Registry;
use sidero_controller_manager::config::Flags;
use sidero_controller_manager::http::{self, BootState, ConfigRelease, Dirs};
use sidero_controller_manager::identity;
use sidero_controller_manager::metrics::{self, Metrics};
use sidero_controller_manager::siderolink;
use sidero_netboot::args::Endpoints;
use sidero_netboot::boot::BootConfig;
use sidero_netboot::cmdline::Cmdline;
use sidero_netboot::script::boot_script;

async fn client(flags: &Flags) -> anyhow::Result<kube::Client> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {path}"))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Beside a wildcard TFTP server, one bound to the API endpoint's address: servers are told
/// to fetch from that address, and replies from the wildcard socket would leave from the
/// interface's primary address, which OVMF's PXE drops. Skipped (logged) when the endpoint
/// is not an address of this host.
async fn serve_tftp_on_api_address(
    api_host: &str,
    config: sidero_tftp::ServerConfig,
    source: sidero_tftp::DirSource,
    observer: impl sidero_tftp::TransferObserver,
) {
    let port = config.bind.port();
    let ip = match tokio::net::lookup_host((api_host, port)).await {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => a.ip(),
            None => return,
        },
        Err(e) => {
            tracing::info!(%api_host, error = %e, "TFTP: API endpoint not resolved; wildcard only");
            return;
        }
    };
    if ip.is_loopback() || ip.is_ipv4() != config.bind.is_ipv4() {
        return;
    }
    let config = sidero_tftp::ServerConfig {
        bind: std::net::SocketAddr::new(ip, port),
        ..config
    };
    match sidero_tftp::TftpServer::bind(config, source).await {
        Ok(tftp) => {
            tracing::info!(addr = ?tftp.local_addr().ok(), "serving TFTP on the API endpoint address");
            tokio::spawn(tftp.with_observer(observer).serve());
        }
        Err(e) => {
            tracing::info!(%ip, error = %e, "TFTP: API endpoint address not bindable; wildcard only");
        }
    }
}

/// The WireGuard endpoint nodes dial: `host` (an IP, or a name resolved to its first address)
/// and `port`.
async fn resolve_endpoint(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving the WireGuard endpoint {host:?}"))?
        .next()
        .with_context(|| format!("no Wireguard endpoint found: {host:?} has no address"))
}

/// The controllers and the start-up objects they need (upstream runs both only on the leader).
struct ControllerSet {
    client: kube::Client,
    talos_release: String,
    talos_assets_base: String,
    env_dir: String,
    server: sidero_server::Config,
    select: sidero_power::SelectOptions,
}

impl ControllerSet {
    async fn start(self) -> anyhow::Result<()> {
        use sidero_controller_manager::controllers::{environment, server, serverclass};
        serverclass::ensure_any(&self.client)
            .await
            .context("creating ServerClass any")?;
        tokio::spawn(serverclass::run(self.client.clone()));
        environment::ensure_default(&self.client, &self.talos_release, &self.talos_assets_base)
            .await
            .context("creating Environment default")?;
        let cfg = environment::Config {
            env_dir: self.env_dir.clone().into(),
            talos_release: self.talos_release.clone(),
            talos_assets_base: self.talos_assets_base.clone(),
            ..Default::default()
        };
        let env_client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = environment::run(env_client, cfg).await {
                tracing::error!(error = %e, "environment controller stopped");
            }
        });
        tokio::spawn(server::run(self.client, self.server, self.select));
        Ok(())
    }
}

/// The renewal task of a leading replica, awaited on shutdown so the Lease is released.
type Renewal = Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>;

/// Waits for leadership (when enabled), then starts the controllers. Losing the Lease ends
/// the process, as controller-runtime does: a replica that may have missed a takeover must
/// not keep writing.
async fn lead(
    client: kube::Client,
    flags: Flags,
    set: ControllerSet,
    metrics: &'static Metrics,
    renewal: Renewal,
) -> anyhow::Result<()> {
    if flags.enable_leader_election {
        let mut elector = sidero_leader::Elector::new(
            client,
            &flags.leader.namespace(),
            &flags.leader.leader_election_id,
            &sidero_leader::default_identity(),
            flags.leader.timing(),
        )?;
        elector.acquire().await;
        *renewal.lock().await = Some(tokio::spawn(async move {
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
    tracing::info!("starting the controllers");
    set.start().await
}

/// `GET http://127.0.0.1:<http-port>/boot.ipxe` must answer 200 within 10 s: upstream's
/// `ipxe` readiness and `webhook` liveness checks.
fn boot_script_check(url: String) -> sidero_diagnostics::probes::Check {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap_or_default();
    Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        futures::FutureExt::boxed(async move {
            let resp = http.get(&url).send().await.map_err(|e| e.to_string())?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("GET {url}: {}", resp.status()))
            }
        })
    })
}

/// Serves `/healthz`, `/readyz` and `/metrics`.
async fn serve_diagnostics(
    flags: &Flags,
    registry: Registry,
    client: &kube::Client,
) -> anyhow::Result<()> {
    let host = match flags.http_bind.as_str() {
        "0.0.0.0" | "" | "::" => "127.0.0.1",
        h => h,
    };
    let check = boot_script_check(format!("http://{host}:{}/boot.ipxe", flags.http_port));
    let checks = sidero_diagnostics::probes::Checks::default()
        .healthz("webhook", check.clone())
        .readyz("ipxe", check);
    sidero_diagnostics::serve(
        "health probes",
        &flags.health_addr,
        sidero_diagnostics::probes::router(checks),
    )
    .await
    .context("--health-addr")?;
    let metrics = sidero_diagnostics::metrics::router(Arc::new(registry));
    if flags.insecure_diagnostics {
        sidero_diagnostics::serve("metrics", &flags.diagnostics_address, metrics)
            .await
            .context("--diagnostics-address")?;
    } else {
        sidero_diagnostics::serve_secure(
            "metrics",
            &flags.diagnostics_address,
            metrics,
            client.clone(),
        )
        .await
        .context("--diagnostics-address")?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    sidero_diagnostics::logging::init(flags.logging_format);
    let api_host = flags
        .resolved_api_endpoint(std::env::var("API_ENDPOINT").ok().as_deref())
        .context("resolving the API endpoint")?;
    let client = client(&flags).await.context("connecting to Kubernetes")?;
    // Conversion and validation are served from the start: the API server needs them for
    // every v1alpha1 read and Server write, whatever else this process is doing.
    sidero_webhook::server::start(
        sidero_webhook::Role::Sidero,
        sidero_webhook::server::listen_addr(&flags.webhook_host, flags.webhook_port)
            .map_err(anyhow::Error::msg)?,
        flags.webhook_cert_dir.as_ref(),
    )
    .await
    .context("starting the webhook server")?;
    let mut registry = Registry::default();
    let metrics =
        metrics::install(Metrics::register(&mut registry)).context("installing the metrics")?;
    serve_diagnostics(&flags, registry, &client).await?;
    tokio::spawn(metrics::watch_servers(client.clone(), metrics));
    let id = identity::load_or_create(&client)
        .await
        .context("loading the SideroLink identity")?;
    let config = BootConfig {
        endpoints: Endpoints {
            api_host: api_host.clone(),
            api_port: flags.api_port,
            siderolink_address: sidero_siderolink::server_address(&id.installation_id).to_string(),
        },
        extra_agent_args: Cmdline::parse(&flags.extra_agent_kernel_args()),
        boot_from_disk_method: flags.boot_from_disk_method.clone(),
    };
    let script = boot_script(&api_host, flags.api_port);
    let sources =
        sidero_controller_manager::ipxe::Sources::new(&flags.ipxe_dir, &flags.ipxe_arm64_dir);
    let prepared =
        sidero_controller_manager::ipxe::prepare(&sources, flags.tftp_dir.as_ref(), &script)
            .context("preparing the iPXE binaries")?;
    tracing::info!(?prepared, ipxe_dir = %sources.dir.display(), ipxe_arm64_dir = %sources.arm64_dir.display(), "iPXE binaries ready");
    // The caches `/ipxe` reads, also what the boot timeline finds Servers in.
    let cache = http::BootCache::start(&client);
    sidero_controller_manager::timeline::install(client.clone(), cache.servers.clone());
    let bind = flags.tftp_socket_addr().map_err(anyhow::Error::msg)?;
    let tftp_config = sidero_tftp::ServerConfig {
        bind,
        mode: if flags.tftp_mode == "multi" {
            sidero_tftp::SocketMode::MultiPort
        } else {
            sidero_tftp::SocketMode::SinglePort
        },
        reuse_address: bind.ip().is_unspecified(),
        ..Default::default()
    };
    let observe_tftp = move |e: &sidero_tftp::TransferEvent<'_>| {
        metrics.tftp(e);
        sidero_controller_manager::timeline::tftp(e);
    };
    let source = sidero_tftp::DirSource::new(&flags.tftp_dir)
        .with_context(|| format!("opening {}", flags.tftp_dir))?;
    let tftp = sidero_tftp::TftpServer::bind(tftp_config.clone(), source.clone())
        .await
        .context("starting TFTP")?
        .with_observer(observe_tftp);
    let bound = tftp.local_addr().unwrap_or(bind);
    tracing::info!(addr = %bound, "serving TFTP");
    tokio::spawn(tftp.serve());
    if bind.ip().is_unspecified() {
        let config = sidero_tftp::ServerConfig {
            bind: bound,
            ..tftp_config
        };
        // Metrics and the boot timeline count transfers on both sockets.
        serve_tftp_on_api_address(&api_host, config, source, observe_tftp).await;
    }
    if flags.disable_dhcp_proxy {
        tracing::info!("proxy DHCP disabled");
    } else {
        let mut dhcp = sidero_dhcp::ServerConfig::from_api_endpoint(&api_host, flags.api_port)
            .await
            .context("setting up proxy DHCP on the interface of --api-endpoint")?;
        dhcp.proxy.ipxe_clients = flags
            .dhcp_ipxe_clients
            .parse()
            .map_err(|e| anyhow::anyhow!("--dhcp-ipxe-clients: {e}"))?;
        let plain = sidero_controller_manager::ipxe::unscripted(&prepared);
        if dhcp.proxy.ipxe_clients == sidero_dhcp::IpxeClientBoot::Upstream && !plain.is_empty() {
            tracing::warn!(
                files = ?plain,
                "these iPXE binaries carry no embedded script (no placeholder), so iPXE started \
                 from them asks DHCP again; with --dhcp-ipxe-clients=upstream a BIOS client is \
                 handed undionly.kpxe again: use --dhcp-ipxe-clients=http-script"
            );
        }
        let proxy = sidero_dhcp::ProxyServer::bind(&dhcp)
            .await
            .context("starting proxy DHCP")?
            .with_metrics(Arc::new(sidero_controller_manager::timeline::DhcpSteps));
        tokio::spawn(proxy.serve(std::future::pending()));
    }
    let select = flags
        .power
        .select_options()
        .map_err(|e| anyhow::anyhow!("power flags: {e}"))?;
    tracing::info!(power = ?flags.power, "power management settings");
    let set = ControllerSet {
        client: client.clone(),
        talos_release: flags.talos_release.clone(),
        talos_assets_base: flags.talos_assets_base.clone(),
        env_dir: flags.env_dir.clone(),
        server: sidero_server::Config {
            default_pxe_mode: flags
                .ipmi_pxe_method
                .parse()
                .map_err(|e| anyhow::anyhow!("ipmi-pxe-method is invalid: {e}"))?,
            reboot_timeout: flags.server_reboot_timeout,
        },
        select,
    };
    let renewal = Renewal::default();
    if flags.enable_leader_election {
        let (client, flags, renewal) = (client.clone(), flags.clone(), renewal.clone());
        tokio::spawn(async move {
            if let Err(e) = lead(client, flags, set, metrics, renewal).await {
                tracing::error!(error = %format!("{e:#}"), "controllers failed to start");
                std::process::exit(1);
            }
        });
    } else {
        // A single replica: the start-up objects exist before the boot endpoints answer.
        lead(client.clone(), flags.clone(), set, metrics, renewal.clone()).await?;
    }
    let wg_endpoint = resolve_endpoint(
        &flags.wireguard_endpoint_host(&api_host),
        flags.wireguard_port,
    )
    .await?;
    let server_side =
        siderolink::server_side(&id, wg_endpoint).context("describing the SideroLink server")?;
    let agent_auth =
        (!flags.insecure_agent_api).then(|| sidero_controller_manager::agent::AgentAuth {
            key: sidero_netboot::token::derive_key(id.private_key.as_bytes()),
            token_ttl: flags.agent_token_ttl,
        });
    tracing::info!(authenticated = agent_auth.is_some(), "agent API");
    let agent_routes = sidero_controller_manager::agent::routes_with_auth(
        client.clone(),
        sidero_controller_manager::agent::AgentConfig::from_flags(&flags),
        agent_auth.clone(),
    )
    .add_service(
        siderolink::provision::ProvisionApi::new(client.clone(), server_side).into_server(),
    );
    let books = if flags.siderolink {
        Some(siderolink::endpoint::start(&client, &id, &flags, metrics).await?)
    } else {
        None
    };
    let release = (!flags.insecure_configdata).then(|| ConfigRelease {
        key: sidero_netboot::token::derive_key(id.private_key.as_bytes()),
        ttl: flags.config_token_ttl,
        bind_address: flags.config_token_bind_address,
    });
    tracing::info!(authenticated = release.is_some(), "machine config release");
    let state = Arc::new(BootState {
        cache: Some(cache),
        client,
        config,
        boot_script: script,
        release,
        agent_tokens: agent_auth,
    });
    let dirs = Dirs {
        env: flags.env_dir.clone().into(),
        tftp: flags.tftp_dir.clone().into(),
    };
    let bind = format!("{}:{}", flags.http_bind, flags.http_port);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(%bind, api_endpoint = %api_host, api_port = flags.api_port, "serving HTTP and gRPC");
    let mut router = http::router(state, &dirs);
    if let Some(books) = books {
        // Kernel logs and events per server, for `sideroctl logs`.
        router = router.merge(http::logs::router(books));
    }
    let app = http::combined(router, agent_routes);
    http::serve(listener, app, sidero_diagnostics::shutdown_signal())
        .await
        .context("HTTP server")?;
    // Step down cleanly: the renewal task saw the same signal and releases the Lease.
    let task = renewal.lock().await.take();
    if let Some(task) = task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    Ok(())
}
