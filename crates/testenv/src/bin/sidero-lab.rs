//! The local management plane on one machine: a real kube-apiserver + etcd on loopback with
//! the Sidero CRDs installed and `sidero-controller-manager` running against it (HTTP, gRPC
//! and TFTP on loopback ports; no DHCP outside a network namespace). Later issues add CAPS,
//! Cluster API and simulated servers. Runs until Ctrl-C (or SIGTERM), then stops everything
//! it started.

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
    println!();
    println!("Try:");
    println!("  export KUBECONFIG={kc}");
    println!("  kubectl get crds");
    println!(
        "  kubectl get serverclasses,environments    # `any` and `default` were created by the manager"
    );
    println!(
        "  kubectl apply -f crates/api/tests/samples/server.yaml -f crates/api/tests/samples/serverclass.yaml"
    );
    println!("  kubectl get servers -o wide");
    println!("  curl http://127.0.0.1:{http}/boot.ipxe");
    println!(
        "  curl 'http://127.0.0.1:{http}/ipxe?uuid=00000000-0000-0000-0000-d05099d33360&mac=52:54:00:12:34:56'"
    );
    println!("  atftp -g -r snp.efi -l /tmp/snp.efi 127.0.0.1 {tftp}");
    println!();
    println!("Not yet running: CAPS, Cluster API and simulated servers (see the issues).");
    println!("Press Ctrl-C to stop.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    println!("==> stopping");
    manager.stop(Duration::from_secs(5));
    drop(cp);
    Ok(())
}
