//! The local management plane on one machine: a real kube-apiserver + etcd on loopback with
//! the Sidero CRDs installed, `sidero-controller-manager` (HTTP, gRPC and TFTP on loopback
//! ports; no DHCP outside a network namespace), the Cluster API core, Talos bootstrap and
//! control-plane managers, and `caps-controller-manager`. Three servers register through the
//! Agent API, are accepted and wiped, and a cluster from `deploy/cluster-template.yaml` gets
//! them bound. Runs until Ctrl-C (or SIGTERM), then stops everything it started.

mod cluster;
mod servers;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sidero_testenv::process::Proc;
use sidero_testenv::{KUBERNETES_VERSION, crd_dir, start_with_crds};

fn free_tcp() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn free_udp() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Waits until `GET http://127.0.0.1:<port><path>` answers 200.
async fn wait_http_ok(proc: &mut Proc, port: u16, path: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut head = [0u8; 12];
            if s.write_all(req.as_bytes()).await.is_ok()
                && s.read_exact(&mut head).await.is_ok()
                && &head[9..12] == b"200"
            {
                return Ok(());
            }
        }
        if !proc.running() || start.elapsed() > Duration::from_secs(60) {
            anyhow::bail!(
                "not ready on 127.0.0.1:{port}{path}:\n{}",
                proc.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    println!("==> starting etcd + kube-apiserver {KUBERNETES_VERSION} on 127.0.0.1");
    let cp = tokio::task::spawn_blocking(start_with_crds)
        .await
        .context("start task")?
        .context("starting the management plane")?;
    let kc = cp.kubeconfig().display().to_string();
    println!("==> API server {} is ready", cp.url());
    println!("==> CRDs from {} installed", crd_dir().display());

    let manager_bin = std::env::var_os("SIDERO_MANAGER_BIN")
        .map(PathBuf::from)
        .context("SIDERO_MANAGER_BIN is not set (scripts/run.sh sets it)")?;
    let (http, tftp) = (free_tcp()?, free_udp()?);
    let work = cp.dir().join("sidero");
    let args: Vec<String> = vec![
        format!("--kubeconfig={kc}"),
        "--api-endpoint=127.0.0.1".into(),
        format!("--api-port={http}"),
        format!("--http-port={http}"),
        "--http-bind=127.0.0.1".into(),
        format!("--tftp-addr=127.0.0.1:{tftp}"),
        "--disable-dhcp-proxy".into(),
        "--enable-leader-election=false".into(),
        "--health-addr=127.0.0.1:0".into(),
        "--diagnostics-address=127.0.0.1:0".into(),
        "--ipxe-dir=/usr/lib/ipxe".into(),
        // Nothing leaves this machine: Talos assets would come from a loopback mirror.
        "--talos-assets-base=http://127.0.0.1:9/talos".into(),
        format!("--tftp-dir={}", work.join("tftp").display()),
        format!("--env-dir={}", work.join("env").display()),
        // The lab's machines are accepted as they register (upstream's flag).
        "--auto-accept-servers=true".into(),
    ];
    let log = cp.dir().join("sidero-controller-manager.log");
    let mut manager = Proc::spawn("sidero-controller-manager", &manager_bin, &args, &log)?;
    println!(
        "==> starting sidero-controller-manager (log: {})",
        log.display()
    );
    let start = Instant::now();
    while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, http)).is_err() {
        if !manager.running() || start.elapsed() > Duration::from_secs(30) {
            anyhow::bail!(
                "sidero-controller-manager did not start:\n{}",
                manager.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "==> sidero-controller-manager serves HTTP+gRPC on 127.0.0.1:{http}, TFTP on 127.0.0.1:{tftp}"
    );

    println!("==> starting Cluster API core, Talos bootstrap and control-plane providers");
    let capi = sidero_testenv::capi::CapiStack::start(&cp).context("starting Cluster API")?;
    println!("    ready in {:.0}s", capi.started_in().as_secs_f64());

    let caps_bin = std::env::var_os("SIDERO_CAPS_BIN")
        .map(PathBuf::from)
        .context("SIDERO_CAPS_BIN is not set (scripts/run.sh sets it)")?;
    let health = free_tcp()?;
    let caps_args: Vec<String> = vec![
        format!("--kubeconfig={kc}"),
        format!("--health-addr=127.0.0.1:{health}"),
        format!("--diagnostics-address=127.0.0.1:{}", free_tcp()?),
        format!("--webhook-port={}", free_tcp()?),
    ];
    let caps_log = cp.dir().join("caps-controller-manager.log");
    let mut caps = Proc::spawn("caps-controller-manager", &caps_bin, &caps_args, &caps_log)?;
    wait_http_ok(&mut caps, health, "/readyz").await?;
    println!(
        "==> caps-controller-manager is ready (log: {})",
        caps_log.display()
    );

    let client = cp.client().await.context("API client")?;
    println!("==> servers register through the Agent API, are accepted and wiped");
    for m in &servers::MACHINES {
        servers::discover(&client, &format!("http://127.0.0.1:{http}"), m)
            .await
            .with_context(|| format!("discovering {}", m.uuid))?;
        println!("    {} ({}) accepted, wiped, clean", m.uuid, m.product);
    }

    println!(
        "==> creating cluster {:?} from deploy/cluster-template.yaml (1 control plane, 2 workers)",
        cluster::NAME
    );
    cluster::classes(&client).await?;
    cluster::create_from_template(&client).await?;
    let bound =
        cluster::wait_bound(&client, servers::MACHINES.len(), Duration::from_secs(600)).await?;
    for b in &bound {
        println!(
            "    {:<32} -> {}",
            b.machine,
            b.server.as_deref().unwrap_or("(none)")
        );
    }

    println!();
    println!("Try:");
    println!("  export KUBECONFIG={kc}");
    println!("  kubectl get servers,serverclasses");
    println!("  kubectl get clusters,machines,metalmachines,serverbindings -A");
    println!(
        "  curl 'http://127.0.0.1:{http}/ipxe?uuid={}&mac=52:54:00:12:34:56'",
        servers::MACHINES[0].uuid
    );
    println!("  atftp -g -r snp.efi -l /tmp/snp.efi 127.0.0.1 {tftp}");
    println!("Logs: {} and {}", log.display(), caps_log.display());
    println!();
    println!("Press Ctrl-C to stop.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    println!("==> stopping");
    caps.stop(Duration::from_secs(5));
    drop(capi);
    manager.stop(Duration::from_secs(5));
    drop(cp);
    Ok(())
}
