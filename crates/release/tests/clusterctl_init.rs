//! `clusterctl init --infrastructure sidero -b talos -c talos` (clusterctl v1.10.10 from its Go
//! module) installs our release into a real kube-apiserver, with no network at all: the test
//! control plane, clusterctl, both managers and this test's client all run inside a network
//! namespace that has nothing but loopback, so any attempt to reach GitHub, a registry, or a
//! Service IP fails instead of leaving the machine.
//!
//! Every provider comes from a `file://` repository named in a clusterctl config file: ours
//! (`sidero-release` output) and CAPI core, CABPT and CACPPT built from the CRDs of their Go
//! modules. cert-manager is taken as installed: its CRDs are there, so clusterctl's own check
//! (create a test Issuer and Certificate) passes and it skips installing it.
//!
//! Nothing runs the Deployments (no kubelet), so the test checks what clusterctl installed,
//! then does what the cluster would: issues the webhook certificates into the Secrets the
//! Deployments mount (cert-manager), points the webhooks at the managers with the CA bundle
//! (cainjector; loopback URLs instead of the Services, which have no endpoints here), "mounts"
//! the Secrets into folders, and runs the manager binaries with their Deployment's args (plus
//! loopback listeners and folders). Both become ready, and the API server converts and
//! validates through them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use sidero_testenv::capi::repository;

use common::managers::{self, Certs, Ports, Proc};
use common::{VERSION, through_api, written};

const NS: &str = "sidero-system";

fn clusterctl_init(bin: &Path, home: &Path, config: &Path, kubeconfig: &Path) -> String {
    let out = Command::new(bin)
        .args([
            "init",
            "--core",
            &format!("cluster-api:{}", sidero_testenv::capi::CAPI_VERSION),
            "--bootstrap",
            &format!("talos:{}", sidero_testenv::capi::CABPT_VERSION),
            "--control-plane",
            &format!("talos:{}", sidero_testenv::capi::CACPPT_VERSION),
            "--infrastructure",
            &format!("sidero:{VERSION}"),
            "--config",
        ])
        .arg(config)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "clusterctl init failed:\n{text}");
    text
}

/// The `manager` container's args of a Deployment as installed.
fn manager_args(d: &Deployment) -> Vec<String> {
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let c = pod.containers.iter().find(|c| c.name == "manager").unwrap();
    c.args.clone().unwrap_or_default()
}

/// cert-manager's part: the serving certificates as `kubernetes.io/tls` Secrets.
async fn issue(client: &Client, certs: &Certs) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    for prefix in ["sidero", "caps"] {
        let dir = certs.cert_dir(prefix);
        let file = |f: &str| ByteString(std::fs::read(dir.join(f)).unwrap());
        let data = BTreeMap::from([
            ("tls.crt".to_string(), file("tls.crt")),
            ("tls.key".to_string(), file("tls.key")),
            (
                "ca.crt".to_string(),
                ByteString(certs.ca.cert.clone().into_bytes()),
            ),
        ]);
        let s = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("{prefix}-webhook-service-cert")),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data),
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
}

/// The kubelet's part: the Secret a Deployment mounts at the webhook cert dir, as files.
async fn mount(client: &Client, deployment: &Deployment, into: &Path) {
    let pod = deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let c = pod.containers.iter().find(|c| c.name == "manager").unwrap();
    let vm = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == "/tmp/k8s-webhook-server/serving-certs")
        .expect("the webhook cert dir is mounted");
    let vol = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == vm.name)
        .unwrap();
    let secret_name = vol.secret.as_ref().unwrap().secret_name.clone().unwrap();
    let s = Api::<Secret>::namespaced(client.clone(), NS)
        .get(&secret_name)
        .await
        .unwrap();
    std::fs::create_dir_all(into).unwrap();
    for (k, v) in s.data.unwrap() {
        std::fs::write(into.join(k), v.0).unwrap();
    }
}

/// cainjector's part, with loopback URLs in place of the Services: every CRD conversion and
/// validating webhook of ours called at the managers' ports with the CA bundle.
async fn wire_webhooks(client: &Client, ports: Ports, ca_bundle: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut n = 0;
    for crd in crds.list(&ListParams::default()).await.unwrap() {
        if crd
            .labels()
            .get("cluster.x-k8s.io/provider")
            .map(String::as_str)
            != Some("infrastructure-sidero")
        {
            continue;
        }
        let v = managers::to_loopback(&serde_json::to_value(&crd).unwrap(), ports, ca_bundle);
        let patched: CustomResourceDefinition = serde_json::from_value(v).unwrap();
        crds.replace(&crd.name_any(), &PostParams::default(), &patched)
            .await
            .unwrap();
        n += 1;
    }
    assert_eq!(n, 7, "seven CRDs carry our provider label");
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [
        "sidero-validating-webhook-configuration",
        "caps-validating-webhook-configuration",
    ] {
        let v = vwcs.get(name).await.unwrap();
        let v = managers::to_loopback(&serde_json::to_value(&v).unwrap(), ports, ca_bundle);
        vwcs.replace(
            name,
            &PostParams::default(),
            &serde_json::from_value(v).unwrap(),
        )
        .await
        .unwrap();
    }
}

/// What clusterctl installed: the inventory, our objects with their labels, defaults rendered.
async fn assert_installed(client: &Client) -> (Deployment, Deployment) {
    let providers = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("clusterctl.cluster.x-k8s.io", "v1alpha3", "Provider"),
        "providers",
    );
    let inventory: Vec<(String, String, String)> =
        Api::<DynamicObject>::all_with(client.clone(), &providers)
            .list(&ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .map(|p| {
                let v = serde_json::to_value(&p).unwrap();
                (
                    p.namespace().unwrap_or_default(),
                    p.name_any(),
                    v["version"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
    for want in [
        (NS, "infrastructure-sidero", VERSION),
        (
            "capi-system",
            "cluster-api",
            sidero_testenv::capi::CAPI_VERSION,
        ),
        (
            "cabpt-system",
            "bootstrap-talos",
            sidero_testenv::capi::CABPT_VERSION,
        ),
        (
            "cacppt-system",
            "control-plane-talos",
            sidero_testenv::capi::CACPPT_VERSION,
        ),
    ] {
        assert!(
            inventory
                .iter()
                .any(|(ns, n, v)| (ns.as_str(), n.as_str(), v.as_str()) == want),
            "{want:?} not in the inventory {inventory:?}"
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let scm = deployments.get("sidero-controller-manager").await.unwrap();
    let caps = deployments.get("caps-controller-manager").await.unwrap();
    for d in [&scm, &caps] {
        assert_eq!(
            d.labels()
                .get("cluster.x-k8s.io/provider")
                .map(String::as_str),
            Some("infrastructure-sidero")
        );
        let args = manager_args(d);
        assert!(args.iter().all(|a| !a.contains("${")), "{args:?}");
        assert!(
            args.iter().any(|a| a == "--enable-leader-election"),
            "{args:?}"
        );
    }
    let args = manager_args(&scm);
    for want in [
        "--api-endpoint=-",
        "--ipmi-pxe-method=uefi",
        "--server-reboot-timeout=20m",
        "--auto-accept-servers=false",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:?}");
    }
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    for s in [
        "sidero-webhook-service",
        "caps-webhook-service",
        "sidero-http",
        "sidero-tftp",
        "sidero-dhcp",
        "sidero-siderolink",
    ] {
        services
            .get(s)
            .await
            .unwrap_or_else(|e| panic!("Service {s}: {e}"));
    }
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [
        "sidero-validating-webhook-configuration",
        "caps-validating-webhook-configuration",
    ] {
        let v = vwcs.get(name).await.unwrap();
        let svc = v.webhooks.unwrap()[0]
            .client_config
            .service
            .clone()
            .unwrap();
        assert_eq!(
            svc.namespace, NS,
            "clusterctl installs the Service form, as released"
        );
    }
    let certs = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
        "certificates",
    );
    let names: Vec<String> = Api::<DynamicObject>::namespaced_with(client.clone(), NS, &certs)
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    (scm, caps)
}

#[test]
fn clusterctl_init_installs_the_release_and_both_managers_become_ready() {
    // Everything that may need the network (building peers and binaries) happens first.
    let clusterctl = sidero_testenv::capi::clusterctl().unwrap();
    let (sidero_bin, caps_bin) = managers::binaries();
    let (tmp, release) = written();
    let repos = tmp.path().join("repos");
    let mut config = format!("providers:\n{}", repository::write_all(&repos).unwrap());
    config.push_str(&format!(
        "  - name: sidero\n    url: file://{}\n    type: InfrastructureProvider\n",
        release.join("infrastructure-components.yaml").display()
    ));
    let config_path = tmp.path().join("clusterctl.yaml");
    std::fs::write(&config_path, &config).unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let ns = sidero_testenv::netns::Netns::create(&format!("sidero-cctl-{}", std::process::id()))
        .unwrap();
    ns.run(|| {
        let cp = sidero_testenv::ControlPlane::start().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = cp.client().await.unwrap();
            let cm: Vec<CustomResourceDefinition> = repository::cert_manager_crds()
                .into_iter()
                .map(|c| serde_json::from_value(c).unwrap())
                .collect();
            sidero_testenv::crds::install(&client, &cm).await.unwrap();

            let out = clusterctl_init(&clusterctl, &home, &config_path, cp.kubeconfig());
            println!("{out}");
            assert!(
                out.contains("Skipping installing cert-manager as it is already installed"),
                "{out}"
            );
            assert!(
                out.contains("Installing provider=\"infrastructure-sidero\""),
                "{out}"
            );
            let (scm, caps) = assert_installed(&client).await;

            let certs = Certs::new(&tmp.path().join("issued"));
            issue(&client, &certs).await;
            let ports = Ports::free();
            wire_webhooks(&client, ports, &certs.ca_bundle()).await;
            let mounts = tmp.path().join("mounts");
            mount(&client, &scm, &mounts.join("sidero")).await;
            mount(&client, &caps, &mounts.join("caps")).await;

            let http = managers::free_port();
            let o = managers::sidero_overrides(
                cp.kubeconfig(),
                tmp.path(),
                &mounts.join("sidero"),
                ports,
                http,
            );
            let args = managers::override_args(&manager_args(&scm), &managers::as_refs(&o));
            println!("sidero-controller-manager {}", args.join(" "));
            // The pod gets API_ENDPOINT from status.hostIP (the manifest's fieldRef).
            let mut scm_proc = Proc::spawn(
                "sidero-controller-manager",
                &sidero_bin,
                &args,
                &[("API_ENDPOINT", "127.0.0.1")],
                tmp.path(),
            );
            let health = managers::free_port();
            let o = managers::caps_overrides(cp.kubeconfig(), &mounts.join("caps"), ports, health);
            let args = managers::override_args(&manager_args(&caps), &managers::as_refs(&o));
            println!("caps-controller-manager {}", args.join(" "));
            let mut caps_proc =
                Proc::spawn("caps-controller-manager", &caps_bin, &args, &[], tmp.path());

            // Readiness as the Deployments probe it: upstream's sidero readyz is a GET of
            // /boot.ipxe on the HTTP port; caps answers /readyz. Then the webhooks.
            scm_proc.wait_for("serving /boot.ipxe", || {
                managers::http_status(http, "/boot.ipxe") == Some(200)
            });
            scm_proc.wait_for("serving webhooks", || managers::listening(ports.sidero));
            caps_proc.wait_for("ready", || {
                managers::http_status(health, "/readyz") == Some(200)
            });
            caps_proc.wait_for("serving webhooks", || managers::listening(ports.caps));

            through_api::wait_until_webhooks_answer(&client).await;
            through_api::conversions_are_lossless(&client, "cctl").await;
            through_api::validation_rejects_as_upstream(&client, "cctl").await;
        });
        drop(cp);
    })
    .unwrap();
}
