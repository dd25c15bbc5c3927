//! The committed manifests in `deploy/crds/` are exactly what the code generates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

#[test]
fn deploy_crds_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let crds = sidero_api::crds::all();
    assert_eq!(crds.len(), 7);
    let mut names = Vec::new();
    for crd in &crds {
        let name = sidero_api::crds::file_name(crd);
        let committed = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}; run `cargo run -p sidero-api --bin crdgen`"));
        let generated = sidero_api::crds::to_yaml(crd).unwrap();
        assert!(
            committed == generated,
            "deploy/crds/{name} differs from the code; run `cargo run -p sidero-api --bin crdgen`"
        );
        names.push(name);
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(
        on_disk, names,
        "deploy/crds holds exactly the generated files"
    );
}

#[test]
fn crds_carry_the_provider_labels() {
    for crd in sidero_api::crds::all() {
        let labels = crd.metadata.labels.clone().unwrap_or_default();
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert_eq!(
            labels.get("cluster.x-k8s.io/provider").map(String::as_str),
            Some("sidero"),
            "{name}"
        );
        assert_eq!(
            labels.get("cluster.x-k8s.io/v1beta1").map(String::as_str),
            Some("v1alpha3"),
            "{name}"
        );
        let movable = labels.contains_key(sidero_api::crds::MOVE_LABEL);
        assert_eq!(
            movable,
            crd.spec.group == "metal.sidero.dev",
            "{name}: move label"
        );
        let storage: Vec<_> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.storage)
            .map(|v| v.name.as_str())
            .collect();
        let want = if crd.spec.group == "metal.sidero.dev" {
            "v1alpha2"
        } else {
            "v1alpha3"
        };
        assert_eq!(storage, [want], "{name}: storage version");
        assert!(
            crd.spec.versions.iter().all(|v| v.served),
            "{name}: all versions served"
        );
    }
}
