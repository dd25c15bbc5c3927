//! The management cluster: a client from `--kubeconfig`/`KUBECONFIG`/the defaults, and
//! reading a Server.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use sidero_api::metal::v1alpha2::Server;

/// A client for the cluster the flags name.
pub async fn client(kubeconfig: Option<&str>, context: Option<&str>) -> anyhow::Result<Client> {
    let opts = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {path}"))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .with_context(|| format!("loading kubeconfig {path}"))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&opts)
            .await
            .context("loading the default kubeconfig")?,
        None => kube::Config::infer()
            .await
            .context("no kubeconfig (set --kubeconfig or KUBECONFIG)")?,
    };
    Client::try_from(config).context("creating the Kubernetes client")
}

/// The Server named `name` (cluster scoped).
pub async fn server(client: &Client, name: &str) -> anyhow::Result<Server> {
    Api::<Server>::all(client.clone())
        .get_opt(name)
        .await
        .with_context(|| format!("reading server {name:?}"))?
        .with_context(|| format!("server {name:?} not found"))
}
