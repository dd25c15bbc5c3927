//! sidero-controller-manager entry point.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use sidero_controller_manager::config::{self, Flags};
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

/// A listen address flag, or `[<server tunnel address>]:<port>` when empty.
fn tunnel_listen(flag: &str, server: Ipv6Addr, port: u16) -> anyhow::Result<SocketAddr> {
    if flag.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V6(server), port));
    }
    config::listen_addr(flag).map_err(anyhow::Error::msg)
}

/// Runs the SideroLink endpoint (WireGuard device, kernel-log receiver, events sink) and the
/// ServerBinding watch that drives them. Lines of `serverlogs` and `serverevents` go to
/// stdout, one JSON object per line.
async fn start_siderolink(
    client: &kube::Client,
    id: &identity::Identity,
    flags: &Flags,
) -> anyhow::Result<()> {
    use sidero_siderolink::{annotation, event_sink, events, log_receiver, wireguard};
    let server = sidero_siderolink::server_address(&id.installation_id);
    let filter = events::parse_filter(flags.negative_address_filter.iter().map(String::as_str))
        .map_err(anyhow::Error::msg)
        .context("--negative-address-filter")?;
    let device = wireguard::Device::create(wireguard::DeviceConfig {
        name: flags.wireguard_interface.clone(),
        private_key: id.private_key.clone(),
        address: (IpAddr::V6(server), sidero_siderolink::provision::PREFIX_LEN),
        listen_port: flags.wireguard_port,
        mode: flags.wireguard_mode.parse().map_err(anyhow::Error::msg)?,
    })
    .await
    .context("creating the SideroLink WireGuard device")?;
    let cache = annotation::AnnotationCache::new();
    tokio::spawn(siderolink::bindings::run(
        client.clone(),
        siderolink::bindings::Targets {
            device: Some(Arc::new(device)),
            cache: Some(cache.clone()),
        },
    ));
    let book = Arc::new(log_receiver::LogBook::new(flags.server_log_lines));
    let (log_tx, mut log_rx) = tokio::sync::mpsc::channel::<log_receiver::LogLine>(4096);
    let logs = log_receiver::LogReceiver::bind(
        tunnel_listen(&flags.log_receiver_addr, server, log_receiver::DEFAULT_PORT)?,
        cache.clone(),
        log_tx,
        log_receiver::Config::default(),
    )
    .await
    .context("binding the kernel-log receiver")?;
    tracing::info!(addr = ?logs.local_addr().ok(), "serving kernel logs (serverlogs)");
    tokio::spawn(logs.serve(std::future::pending()));
    tokio::spawn(async move {
        use std::io::Write;
        while let Some(l) = log_rx.recv().await {
            if let Some(server) = &l.server_uuid {
                book.push(server, &l.line);
            }
            let _ = writeln!(std::io::stdout().lock(), "{}", l.line);
        }
    });
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel::<event_sink::EventLine>(1024);
    let sink = event_sink::EventSink::new(
        cache,
        filter,
        Arc::new(siderolink::binding_writer::BindingWriter::new(
            client.clone(),
        )),
        ev_tx,
    );
    let events_addr = tunnel_listen(&flags.events_sink_addr, server, event_sink::DEFAULT_PORT)?;
    let listener = tokio::net::TcpListener::bind(events_addr)
        .await
        .with_context(|| format!("binding the events sink on {events_addr}"))?;
    tracing::info!(addr = %events_addr, "serving Talos events (serverevents)");
    tokio::spawn(async move {
        if let Err(e) = sink.serve(listener, std::future::pending()).await {
            tracing::error!(error = %e, "events sink stopped");
        }
    });
    tokio::spawn(async move {
        use std::io::Write;
        while let Some(l) = ev_rx.recv().await {
            let _ = writeln!(std::io::stdout().lock(), "{}", l.line);
        }
    });
    Ok(())
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
    if flags.siderolink {
        start_siderolink(&client, &id, &flags).await?;
    }
    let release = (!flags.insecure_configdata).then(|| ConfigRelease {
        key: sidero_netboot::token::derive_key(id.private_key.as_bytes()),
        ttl: flags.config_token_ttl,
        bind_address: flags.config_token_bind_address,
    });
    tracing::info!(authenticated = release.is_some(), "machine config release");
    let cache = http::BootCache::start(&client);
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
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let app = http::combined(http::router(state, &dirs), agent_routes);
    http::serve(listener, app, shutdown)
        .await
        .context("HTTP server")?;
    Ok(())
}
