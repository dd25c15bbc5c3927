//! The local management plane on one machine: a real kube-apiserver + etcd on loopback with
//! the Sidero CRDs installed. Later issues add the managers, Cluster API and simulated servers.
//! Runs until Ctrl-C (or SIGTERM), then stops everything it started.

use anyhow::Context;
use sidero_testenv::{KUBERNETES_VERSION, crd_dir, start_with_crds};

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
    println!();
    println!("Try:");
    println!("  export KUBECONFIG={kc}");
    println!("  kubectl get crds");
    println!("  kubectl apply -f crates/api/tests/samples/");
    println!("  kubectl get servers,serverclasses,environments");
    println!();
    println!("Not yet running: the managers, Cluster API and simulated servers (see the issues).");
    println!("Press Ctrl-C to stop.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    println!("==> stopping");
    drop(cp);
    Ok(())
}
