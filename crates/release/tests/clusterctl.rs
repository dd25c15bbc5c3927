//! clusterctl v1.10.10 (built from its Go module) reads the release offline: it lists and
//! renders the variables of the cluster template and of the components from a clusterctl
//! config file, and uses the folder as the `sidero` provider repository (`generate provider`
//! reads metadata.yaml and the components as `clusterctl init` would; `clusterctl init` itself
//! runs in `clusterctl_init.rs`, against an API server). Every run is inside a fresh network namespace with no interfaces up
//! (`unshare -n`), with a temp HOME and the version check off, so a network call would fail
//! the test instead of leaving the machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{docs, find, written};
use serde_json::Value;
use sidero_release::vars::VARIABLES;

fn run(home: &Path, args: &[&str]) -> std::process::Output {
    let bin = sidero_testenv::capi::clusterctl().unwrap();
    Command::new("unshare")
        .arg("-n")
        .arg(&bin)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .output()
        .unwrap()
}

fn clusterctl(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "clusterctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Variable names listed by `--list-variables` (lines `  - NAME` or `NAME  default`).
fn listed(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .map(|l| l.trim_start_matches("- "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| {
            w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && w.len() > 3
        })
        .map(str::to_string)
        .collect()
}

const TEMPLATE_VARS: &[&str] = &[
    "CLUSTER_NAME",
    "CONTROL_PLANE_ENDPOINT",
    "CONTROL_PLANE_MACHINE_COUNT",
    "CONTROL_PLANE_PORT",
    "CONTROL_PLANE_SERVERCLASS",
    "KUBERNETES_VERSION",
    "TALOS_VERSION",
    "WORKER_MACHINE_COUNT",
    "WORKER_SERVERCLASS",
];

#[test]
fn generate_cluster_lists_and_renders_the_template_variables() {
    let (tmp, dir) = written();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let template = dir.join("cluster-template.yaml");
    let t = template.to_str().unwrap();
    let out = clusterctl(
        &home,
        &[
            "generate",
            "cluster",
            "e2e",
            "--from",
            t,
            "--target-namespace",
            "default",
            "--list-variables",
        ],
    );
    let mut got = listed(&out);
    got.sort();
    got.dedup();
    for v in TEMPLATE_VARS {
        assert!(got.iter().any(|g| g == v), "{v} missing in:\n{out}");
    }
    // The counts and the cluster name come from flags with defaults; the rest is required.
    let required = out.split("Optional Variables:").next().unwrap_or_default();
    let mut required = listed(required);
    required.sort();
    assert_eq!(
        required,
        [
            "CONTROL_PLANE_ENDPOINT",
            "CONTROL_PLANE_PORT",
            "CONTROL_PLANE_SERVERCLASS",
            "KUBERNETES_VERSION",
            "TALOS_VERSION",
            "WORKER_SERVERCLASS"
        ],
        "{out}"
    );

    let config = home.join("clusterctl.yaml");
    std::fs::write(
        &config,
        "CONTROL_PLANE_ENDPOINT: 10.5.0.10\nCONTROL_PLANE_PORT: \"6443\"\n\
         CONTROL_PLANE_SERVERCLASS: cp-class\nWORKER_SERVERCLASS: worker-class\n\
         KUBERNETES_VERSION: v1.33.1\nTALOS_VERSION: v1.10\n\
         CONTROL_PLANE_MACHINE_COUNT: \"3\"\nWORKER_MACHINE_COUNT: \"2\"\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let out = clusterctl(
        &home,
        &[
            "generate",
            "cluster",
            "e2e",
            "--from",
            t,
            "--config",
            c,
            "--target-namespace",
            "default",
        ],
    );
    assert!(!out.contains("${"), "{out}");
    let objs = docs(&out);
    assert_eq!(
        find(&objs, "MetalCluster", "e2e")["spec"]["controlPlaneEndpoint"]["host"],
        "10.5.0.10"
    );
    assert_eq!(
        find(&objs, "MetalCluster", "e2e")["spec"]["controlPlaneEndpoint"]["port"],
        6443
    );
    assert_eq!(
        find(&objs, "MetalMachineTemplate", "e2e-cp")["spec"]["template"]["spec"]["serverClassRef"]
            ["name"],
        "cp-class"
    );
    assert_eq!(
        find(&objs, "MetalMachineTemplate", "e2e-workers")["spec"]["template"]["spec"]["serverClassRef"]
            ["name"],
        "worker-class"
    );
    assert_eq!(
        find(&objs, "MachineDeployment", "e2e-workers")["spec"]["replicas"],
        2
    );
    println!("rendered {} objects from the template", objs.len());
}

#[test]
fn generate_yaml_lists_and_renders_the_component_variables() {
    let (tmp, dir) = written();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let comps = dir.join("infrastructure-components.yaml");
    let p = comps.to_str().unwrap();
    let out = clusterctl(
        &home,
        &["generate", "yaml", "--from", p, "--list-variables"],
    );
    let got = listed(&out);
    for (v, _) in VARIABLES {
        assert!(got.iter().any(|g| g == v), "{v} missing in:\n{out}");
    }

    let config = home.join("clusterctl.yaml");
    std::fs::write(
        &config,
        "SIDERO_CONTROLLER_MANAGER_HOST_NETWORK: \"true\"\n\
         SIDERO_CONTROLLER_MANAGER_DEPLOYMENT_STRATEGY: Recreate\n\
         SIDERO_CONTROLLER_MANAGER_API_ENDPOINT: 192.0.2.10\n\
         SIDERO_CONTROLLER_MANAGER_API_PORT: \"9081\"\n\
         SIDERO_CONTROLLER_MANAGER_CONTAINER_API_PORT: \"9081\"\n",
    )
    .unwrap();
    let out = clusterctl(
        &home,
        &[
            "generate",
            "yaml",
            "--from",
            p,
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(
        !out.contains("${"),
        "every variable has a value or a default"
    );
    let objs = docs(&out);
    let scm = find(&objs, "Deployment", "sidero-controller-manager");
    let pod = &scm["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], Value::Bool(true));
    assert_eq!(scm["spec"]["strategy"]["type"], "Recreate");
    let args = pod["containers"][0]["args"].as_array().unwrap();
    assert!(args.iter().any(|a| a == "--api-endpoint=192.0.2.10"));
    assert!(args.iter().any(|a| a == "--http-port=9081"));
    assert!(
        args.iter().any(|a| a == "--ipmi-pxe-method=uefi"),
        "defaults fill the rest"
    );
    // clusterctl's own envsubst keeps defaults with `/`, `:` and `,` whole.
    for want in [
        "--talos-assets-base=https://github.com/siderolabs/talos/releases/download",
        "--ipmi-cipher-suites=17,3",
        "--dhcp-ipxe-clients=http-script",
        "--ipxe-arm64-dir=-",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:?}");
    }
    assert_eq!(
        find(&objs, "Service", "sidero-http")["spec"]["ports"][0]["port"],
        9081
    );
    println!("clusterctl listed {} component variables", VARIABLES.len());
}

/// A clusterctl config naming our folder as the `sidero` infrastructure provider.
fn provider_config(home: &Path, components: &Path, extra: &str) -> String {
    let config = home.join("providers.yaml");
    std::fs::write(
        &config,
        format!(
            "providers:\n  - name: sidero\n    url: file://{}\n    type: InfrastructureProvider\n{extra}",
            components.display()
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_string()
}

#[test]
fn the_folder_works_as_a_provider_repository() {
    let (tmp, dir) = written();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = provider_config(
        &home,
        &dir.join("infrastructure-components.yaml"),
        "SIDERO_CONTROLLER_MANAGER_HOST_NETWORK: \"true\"\n",
    );
    // What `clusterctl init` would install, read from the folder through metadata.yaml.
    let out = clusterctl(
        &home,
        &[
            "generate",
            "provider",
            "--infrastructure",
            "sidero:v0.7.0",
            "--config",
            &config,
        ],
    );
    let objs = docs(&out);
    let count = |k: &str| objs.iter().filter(|o| o["kind"] == k).count();
    assert_eq!(
        (count("CustomResourceDefinition"), count("Deployment")),
        (7, 2)
    );
    for o in &objs {
        assert_eq!(
            o["metadata"]["labels"]["cluster.x-k8s.io/provider"], "infrastructure-sidero",
            "clusterctl labels every object as the provider's"
        );
    }
    let scm = find(&objs, "Deployment", "sidero-controller-manager");
    assert_eq!(
        scm["spec"]["template"]["spec"]["hostNetwork"],
        Value::Bool(true)
    );
    // The cluster template comes from the same folder.
    let out = clusterctl(
        &home,
        &[
            "generate",
            "cluster",
            "e2e",
            "--infrastructure",
            "sidero:v0.7.0",
            "--config",
            &config,
            "--target-namespace",
            "default",
            "--list-variables",
        ],
    );
    assert!(out.contains("CONTROL_PLANE_SERVERCLASS"), "{out}");

    // The same files published as a v0.4 release map to contract v1alpha4: refused.
    let old = tmp.path().join("infrastructure-sidero/v0.4.0");
    std::fs::create_dir_all(&old).unwrap();
    for f in [
        "infrastructure-components.yaml",
        "metadata.yaml",
        "cluster-template.yaml",
    ] {
        std::fs::copy(dir.join(f), old.join(f)).unwrap();
    }
    let config = provider_config(&home, &old.join("infrastructure-components.yaml"), "");
    let out = run(
        &home,
        &[
            "generate",
            "provider",
            "--infrastructure",
            "sidero:v0.4.0",
            "--config",
            &config,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("v1alpha4"), "{err}");
}
