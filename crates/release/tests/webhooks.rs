//! The webhooks served by the manager binaries, called by a real kube-apiserver: the bundle's
//! seven CRDs and two validating webhook configurations, routed to the managers' loopback
//! ports with the harness CA in `caBundle`, make v1alpha1 Servers and v1alpha2 MetalMachines
//! read back losslessly as the storage versions (and back), and reject invalid Servers and
//! MetalMachineTemplate spec changes with upstream's messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;

use common::managers::{self, Certs, Ports, Proc};
use common::through_api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_serve_conversion_and_validation_to_the_api_server() {
    let (sidero_bin, caps_bin) = tokio::task::spawn_blocking(managers::binaries)
        .await
        .unwrap();
    let cp = tokio::task::spawn_blocking(sidero_testenv::ControlPlane::start)
        .await
        .unwrap()
        .unwrap();
    let client = cp.client().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path());
    let ports = Ports::free();

    // The CRDs as released, conversion routed to loopback.
    let crds: Vec<CustomResourceDefinition> = sidero_release::webhooks::crds()
        .unwrap()
        .iter()
        .map(|c| {
            serde_json::from_value(managers::to_loopback(c, ports, &certs.ca_bundle())).unwrap()
        })
        .collect();
    sidero_testenv::crds::install(&client, &crds).await.unwrap();

    let http = managers::free_port();
    let sidero = managers::sidero_overrides(
        cp.kubeconfig(),
        tmp.path(),
        &certs.cert_dir("sidero"),
        ports,
        http,
    );
    let args = managers::override_args(&[], &managers::as_refs(&sidero));
    let mut scm = Proc::spawn(
        "sidero-controller-manager",
        &sidero_bin,
        &args,
        &[("API_ENDPOINT", "127.0.0.1")],
        tmp.path(),
    );
    let health = managers::free_port();
    let caps = managers::caps_overrides(cp.kubeconfig(), &certs.cert_dir("caps"), ports, health);
    let args = managers::override_args(&[], &managers::as_refs(&caps));
    let mut capm = Proc::spawn("caps-controller-manager", &caps_bin, &args, &[], tmp.path());
    scm.wait_for("serving webhooks", || managers::listening(ports.sidero));
    capm.wait_for("serving webhooks", || managers::listening(ports.caps));
    capm.wait_for("ready", || {
        managers::http_status(health, "/readyz") == Some(200)
    });

    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for v in sidero_release::webhooks::validating() {
        let v = managers::to_loopback(&v, ports, &certs.ca_bundle());
        vwcs.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
            .await
            .unwrap();
    }

    through_api::wait_until_webhooks_answer(&client).await;
    through_api::conversions_are_lossless(&client, "a").await;
    through_api::validation_rejects_as_upstream(&client, "a").await;
    assert!(
        scm.log_text().contains("serving webhooks"),
        "{}",
        scm.log_text()
    );
}
