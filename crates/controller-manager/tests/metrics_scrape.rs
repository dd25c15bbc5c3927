//! `/metrics` of a running `sidero-controller-manager`: after boot requests over HTTP, TFTP
//! transfers (atftp), Servers created (one behind a management API), the counters and gauges
//! with domain meaning moved. The secure diagnostics server (the Deployment's default) refuses
//! callers without a token (401) or without RBAC for `/metrics` (403) and serves one with it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "support/machine.rs"]
mod machine;
mod manager_proc;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Api;
use kube::api::PostParams;
use manager_proc::{Manager, curl, get};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;

/// `name{labels}` → value, from the OpenMetrics text.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn scrape(m: &Manager) -> BTreeMap<String, f64> {
    let (code, body) = get(&format!("http://127.0.0.1:{}/metrics", m.metrics));
    assert_eq!(code, 200, "{body}");
    parse(&body)
}

fn value(map: &BTreeMap<String, f64>, key: &str) -> f64 {
    map.get(key).copied().unwrap_or(0.0)
}

fn atftp(m: &Manager, file: &str, to: &std::path::Path) -> bool {
    Command::new("atftp")
        .args(["-g", "-r", file, "-l"])
        .arg(to)
        .args(["127.0.0.1", &m.tftp.to_string()])
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_metrics_move_with_the_work() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let m = Manager::start(
        cp.kubeconfig(),
        &[
            "--insecure-diagnostics".into(),
            "--enable-leader-election=false".into(),
        ],
    );
    let before = scrape(&m);
    assert_eq!(value(&before, "sidero_leader"), 1.0, "{before:?}");

    // HTTP boot requests: the embedded script twice, /ipxe for an unknown server.
    for _ in 0..2 {
        assert_eq!(get(&m.url("/boot.ipxe")).0, 200);
    }
    let uuid = "4c4c4544-0000-0000-0000-000000000001";
    get(&m.url(&format!(
        "/ipxe?uuid={uuid}&mac=52-54-00-12-34-56&arch=x86_64"
    )));

    // TFTP: one served file, one refused name.
    let tmp = tempfile::tempdir().unwrap();
    assert!(atftp(&m, "undionly.kpxe", &tmp.path().join("u")));
    assert!(!atftp(&m, "no-such-file", &tmp.path().join("n")));
    let served = std::fs::metadata(tmp.path().join("u")).unwrap().len();

    // Servers: one pending, one accepted behind a management API (power is queried).
    let (endpoint, _machine) = machine::machine().await;
    let servers: Api<Server> = Api::all(client.clone());
    for (name, spec) in [
        ("pending-1", json!({"accepted": false})),
        (
            "accepted-1",
            json!({"accepted": true, "managementApi": {"endpoint": endpoint}}),
        ),
    ] {
        let s: Server = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": name}, "spec": spec
        }))
        .unwrap();
        servers.create(&PostParams::default(), &s).await.unwrap();
    }

    let power = format!("sidero_power_operations_total{{bmc=\"{endpoint}\",operation=\"status\"}}");
    let start = Instant::now();
    let after = loop {
        let after = scrape(&m);
        let done = value(&after, "sidero_servers{state=\"total\"}") == 2.0
            && value(&after, &power) >= 1.0
            && value(
                &after,
                "sidero_reconcile_duration_seconds_count{controller=\"server\"}",
            ) >= 2.0;
        if done {
            break after;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "metrics did not move:\n{after:#?}\n{}",
            m.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let moved = |key: &str| value(&after, key) - value(&before, key);
    assert!(
        moved("sidero_boot_requests_total{endpoint=\"boot.ipxe\",branch=\"-\",status=\"200\"}")
            >= 2.0,
        "{after:#?}"
    );
    let ipxe: Vec<_> = after
        .keys()
        .filter(|k| k.starts_with("sidero_boot_requests_total{endpoint=\"ipxe\""))
        .collect();
    assert!(
        ipxe.iter().any(|k| !k.contains("branch=\"-\"")),
        "the /ipxe branch is labelled: {ipxe:?}"
    );
    let ok = "{file=\"undionly.kpxe\",result=\"completed\"}";
    assert_eq!(moved(&format!("sidero_tftp_transfers_total{ok}")), 1.0);
    assert_eq!(
        moved(&format!("sidero_tftp_bytes_total{ok}")),
        served as f64
    );
    assert!(moved("sidero_tftp_transfers_total{file=\"other\",result=\"rejected\"}") >= 1.0);
    for (state, n) in [("pending", 1.0), ("accepted", 1.0), ("allocated", 0.0)] {
        assert_eq!(
            value(&after, &format!("sidero_servers{{state=\"{state}\"}}")),
            n,
            "{state}"
        );
    }
}

async fn service_account_token(client: &kube::Client, name: &str, allowed: bool) -> String {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    if allowed {
        let role: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": name},
            "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
        }))
        .unwrap();
        Api::<ClusterRole>::all(client.clone())
            .create(&PostParams::default(), &role)
            .await
            .unwrap();
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]
        }))
        .unwrap();
        Api::<ClusterRoleBinding>::all(client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
    }
    let req: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 600}}))
            .unwrap();
    sas.create_token_request(name, &PostParams::default(), &req)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_metrics_need_a_token_with_rbac() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let m = Manager::start(cp.kubeconfig(), &["--enable-leader-election=false".into()]);
    let url = format!("https://127.0.0.1:{}/metrics", m.metrics);
    assert_eq!(curl(&url, &["-k"]).0, 401);
    let reader = service_account_token(&client, "metrics-reader", true).await;
    let stranger = service_account_token(&client, "metrics-stranger", false).await;
    let auth = |t: &str| format!("Authorization: Bearer {t}");
    // RBAC changes reach the authorizer asynchronously: retry briefly.
    let start = Instant::now();
    let (code, body) = loop {
        let r = curl(&url, &["-k", "-H", &auth(&reader)]);
        if r.0 == 200 || start.elapsed() > Duration::from_secs(10) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(code, 200, "{body}\n{}", m.log());
    assert!(body.contains("sidero_boot_requests_total"), "{body}");
    assert_eq!(curl(&url, &["-k", "-H", &auth(&stranger)]).0, 403);
    assert_eq!(curl(&url, &["-k", "-H", &auth("not-a-token")]).0, 401);
}
