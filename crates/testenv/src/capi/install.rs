//! Installs the providers' CRDs and webhook configurations, and checks that the API server
//! really calls the webhooks (it loads configurations asynchronously).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::manifests::{self, CrdLabels, Endpoint, WebhookConfigs};
use crate::{Error, controlplane, crds};

/// What to install for one provider.
pub(super) struct Plan {
    pub name: &'static str,
    pub labels: CrdLabels,
    /// The wrapper's copied `config/` tree (`crd/bases`, `webhook/manifests.yaml`).
    pub config: PathBuf,
    pub endpoint: Endpoint,
}

const FIELD_MANAGER: &str = "sidero-testenv";

/// Runs `f` on a runtime of its own on a thread of its own: callers may or may not be inside
/// a runtime, and a client's connection pool is bound to the runtime that made it.
fn run<T, F, Fut>(kubeconfig: &Path, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>>,
{
    let kubeconfig = kubeconfig.to_path_buf();
    std::thread::spawn(move || -> Result<T, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("building a runtime", e))?;
        rt.block_on(async move { f(controlplane::client_from(&kubeconfig).await?).await })
    })
    .join()
    .map_err(|_| Error::Process("CAPI install thread panicked".into()))?
}

/// Reads, patches and installs every provider's CRDs; waits until they are served.
pub(super) fn crds(kubeconfig: &Path, plan: &[Plan]) -> Result<(), Error> {
    let mut all = Vec::new();
    for p in plan {
        let mut crds = crds::read_dir(&p.config.join("config/crd/bases"))?;
        for c in &mut crds {
            manifests::patch_crd(c, &p.labels, &p.endpoint);
        }
        all.extend(crds);
    }
    run(kubeconfig, move |client| async move {
        crds::install(&client, &all).await
    })
}

/// Installs every provider's webhook configurations: all mutating ones, then the validating
/// ones, CAPI's last (its validating configuration is what [`wait_webhooks_called`] probes).
pub(super) fn webhooks(kubeconfig: &Path, plan: &[Plan]) -> Result<(), Error> {
    let mut configs = WebhookConfigs::default();
    for p in plan {
        let mut c = manifests::read_webhooks(&p.config.join("config/webhook/manifests.yaml"))?;
        manifests::patch_webhooks(&mut c, p.name, &p.endpoint);
        configs.mutating.extend(c.mutating);
        configs.validating.splice(0..0, c.validating);
    }
    run(kubeconfig, move |client| async move {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        for c in &configs.mutating {
            let name = c.metadata.name.clone().unwrap_or_default();
            mutating
                .patch(&name, &pp, &Patch::Apply(c))
                .await
                .map_err(|e| Error::Kube(format!("applying {name}: {e}")))?;
        }
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(client);
        for c in &configs.validating {
            let name = c.metadata.name.clone().unwrap_or_default();
            validating
                .patch(&name, &pp, &Patch::Apply(c))
                .await
                .map_err(|e| Error::Kube(format!("applying {name}: {e}")))?;
        }
        Ok(())
    })
}

/// Dry-run creates of a Cluster until the API server has loaded both CAPI configurations:
/// the defaulting webhook fills in the namespace of `spec.infrastructureRef`, and the
/// validating one refuses a reference into another namespace.
pub(super) fn wait_webhooks_called(kubeconfig: &Path, deadline: Instant) -> Result<(), Error> {
    run(kubeconfig, move |client| async move {
        let gvk = GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", "Cluster");
        let clusters: Api<DynamicObject> =
            Api::namespaced_with(client, "default", &ApiResource::from_gvk(&gvk));
        let dry = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let probe = |ns: Option<&str>| -> Result<DynamicObject, Error> {
            let mut r = json!({
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                "kind": "MetalCluster",
                "name": "testenv-webhook-probe",
            });
            if let Some(ns) = ns {
                r["namespace"] = json!(ns);
            }
            serde_json::from_value(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta1",
                "kind": "Cluster",
                "metadata": {"name": "testenv-webhook-probe", "namespace": "default"},
                "spec": {"infrastructureRef": r},
            }))
            .map_err(|e| Error::Manifest(e.to_string()))
        };
        let (mut defaulted, mut validated) = (false, false);
        let mut last = String::new();
        while !(defaulted && validated) {
            if Instant::now() > deadline {
                return Err(Error::Kube(format!(
                    "CAPI webhooks not called (defaulting={defaulted}, validation={validated}): {last}"
                )));
            }
            if !defaulted {
                match clusters.create(&dry, &probe(None)?).await {
                    Ok(c) => {
                        defaulted = c.data["spec"]["infrastructureRef"]["namespace"] == "default";
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            if !validated {
                match clusters.create(&dry, &probe(Some("elsewhere"))?).await {
                    Ok(_) => {}
                    Err(e) => {
                        last = e.to_string();
                        validated = last.contains("validation.cluster.cluster.x-k8s.io");
                    }
                }
            }
            if !(defaulted && validated) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    })
}
