//! The real Cluster API managers (CAPI core, CABPT, CACPPT) against the test control plane:
//! they start and report ready, their CRDs are served with conversion through their webhooks,
//! CAPI and CABPT together turn a Machine into Talos bootstrap data that `talosctl` accepts,
//! and their admission webhooks refuse invalid objects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_testenv::capi::{self, CapiStack};

fn stack() -> &'static CapiStack {
    let t0 = Instant::now();
    let s = capi::shared().expect("CAPI stack starts");
    eprintln!(
        "CAPI stack: started in {:.1}s (this call waited {:.1}s)",
        s.started_in().as_secs_f32(),
        t0.elapsed().as_secs_f32()
    );
    s
}

async fn client() -> Client {
    sidero_testenv::shared().unwrap().client().await.unwrap()
}

fn dynamic(client: &Client, gv: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
    let (group, version) = gv.split_once('/').unwrap();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_ready_and_crds_served_with_conversion() {
    let s = stack();
    assert_eq!(s.managers().len(), 3);
    for m in s.managers() {
        assert!(
            m.ready(),
            "{} not ready:\n{}",
            m.provider().name,
            m.log_tail(20)
        );
    }
    let client = client().await;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut count = 0;
    for provider in ["cluster-api", "bootstrap-talos", "control-plane-talos"] {
        let lp = ListParams::default().labels(&format!("cluster.x-k8s.io/provider={provider}"));
        let list = crds.list(&lp).await.unwrap();
        assert!(!list.items.is_empty(), "no CRDs of {provider}");
        for crd in list.items {
            let established = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            assert!(established, "{:?} not established", crd.metadata.name);
            count += 1;
        }
    }
    // CAPI v1.10.10: 13 CRDs; CABPT: 2; CACPPT: 1.
    assert_eq!(count, 16);

    // The providers' kinds carry the contract label CAPI resolves their versions with.
    for name in [
        "talosconfigs.bootstrap.cluster.x-k8s.io",
        "taloscontrolplanes.controlplane.cluster.x-k8s.io",
    ] {
        let crd = crds.get(name).await.unwrap();
        assert_eq!(
            crd.metadata.labels.unwrap()["cluster.x-k8s.io/v1beta1"],
            "v1alpha3"
        );
    }

    // Conversion goes through CABPT's /convert: a TalosConfig stored as v1alpha3 is read back
    // as v1alpha2 (served, not stored).
    namespace(&client, "capi-convert").await;
    let v3 = dynamic(
        &client,
        "bootstrap.cluster.x-k8s.io/v1alpha3",
        "TalosConfig",
        "capi-convert",
    );
    v3.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "bootstrap.cluster.x-k8s.io/v1alpha3",
            "kind": "TalosConfig",
            "metadata": {"name": "tc"},
            "spec": {"generateType": "join", "talosVersion": "v1.13"},
        })),
    )
    .await
    .unwrap();
    let v2 = dynamic(
        &client,
        "bootstrap.cluster.x-k8s.io/v1alpha2",
        "TalosConfig",
        "capi-convert",
    );
    let back = v2.get("tc").await.unwrap();
    assert_eq!(
        back.types.unwrap().api_version,
        "bootstrap.cluster.x-k8s.io/v1alpha2"
    );
    assert_eq!(back.data["spec"]["generateType"], "join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cabpt_generates_bootstrap_data_that_talosctl_accepts() {
    let _ = stack();
    let client = client().await;
    let ns = "capi-bootstrap";
    namespace(&client, ns).await;
    let pp = PostParams::default();
    let endpoint = json!({"host": "127.0.0.1", "port": 6443});

    // Infrastructure: our MetalCluster, made ready by hand (no CAPS in this test).
    let metal_clusters = dynamic(
        &client,
        "infrastructure.cluster.x-k8s.io/v1alpha3",
        "MetalCluster",
        ns,
    );
    metal_clusters
        .create(
            &pp,
            &obj(json!({
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                "kind": "MetalCluster",
                "metadata": {"name": "c1"},
                "spec": {"controlPlaneEndpoint": endpoint},
            })),
        )
        .await
        .unwrap();
    metal_clusters
        .patch_status(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();

    let clusters = dynamic(&client, "cluster.x-k8s.io/v1beta1", "Cluster", ns);
    clusters
        .create(
            &pp,
            &obj(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta1",
                "kind": "Cluster",
                "metadata": {"name": "c1"},
                "spec": {
                    "controlPlaneEndpoint": endpoint,
                    "infrastructureRef": {
                        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                        "kind": "MetalCluster",
                        "name": "c1",
                    },
                },
            })),
        )
        .await
        .unwrap();
    // CAPI's Cluster controller reads the MetalCluster and marks the infrastructure ready.
    eventually("Cluster status.infrastructureReady", 60, || async {
        let c = clusters.get("c1").await.ok()?;
        (c.data["status"]["infrastructureReady"] == true).then_some(())
    })
    .await;

    dynamic(
        &client,
        "infrastructure.cluster.x-k8s.io/v1alpha3",
        "MetalMachine",
        ns,
    )
    .create(
        &pp,
        &obj(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
            "kind": "MetalMachine",
            "metadata": {"name": "c1-cp-0"},
            "spec": {},
        })),
    )
    .await
    .unwrap();
    let talos_configs = dynamic(
        &client,
        "bootstrap.cluster.x-k8s.io/v1alpha3",
        "TalosConfig",
        ns,
    );
    talos_configs
        .create(
            &pp,
            &obj(json!({
                "apiVersion": "bootstrap.cluster.x-k8s.io/v1alpha3",
                "kind": "TalosConfig",
                "metadata": {"name": "c1-cp-0"},
                // CABPT leaves the install disk to the user (Sidero's cluster template patches
                // it in); Talos 1.13 configs are multi-document, so a strategic merge patch.
                "spec": {
                    "generateType": "controlplane",
                    "talosVersion": "v1.13",
                    "strategicPatches": ["machine:\n  install:\n    disk: /dev/sda\n"],
                },
            })),
        )
        .await
        .unwrap();
    let machines = dynamic(&client, "cluster.x-k8s.io/v1beta1", "Machine", ns);
    machines
        .create(
            &pp,
            &obj(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta1",
                "kind": "Machine",
                "metadata": {
                    "name": "c1-cp-0",
                    "labels": {
                        "cluster.x-k8s.io/cluster-name": "c1",
                        "cluster.x-k8s.io/control-plane": "",
                    },
                },
                "spec": {
                    "clusterName": "c1",
                    "version": "v1.33.13",
                    "bootstrap": {"configRef": {
                        "apiVersion": "bootstrap.cluster.x-k8s.io/v1alpha3",
                        "kind": "TalosConfig",
                        "name": "c1-cp-0",
                    }},
                    "infrastructureRef": {
                        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                        "kind": "MetalMachine",
                        "name": "c1-cp-0",
                    },
                },
            })),
        )
        .await
        .unwrap();

    // CAPI makes the Machine own the TalosConfig; CABPT then renders the machine config into
    // a Secret and reports it; CAPI copies the Secret's name into the Machine.
    let secret_name = eventually("TalosConfig status.dataSecretName", 90, || async {
        let tc = talos_configs.get("c1-cp-0").await.ok()?;
        if tc.data["status"]["ready"] != true {
            return None;
        }
        tc.data["status"]["dataSecretName"]
            .as_str()
            .map(str::to_string)
    })
    .await;
    let tc = talos_configs.get("c1-cp-0").await.unwrap();
    let owners = tc.metadata.owner_references.unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "Machine" && o.name == "c1-cp-0"),
        "{owners:?}"
    );
    eventually("Machine spec.bootstrap.dataSecretName", 60, || async {
        let m = machines.get("c1-cp-0").await.ok()?;
        (m.data["spec"]["bootstrap"]["dataSecretName"] == secret_name.as_str()).then_some(())
    })
    .await;

    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get(&secret_name)
        .await
        .unwrap();
    let value = secret.data.unwrap()["value"].0.clone();
    let config = String::from_utf8(value).unwrap();
    assert!(config.contains("type: controlplane"), "{config}");
    assert!(
        config.contains("https://127.0.0.1:6443"),
        "endpoint missing:\n{config}"
    );
    // CABPT also publishes the cluster's talosconfig (client credentials), in a write of its
    // own that can land after the bootstrap data.
    let secrets = Api::<Secret>::namespaced(client.clone(), ns);
    eventually("the c1-talosconfig Secret", 60, || async {
        secrets.get_opt("c1-talosconfig").await.ok().flatten()
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("controlplane.yaml");
    std::fs::write(&good, &config).unwrap();
    let (ok, out) = talosctl_validate(&good, dir.path());
    assert!(
        ok,
        "talosctl validate refused CABPT's config:\n{out}\n{config}"
    );

    // The same check fails without the install disk, so the pass above means something.
    assert!(
        config.contains("disk: /dev/sda"),
        "patch not applied:\n{config}"
    );
    let broken = dir.path().join("no-disk.yaml");
    std::fs::write(&broken, config.replace("disk: /dev/sda", "")).unwrap();
    let (ok, out) = talosctl_validate(&broken, dir.path());
    assert!(
        !ok && out.contains("install disk"),
        "talosctl validate accepted a config without an install disk:\n{out}"
    );

    // clusterctl of the same CAPI version accepts the management cluster and reads the tree.
    let out = std::process::Command::new(capi::clusterctl().unwrap())
        .args(["describe", "cluster", "c1", "-n", ns, "--kubeconfig"])
        .arg(sidero_testenv::shared().unwrap().kubeconfig())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "clusterctl describe failed:\n{text}");
    assert!(
        text.contains("Cluster/c1") && text.contains("MetalCluster/c1"),
        "{text}"
    );
}

fn talosctl_validate(config: &std::path::Path, home: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(capi::talosctl().unwrap())
        .args(["validate", "--mode", "metal", "--config"])
        .arg(config)
        .env("HOME", home)
        .env("TALOSCONFIG", home.join("talosconfig"))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_webhooks_refuse_invalid_objects() {
    let _ = stack();
    let client = client().await;
    let ns = "capi-webhooks";
    namespace(&client, ns).await;
    let pp = PostParams::default();

    // CAPI: a Cluster may not reference infrastructure in another namespace.
    let err = dynamic(&client, "cluster.x-k8s.io/v1beta1", "Cluster", ns)
        .create(
            &pp,
            &obj(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta1",
                "kind": "Cluster",
                "metadata": {"name": "bad"},
                "spec": {"infrastructureRef": {
                    "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                    "kind": "MetalCluster",
                    "name": "bad",
                    "namespace": "elsewhere",
                }},
            })),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("admission webhook \"validation.cluster.cluster.x-k8s.io\" denied")
            && err.contains("must match metadata.namespace"),
        "{err}"
    );

    // CABPT: an unknown hostname source.
    let err = dynamic(
        &client,
        "bootstrap.cluster.x-k8s.io/v1alpha3",
        "TalosConfig",
        ns,
    )
    .create(
        &pp,
        &obj(json!({
            "apiVersion": "bootstrap.cluster.x-k8s.io/v1alpha3",
            "kind": "TalosConfig",
            "metadata": {"name": "bad"},
            "spec": {"generateType": "join", "hostname": {"source": "Nowhere"}},
        })),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("vtalosconfig.cluster.x-k8s.io") && err.contains("spec.hostname.source"),
        "{err}"
    );

    // CACPPT: defaulting fills in the rollout strategy; validation refuses an unknown one.
    let tcp = |strategy: Option<&str>| {
        let mut spec = json!({
            "version": "v1.33.13",
            "replicas": 1,
            "infrastructureTemplate": {
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                "kind": "MetalMachineTemplate",
                "name": "cp",
            },
            "controlPlaneConfig": {"controlplane": {"generateType": "controlplane"}},
        });
        if let Some(s) = strategy {
            spec["rolloutStrategy"] = json!({"type": s});
        }
        obj(json!({
            "apiVersion": "controlplane.cluster.x-k8s.io/v1alpha3",
            "kind": "TalosControlPlane",
            "metadata": {"name": "tcp"},
            "spec": spec,
        }))
    };
    let tcps = dynamic(
        &client,
        "controlplane.cluster.x-k8s.io/v1alpha3",
        "TalosControlPlane",
        ns,
    );
    let err = tcps
        .create(&pp, &tcp(Some("Sideways")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("validate.taloscontrolplane.controlplane.cluster.x-k8s.io")
            && err.contains("spec.rolloutStrategy"),
        "{err}"
    );
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let created = tcps.create(&dry, &tcp(Some(""))).await.unwrap();
    assert_eq!(
        created.data["spec"]["rolloutStrategy"]["type"],
        "RollingUpdate"
    );
}

#[test]
fn a_private_stack_stops_its_managers_on_drop() {
    let cp = sidero_testenv::start_with_crds().unwrap();
    let s = CapiStack::start(&cp).unwrap();
    let pids: Vec<u32> = s.managers().iter().map(|m| m.pid().unwrap()).collect();
    let dir = s.dir().to_path_buf();
    assert!(pids.iter().all(|p| alive(*p)));
    drop(s);
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "a manager outlived its stack"
    );
    assert!(!dir.exists(), "stack folder removed");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}
