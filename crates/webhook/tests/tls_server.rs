//! The webhook server over real TLS on loopback: reviews answered on upstream's paths, and a
//! rotated certificate served without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde_json::{Value, json};
use sidero_testenv::certs::Ca;
use sidero_webhook::{Role, WebhookServer};

fn write_pair(dir: &Path, ca: &Ca) {
    let leaf = ca.serving(&[]).unwrap();
    // Write the key first, as a rotation does file by file: the server must cope with a
    // moment where the pair does not match.
    std::fs::write(dir.join("tls.key"), &leaf.key).unwrap();
    std::fs::write(dir.join("tls.crt"), &leaf.cert).unwrap();
}

fn client(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert.as_bytes()).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

async fn start(role: Role, dir: &Path) -> SocketAddr {
    let server = WebhookServer::bind(role, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), dir)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    addr
}

#[tokio::test]
async fn answers_reviews_over_tls_and_picks_up_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca1 = Ca::new("webhook-ca-1").unwrap();
    write_pair(dir.path(), &ca1);
    let addr = start(Role::Sidero, dir.path()).await;
    let base = format!("https://127.0.0.1:{}", addr.port());

    let review = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": "u", "desiredAPIVersion": "metal.sidero.dev/v1alpha2", "objects": [{
            "apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Server",
            "metadata": {"name": "s"}, "spec": {"accepted": false, "cpu": {"version": "EPYC"}}}]},
    });
    let resp = client(&ca1)
        .post(format!("{base}/convert"))
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["response"]["convertedObjects"][0]["spec"]["hardware"]["compute"]["processors"][0]["productName"],
        "EPYC"
    );

    let admission = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "a", "operation": "CREATE",
            "object": {"metadata": {"name": "s"}, "spec": {"pxeMode": "floppy"}}},
    });
    for path in [
        "/validate-metal-sidero-dev-v1alpha2-server",
        "/validate-metal-sidero-dev-v1alpha1-server",
    ] {
        let v: Value = client(&ca1)
            .post(format!("{base}{path}"))
            .json(&admission)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["response"]["allowed"], false, "{path}");
        assert!(
            v["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains(r#"spec.pxeMode: Invalid value: "floppy""#)
        );
    }
    // The CAPS path is not served by sidero-controller-manager, and garbage is a 400.
    let r = client(&ca1)
        .post(format!(
            "{base}/validate-infrastructure-cluster-x-k8s-io-v1alpha3-metalmachinetemplate"
        ))
        .json(&admission)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client(&ca1)
        .post(format!("{base}/convert"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // cert-manager renews: a new pair (from another CA, so the change is observable).
    let ca2 = Ca::new("webhook-ca-2").unwrap();
    // Make sure the modification time moves even on coarse-grained file systems.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_pair(dir.path(), &ca2);
    let ok = client(&ca2)
        .post(format!("{base}/convert"))
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let old = client(&ca1)
        .post(format!("{base}/convert"))
        .json(&review)
        .send()
        .await;
    assert!(
        old.is_err(),
        "the old CA no longer verifies the served certificate"
    );
}

#[tokio::test]
async fn caps_serves_the_template_webhook_and_infra_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("webhook-ca").unwrap();
    write_pair(dir.path(), &ca);
    let addr = start(Role::Caps, dir.path()).await;
    let base = format!("https://127.0.0.1:{}", addr.port());
    let t = |c: &str| json!({"spec": {"template": {"spec": {"serverClassRef": {"name": c}}}}});
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "a", "operation": "UPDATE", "object": t("new"), "oldObject": t("old")},
    });
    let v: Value = client(&ca)
        .post(format!(
            "{base}/validate-infrastructure-cluster-x-k8s-io-v1alpha3-metalmachinetemplate"
        ))
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(
        v["response"]["status"]["message"],
        "MetalMachineTemplate.Spec is immutable"
    );
    let metal = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": "u", "desiredAPIVersion": "metal.sidero.dev/v1alpha2", "objects": [{
            "apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Server",
            "metadata": {"name": "s"}, "spec": {"accepted": false}}]},
    });
    let v: Value = client(&ca)
        .post(format!("{base}/convert"))
        .json(&metal)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["response"]["result"]["status"], "Failure", "{v}");
}

#[tokio::test]
async fn no_certificate_means_no_webhooks_but_a_broken_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    assert_eq!(
        sidero_webhook::server::start(Role::Sidero, any, dir.path())
            .await
            .unwrap(),
        None
    );
    std::fs::write(dir.path().join("tls.crt"), "garbage").unwrap();
    std::fs::write(dir.path().join("tls.key"), "garbage").unwrap();
    let err = sidero_webhook::server::start(Role::Sidero, any, dir.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tls.crt"), "{err}");
}
