//! The workload cluster of the lab: a Talos Environment (kernel arguments only: the simulated
//! nodes fetch no images), two ServerClasses matching the lab's machines by product name and
//! booting that Environment, the cluster template of `deploy/` rendered with its variables (as
//! `clusterctl generate cluster` does) and created, then progress until every Machine is
//! bound and installed.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::api::{DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::progress::Progress;

/// The cluster's name.
pub const NAME: &str = "lab";

const VARS: &[(&str, &str)] = &[
    ("CLUSTER_NAME", NAME),
    ("CONTROL_PLANE_ENDPOINT", "10.214.0.10"),
    ("CONTROL_PLANE_PORT", "6443"),
    ("CONTROL_PLANE_SERVERCLASS", "lab-cp"),
    ("WORKER_SERVERCLASS", "lab-workers"),
    ("KUBERNETES_VERSION", "v1.33.13"),
    ("CONTROL_PLANE_MACHINE_COUNT", "1"),
    ("WORKER_MACHINE_COUNT", "2"),
    ("TALOS_VERSION", "v1.13"),
];

async fn create(client: &Client, v: &Value, ns: Option<&str>) -> anyhow::Result<()> {
    let api_version = v["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = v["kind"].as_str().unwrap_or_default();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("{api_version} {kind} is not served"))?;
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let obj: DynamicObject = serde_json::from_value(v.clone())?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {kind} {}", obj.name_any())),
    }
}

/// The Environment the lab's servers install from.
pub const ENVIRONMENT: &str = "lab-talos";

/// The ServerClasses the template names: `lab-cp` and `lab-workers`, by SMBIOS product, both
/// booting [`ENVIRONMENT`] (Talos' kernel arguments; no kernel to fetch, so it is ready).
pub async fn classes(client: &Client) -> anyhow::Result<()> {
    let env = json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
        "metadata": {"name": ENVIRONMENT},
        "spec": {"kernel": {"args": ["console=ttyS0", "talos.platform=metal", "initrd=initramfs.xz"]}}});
    create(client, &env, None).await?;
    for (name, product) in [("lab-cp", "lab-cp"), ("lab-workers", "lab-worker")] {
        let class = json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
            "metadata": {"name": name},
            "spec": {"qualifiers": {"hardware": [{"system": {"productName": product}}]},
                     "environmentRef": {"name": ENVIRONMENT},
                     "strategicPatches": ["machine:\n  install:\n    disk: /dev/vda\n"]}});
        create(client, &class, None).await?;
    }
    Ok(())
}

/// Renders `deploy/cluster-template.yaml` and creates its objects in `default`.
pub async fn create_from_template(client: &Client) -> anyhow::Result<()> {
    let path = sidero_testenv::peers::repo_root().join("deploy/cluster-template.yaml");
    let mut text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    for (k, v) in VARS {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    if text.contains("${") {
        bail!("{} has a variable the lab does not set", path.display());
    }
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    for d in docs.iter().filter(|d| !d.is_null()) {
        create(client, d, Some("default")).await?;
    }
    Ok(())
}

/// One MetalMachine's state, for the progress table.
pub struct Bound {
    /// MetalMachine name.
    pub machine: String,
    /// The Server it holds, if any.
    pub server: Option<String>,
    /// `status.ready`.
    pub ready: bool,
    /// Its `TalosInstalled` condition is True.
    pub installed: bool,
    /// `status.addresses` as `type=address`.
    pub addresses: Vec<String>,
}

/// The MetalMachines in `default`.
pub async fn machines(client: &Client) -> anyhow::Result<Vec<Bound>> {
    let gvk = GroupVersionKind::gvk(
        "infrastructure.cluster.x-k8s.io",
        "v1alpha3",
        "MetalMachine",
    );
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|m| Bound {
            machine: m.name_any(),
            server: m.data["spec"]["serverRef"]["name"]
                .as_str()
                .map(str::to_string),
            ready: m.data["status"]["ready"] == true,
            installed: m.data["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "TalosInstalled" && c["status"] == "True")
            }),
            addresses: m.data["status"]["addresses"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|a| {
                            format!(
                                "{}={}",
                                a["type"].as_str().unwrap_or("?"),
                                a["address"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// Waits until `want` MetalMachines are ready, printing each change.
pub async fn wait_bound(
    client: &Client,
    want: usize,
    limit: Duration,
    p: &Progress,
) -> anyhow::Result<Vec<Bound>> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let all = machines(client).await?;
        let ready = all.iter().filter(|m| m.ready).count();
        let line = format!("{ready}/{want} machines bound");
        if line != last {
            p.step(&line);
            last = line;
        }
        if ready >= want {
            return Ok(all);
        }
        if start.elapsed() > limit {
            bail!("only {ready} of {want} machines bound after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
