//! sidero-controller-manager entry point.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use sidero_controller_manager::config::Flags;
use sidero_controller_manager::http::{self, BootState, ConfigRelease, Dirs};
use sidero_controller_manager::identity;
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
            tokio::spawn(tftp.serve());
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let flags = Flags::parse();
    let api_host = flags
        .resolved_api_endpoint(std::env::var("API_ENDPOINT").ok().as_deref())
        .context("resolving the API endpoint")?;
    let client = client(&flags).await.context("connecting to Kubernetes")?;
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
    sidero_controller_manager::controllers::serverclass::ensure_any(&client)
        .await
        .context("creating ServerClass any")?;
    tokio::spawn(sidero_controller_manager::controllers::serverclass::run(
        client.clone(),
    ));
    let script = boot_script(&api_host, flags.api_port);
    let prepared = sidero_controller_manager::ipxe::prepare(
        flags.ipxe_dir.as_ref(),
        flags.tftp_dir.as_ref(),
        &script,
    )
    .context("preparing the iPXE binaries")?;
    tracing::info!(?prepared, ipxe_dir = %flags.ipxe_dir, "iPXE binaries ready");
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
    let source = sidero_tftp::DirSource::new(&flags.tftp_dir)
        .with_context(|| format!("opening {}", flags.tftp_dir))?;
    let tftp = sidero_tftp::TftpServer::bind(tftp_config.clone(), source.clone())
        .await
        .context("starting TFTP")?;
    let bound = tftp.local_addr().unwrap_or(bind);
    tracing::info!(addr = %bound, "serving TFTP");
    tokio::spawn(tftp.serve());
    if bind.ip().is_unspecified() {
        let config = sidero_tftp::ServerConfig {
            bind: bound,
            ..tftp_config
        };
        serve_tftp_on_api_address(&api_host, config, source).await;
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
        let proxy = sidero_dhcp::ProxyServer::bind(&dhcp)
            .await
            .context("starting proxy DHCP")?;
        tokio::spawn(proxy.serve(std::future::pending()));
    }
    {
        use sidero_controller_manager::controllers::environment;
        environment::ensure_default(&client, &flags.talos_release, &flags.talos_assets_base)
            .await
            .context("creating Environment default")?;
        let cfg = environment::Config {
            env_dir: flags.env_dir.clone().into(),
            talos_release: flags.talos_release.clone(),
            talos_assets_base: flags.talos_assets_base.clone(),
            ..Default::default()
        };
        let env_client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = environment::run(env_client, cfg).await {
                tracing::error!(error = %e, "environment controller stopped");
            }
        });
    }
    {
        let select = flags
            .power
            .select_options()
            .map_err(|e| anyhow::anyhow!("power flags: {e}"))?;
        tracing::info!(power = ?flags.power, "power management settings");
        let config = sidero_server::Config {
            default_pxe_mode: flags
                .ipmi_pxe_method
                .parse()
                .map_err(|e| anyhow::anyhow!("ipmi-pxe-method is invalid: {e}"))?,
            reboot_timeout: flags.server_reboot_timeout,
        };
        tokio::spawn(sidero_controller_manager::controllers::server::run(
            client.clone(),
            config,
            select,
        ));
    }
    let wg_endpoint = resolve_endpoint(
        &flags.wireguard_endpoint_host(&api_host),
        flags.wireguard_port,
    )
    .await?;
    let server_side =
        siderolink::server_side(&id, wg_endpoint).context("describing the SideroLink server")?;
    let agent_routes = sidero_controller_manager::agent::routes(
        client.clone(),
        sidero_controller_manager::agent::AgentConfig::from_flags(&flags),
    )
    .add_service(
        siderolink::provision::ProvisionApi::new(client.clone(), server_side).into_server(),
    );
    let books = if flags.siderolink {
        Some(siderolink::endpoint::start(&client, &id, &flags).await?)
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
        client,
        config,
        boot_script: script,
        release,
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
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut router = http::router(state, &dirs);
    if let Some(books) = books {
        // Kernel logs and events per server, for `sideroctl logs`.
        router = router.merge(http::logs::router(books));
    }
    let app = http::combined(router, agent_routes);
    http::serve(listener, app, shutdown)
        .await
        .context("HTTP server")?;
    Ok(())
}
