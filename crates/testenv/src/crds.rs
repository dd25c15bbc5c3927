//! Installs CRD manifests and waits until the API server serves them.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};

use crate::Error;

/// Reads every CRD in the `*.yaml` files of `dir` (multi-document files allowed), in file-name
/// order.
pub fn read_dir(dir: &Path) -> Result<Vec<CustomResourceDefinition>, Error> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Error::io(format!("reading {}", f.display()), e))?;
        let docs: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&text)
            .map_err(|e| Error::Manifest(format!("{}: {e}", f.display())))?;
        crds.extend(docs);
    }
    Ok(crds)
}

/// Applies `crds` (server-side apply, field manager `sidero-testenv`) and waits until each is
/// `Established` and its resources are in discovery.
pub async fn install(client: &Client, crds: &[CustomResourceDefinition]) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("sidero-testenv").force();
    for crd in crds {
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| Error::Manifest("a CRD without metadata.name".into()))?;
        api.patch(&name, &pp, &Patch::Apply(crd))
            .await
            .map_err(|e| Error::Kube(format!("applying CRD {name}: {e}")))?;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .map_err(|_| Error::Kube(format!("CRD {name} not established within 30s")))?
            .map_err(|e| Error::Kube(format!("waiting for CRD {name}: {e}")))?;
    }
    wait_discovery(client, crds).await
}

/// Waits until every served version of every CRD is listed in discovery, since a CRD can be
/// `Established` a moment before clients can use it.
async fn wait_discovery(client: &Client, crds: &[CustomResourceDefinition]) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for crd in crds {
        let group = &crd.spec.group;
        let plural = &crd.spec.names.plural;
        for v in crd.spec.versions.iter().filter(|v| v.served) {
            let gv = format!("{group}/{}", v.name);
            loop {
                let found = client
                    .list_api_group_resources(&gv)
                    .await
                    .map(|l| l.resources.iter().any(|r| &r.name == plural))
                    .unwrap_or(false);
                if found {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::Kube(format!(
                        "{plural}.{gv} never appeared in discovery"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(())
}
