//! The components, rendered with the default variable values, go into a real kube-apiserver
//! (its own, since they install conversion and validating webhooks): every object except the
//! cert-manager ones (no cert-manager there) is accepted as written by a server-side dry run,
//! then created; the CRDs become Established; the ServiceAccounts get exactly their own
//! permissions; the validating webhook is wired to Servers.
//!
//! Network rule: the API server resolves a webhook Service `<svc>.<ns>.svc` through the
//! machine's resolver, which would send the call off the machine. So the created objects have
//! every webhook `clientConfig.service` replaced by a `url` on a closed loopback port (the
//! dry run checks the Service form as written; a dry run never calls webhooks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Client, Discovery};
use serde_json::{Value, json};

use common::{read, render, written};

fn gvk_of(v: &Value) -> GroupVersionKind {
    let api_version = v["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, v["kind"].as_str().unwrap())
}

async fn create(client: &Client, v: &Value, dry_run: bool) -> Result<(), String> {
    let (ar, caps) = pinned_kind(client, &gvk_of(v))
        .await
        .map_err(|e| e.to_string())?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Cluster => Api::all_with(client.clone(), &ar),
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            v["metadata"]["namespace"].as_str().unwrap(),
            &ar,
        ),
    };
    let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
    let pp = PostParams {
        dry_run,
        ..Default::default()
    };
    api.create(&pp, &obj)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn allowed(client: &Client, sa: &str, verb: &str, group: &str, resource: &str) -> bool {
    let (resource, sub) = match resource.split_once('/') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (resource.to_string(), None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:sidero-system:{sa}")),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:sidero-system".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource),
                subresource: sub,
                namespace: Some("sidero-system".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let got = api.create(&PostParams::default(), &review).await.unwrap();
    got.status.unwrap().allowed
}

/// A loopback port nothing listens on (bound, then released).
fn closed_loopback_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The object with every webhook `clientConfig.service` replaced by a loopback `url`.
fn to_loopback(v: &Value, port: u16) -> Value {
    let mut v = v.clone();
    fn walk(v: &mut Value, port: u16) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(svc)) = m
                    .get("clientConfig")
                    .and_then(|c| c.get("service"))
                    .cloned()
                    .as_ref()
                {
                    let path = svc.get("path").and_then(Value::as_str).unwrap_or("/");
                    m.insert(
                        "clientConfig".into(),
                        json!({"url": format!("https://127.0.0.1:{port}{path}")}),
                    );
                }
                for x in m.values_mut() {
                    walk(x, port);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, port)),
            _ => {}
        }
    }
    walk(&mut v, port);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn components_install_into_a_real_api_server() {
    let cp = tokio::task::spawn_blocking(sidero_testenv::ControlPlane::start)
        .await
        .unwrap()
        .unwrap();
    let client = cp.client().await.unwrap();
    let (_tmp, dir) = written();
    let comps = render(&read(&dir, "infrastructure-components.yaml"), &[]);

    // Namespace first, then CRDs (their kinds must exist before anything refers to them).
    let order = |d: &Value| match d["kind"].as_str().unwrap() {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        _ => 2,
    };
    let mut todo: Vec<&Value> = comps
        .iter()
        .filter(|d| {
            !d["apiVersion"]
                .as_str()
                .unwrap()
                .starts_with("cert-manager.io/")
        })
        .collect();
    todo.sort_by_key(|d| order(d));
    let skipped = comps.len() - todo.len();
    assert_eq!(skipped, 4, "two Issuers and two Certificates are left out");
    let (ns, rest) = todo.split_first().unwrap();
    assert_eq!(ns["kind"], "Namespace");
    create(&client, ns, false).await.unwrap();
    let mut failures = Vec::new();
    for d in rest {
        if let Err(e) = create(&client, d, true).await {
            failures.push(format!(
                "dry run: {} {}: {e}",
                d["kind"], d["metadata"]["name"]
            ));
        }
    }
    let closed = closed_loopback_port();
    for d in rest {
        let d = to_loopback(d, closed);
        assert!(
            !d.to_string().contains("\"service\":{"),
            "no Service-form webhook is created"
        );
        if let Err(e) = create(&client, &d, false).await {
            failures.push(format!("{} {}: {e}", d["kind"], d["metadata"]["name"]));
        }
    }
    assert!(failures.is_empty(), "rejected:\n{}", failures.join("\n"));
    println!("dry-ran and created {} objects", todo.len());

    // Host networking with a non-default port (as documented for single-node sites) is valid.
    let host = render(
        &read(&dir, "infrastructure-components.yaml"),
        &[
            ("SIDERO_CONTROLLER_MANAGER_HOST_NETWORK", "true"),
            ("SIDERO_CONTROLLER_MANAGER_DEPLOYMENT_STRATEGY", "Recreate"),
            ("SIDERO_CONTROLLER_MANAGER_API_PORT", "9081"),
            ("SIDERO_CONTROLLER_MANAGER_CONTAINER_API_PORT", "9081"),
        ],
    );
    let mut scm = common::find(&host, "Deployment", "sidero-controller-manager").clone();
    scm["metadata"]["name"] = "sidero-controller-manager-hostnet".into();
    create(&client, &scm, true).await.unwrap();

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for d in todo
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
    {
        let name = d["metadata"]["name"].as_str().unwrap();
        loop {
            let crd = crds.get(name).await.unwrap();
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not Established"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let crd = crds.get(name).await.unwrap();
        let conv = crd.spec.conversion.unwrap();
        assert_eq!(conv.strategy, "Webhook", "{name}");
    }
    // The API server now serves every group the managers use.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.has_group("metal.sidero.dev"));
    assert!(discovery.has_group("infrastructure.cluster.x-k8s.io"));

    let scm = "sidero-controller-manager";
    let caps = "caps-controller-manager";
    let metal = "metal.sidero.dev";
    let infra = "infrastructure.cluster.x-k8s.io";
    let checks: &[(&str, &str, &str, &str, bool)] = &[
        (scm, "patch", metal, "servers/status", true),
        (scm, "create", metal, "servers", true),
        (scm, "create", "", "secrets", true),
        (scm, "watch", infra, "serverbindings", true),
        (scm, "patch", infra, "serverbindings/status", true),
        (scm, "get", "cluster.x-k8s.io", "machines", true),
        (scm, "create", "coordination.k8s.io", "leases", true),
        (scm, "list", infra, "metalclusters", false),
        (scm, "create", infra, "serverbindings", false),
        (scm, "delete", "", "secrets", false),
        (scm, "create", "", "pods", false),
        (caps, "create", infra, "serverbindings", true),
        (caps, "patch", infra, "metalmachines/status", true),
        (caps, "watch", "", "secrets", true),
        (caps, "list", "cluster.x-k8s.io", "machines", true),
        (caps, "create", "coordination.k8s.io", "leases", true),
        (caps, "update", metal, "servers", false),
        (caps, "patch", metal, "servers/status", false),
        (caps, "create", "", "secrets", false),
        (caps, "create", metal, "environments", false),
        (caps, "delete", "", "pods", false),
        ("default", "get", metal, "servers", false),
    ];
    let mut wrong = Vec::new();
    for (sa, verb, group, res, want) in checks {
        if allowed(&client, sa, verb, group, res).await != *want {
            wrong.push(format!("{sa} {verb} {group}/{res}: want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    println!("{} access reviews as expected", checks.len());

    // Servers go through the validating webhooks (unreachable here, failurePolicy Fail; the
    // v1alpha1 one first needs the object converted by the conversion webhook), other metal
    // kinds do not.
    let server = json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "4c4c4544-0000-0000-0000-000000000001"}, "spec": {"accepted": false}});
    let err = create(&client, &server, false).await.unwrap_err();
    assert!(
        err.contains("vservers.metal.sidero.dev")
            || err.contains("conversion webhook for metal.sidero.dev"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{closed}")), "{err}");
    let env = json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
        "metadata": {"name": "probe"}, "spec": {}});
    create(&client, &env, false).await.unwrap();
}
