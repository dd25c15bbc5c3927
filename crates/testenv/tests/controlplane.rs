//! The test control plane itself: real etcd + kube-apiserver, reachable with the admin
//! kubeconfig, reporting the version CAPI needs, and gone after drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use sidero_testenv::{ControlPlane, KUBERNETES_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_serves_and_stops() {
    let cp = ControlPlane::start().expect("control plane starts");
    let client = cp.client().await.unwrap();

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, KUBERNETES_VERSION);

    // Data goes through to etcd and back.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("probe".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let back = cms.get("probe").await.unwrap();
    assert_eq!(back.data.unwrap()["k"], "v");

    // An unprivileged user is authenticated but not authorized (RBAC is on).
    let path = cp.user_kubeconfig("nobody", None).unwrap();
    let nobody = sidero_testenv::controlplane::client_from(&path)
        .await
        .unwrap();
    let err = Api::<ConfigMap>::namespaced(nobody, "default")
        .get("probe")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("forbidden"), "{err}");

    let (etcd, api) = cp.pids();
    let (etcd, api) = (etcd.unwrap(), api.unwrap());
    let dir = cp.dir().to_path_buf();
    drop(cp);
    assert!(!std::path::Path::new(&format!("/proc/{api}")).exists() || zombie(api));
    assert!(!std::path::Path::new(&format!("/proc/{etcd}")).exists() || zombie(etcd));
    assert!(!dir.exists(), "control plane folder removed");
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}
