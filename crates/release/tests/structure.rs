//! The release files: every document parses, labels, variables, RBAC split, webhooks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;

use common::{docs, find, read, render, written};
use serde_json::Value;
use sidero_release::vars::{self, VARIABLES};
use sidero_release::workloads;

const COMMON_LABELS: &[(&str, &str)] = &[
    ("app", "sidero"),
    ("cluster.x-k8s.io/provider", "sidero"),
    ("cluster.x-k8s.io/v1alpha3", "v1alpha3"),
    ("cluster.x-k8s.io/v1alpha4", "v1alpha3"),
    ("cluster.x-k8s.io/v1beta1", "v1alpha3"),
];

fn kinds(docs: &[Value]) -> Vec<(String, usize)> {
    let mut m = std::collections::BTreeMap::<String, usize>::new();
    for d in docs {
        *m.entry(d["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m.into_iter().collect()
}

#[test]
fn layout_and_object_inventory() {
    let (_tmp, dir) = written();
    assert!(
        dir.ends_with("infrastructure-sidero/v0.7.0"),
        "{}",
        dir.display()
    );
    let comps = docs(&read(&dir, "infrastructure-components.yaml"));
    let want: Vec<(String, usize)> = [
        ("Certificate", 2),
        ("ClusterRole", 2),
        ("ClusterRoleBinding", 2),
        ("CustomResourceDefinition", 7),
        ("Deployment", 2),
        ("Issuer", 2),
        ("Namespace", 1),
        ("Role", 2),
        ("RoleBinding", 2),
        ("Service", 8),
        ("ServiceAccount", 2),
        ("ValidatingWebhookConfiguration", 2),
    ]
    .iter()
    .map(|(k, n)| ((*k).to_string(), *n))
    .collect();
    assert_eq!(kinds(&comps), want);
    let ns = find(&comps, "Namespace", "sidero-system");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    for svc in [
        "sidero-dhcp",
        "sidero-tftp",
        "sidero-siderolink",
        "sidero-http",
        "sidero-webhook-service",
        "caps-webhook-service",
        "sidero-controller-manager-metrics-service",
        "caps-controller-manager-metrics-service",
    ] {
        assert_eq!(
            find(&comps, "Service", svc)["metadata"]["namespace"],
            "sidero-system"
        );
    }
    assert_eq!(
        read(&dir, "cluster-template.yaml"),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/cluster-template.yaml"
        ))
        .unwrap()
    );
}

#[test]
fn every_object_has_the_common_labels() {
    let (_tmp, dir) = written();
    let comps = docs(&read(&dir, "infrastructure-components.yaml"));
    for d in &comps {
        let labels = &d["metadata"]["labels"];
        for (k, v) in COMMON_LABELS {
            assert_eq!(
                labels[*k], *v,
                "{} {}: {k}",
                d["kind"], d["metadata"]["name"]
            );
        }
        if d["kind"] == "Deployment" {
            let sel = &d["spec"]["selector"]["matchLabels"];
            let pod = &d["spec"]["template"]["metadata"]["labels"];
            for (k, v) in sel.as_object().unwrap() {
                assert_eq!(&pod[k], v, "selector {k} matches the pods");
            }
        }
    }
    for name in [
        "servers.metal.sidero.dev",
        "serverclasses.metal.sidero.dev",
        "environments.metal.sidero.dev",
    ] {
        let crd = find(&comps, "CustomResourceDefinition", name);
        assert_eq!(
            crd["metadata"]["labels"]["clusterctl.cluster.x-k8s.io/move"],
            ""
        );
    }
}

#[test]
fn variables_are_exactly_the_documented_ones_with_upstream_defaults() {
    let (_tmp, dir) = written();
    let text = read(&dir, "infrastructure-components.yaml");
    let used = vars::referenced(&text);
    for (name, default) in &used {
        let want =
            vars::default_of(name).unwrap_or_else(|| panic!("{name} is not a §10.3 variable"));
        assert_eq!(default.as_deref(), Some(want), "{name}");
    }
    let used: BTreeSet<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    let documented: BTreeSet<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
    assert_eq!(used, documented);
    // Upstream's 20 (spec §10.3) plus one per flag of ours.
    assert_eq!(
        used.len(),
        20 + workloads::SIDERO_OWN_FLAGS.len() + workloads::CAPS_FLAGS.len()
    );
    assert!(!text.contains("RAW<<"), "raw markers are gone");
}

#[test]
fn defaults_render_to_typed_values_and_upstream_flags() {
    let (_tmp, dir) = written();
    let comps = render(&read(&dir, "infrastructure-components.yaml"), &[]);
    let scm = find(&comps, "Deployment", "sidero-controller-manager");
    let pod = &scm["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], Value::Bool(false));
    assert_eq!(scm["spec"]["strategy"]["type"], "RollingUpdate");
    let c = &pod["containers"][0];
    assert_eq!(
        c["image"],
        "registry.test/siderolabs/sidero-controller-manager:v0.7.0"
    );
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for want in [
        "--enable-leader-election",
        "--diagnostics-address=:8443",
        "--insecure-diagnostics=false",
        "--api-endpoint=-",
        "--api-port=8081",
        "--http-port=8081",
        "--extra-agent-kernel-args=-",
        "--boot-from-disk-method=ipxe-exit",
        "--auto-accept-servers=false",
        "--insecure-wipe=true",
        "--auto-bmc-setup=true",
        "--server-reboot-timeout=20m",
        "--ipmi-pxe-method=uefi",
        "--disable-dhcp-proxy=false",
        "--test-power-simulated-explicit-failure-prob=0",
        "--test-power-simulated-silent-failure-prob=0",
        "--wireguard-endpoint=-",
        "--wireguard-port=51821",
        "--negative-address-filter=-",
        "--siderolink",
    ] {
        assert!(args.contains(&want), "{want} in {args:?}");
    }
    let port = |name: &str| {
        c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(port("http")["containerPort"], 8081);
    assert_eq!(port("siderolink")["containerPort"], 51821);
    assert_eq!(port("siderolink")["protocol"], "UDP");
    assert_eq!(port("dhcp")["containerPort"], 67);
    assert_eq!(port("healthz")["containerPort"], 9440);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "status.hostIP"
    );
    assert_eq!(
        find(&comps, "Service", "sidero-http")["spec"]["ports"][0]["port"],
        8081
    );

    // Non-default values reach the typed fields.
    let comps = render(
        &read(&dir, "infrastructure-components.yaml"),
        &[
            ("SIDERO_CONTROLLER_MANAGER_HOST_NETWORK", "true"),
            ("SIDERO_CONTROLLER_MANAGER_API_PORT", "9081"),
            ("SIDERO_CONTROLLER_MANAGER_DEPLOYMENT_STRATEGY", "Recreate"),
        ],
    );
    let scm = find(&comps, "Deployment", "sidero-controller-manager");
    assert_eq!(
        scm["spec"]["template"]["spec"]["hostNetwork"],
        Value::Bool(true)
    );
    assert_eq!(scm["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        find(&comps, "Service", "sidero-http")["spec"]["ports"][0]["port"],
        9081
    );

    let caps = find(&comps, "Deployment", "caps-controller-manager");
    let c = &caps["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["runAsUser"], 65532);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(c["args"][1], "--diagnostics-address=:8443");
}

fn rules_of<'a>(comps: &'a [Value], kind: &str, name: &str) -> &'a Vec<Value> {
    find(comps, kind, name)["rules"].as_array().unwrap()
}

#[test]
fn separate_least_privilege_accounts() {
    let (_tmp, dir) = written();
    let comps = docs(&read(&dir, "infrastructure-components.yaml"));
    let sa = |d: &str| {
        find(&comps, "Deployment", d)["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (scm, caps) = (
        sa("sidero-controller-manager"),
        sa("caps-controller-manager"),
    );
    assert_ne!(scm, caps);
    assert!(scm != "default" && caps != "default");
    find(&comps, "ServiceAccount", &scm);
    find(&comps, "ServiceAccount", &caps);
    for d in comps
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for r in d["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(
                    !r[field].as_array().unwrap().iter().any(|v| v == "*"),
                    "{} grants * in {field}",
                    d["metadata"]["name"]
                );
            }
        }
    }
    for b in comps
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
    {
        let name = b["metadata"]["name"].as_str().unwrap();
        let want = if name.starts_with("sidero-") {
            &scm
        } else {
            &caps
        };
        assert_eq!(b["subjects"].as_array().unwrap().len(), 1);
        assert_eq!(&b["subjects"][0]["name"], want, "{name}");
    }
    // Each account has only its own kinds: sidero never writes infrastructure kinds other
    // than SideroLink's ServerBinding patches; caps never writes Servers.
    let grants = |role: &str, group: &str, res: &str, verb: &str| {
        rules_of(&comps, "ClusterRole", role).iter().any(|r| {
            r["apiGroups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == group)
                && r["resources"].as_array().unwrap().iter().any(|x| x == res)
                && r["verbs"].as_array().unwrap().iter().any(|v| v == verb)
        })
    };
    assert!(grants(
        "sidero-manager-role",
        "metal.sidero.dev",
        "servers",
        "create"
    ));
    assert!(!grants(
        "sidero-manager-role",
        "infrastructure.cluster.x-k8s.io",
        "metalmachines",
        "patch"
    ));
    assert!(!grants(
        "sidero-manager-role",
        "infrastructure.cluster.x-k8s.io",
        "serverbindings",
        "create"
    ));
    assert!(grants(
        "caps-manager-role",
        "infrastructure.cluster.x-k8s.io",
        "serverbindings",
        "create"
    ));
    assert!(!grants(
        "caps-manager-role",
        "metal.sidero.dev",
        "servers",
        "update"
    ));
    assert!(!grants("caps-manager-role", "", "secrets", "create"));
    for role in ["sidero-leader-election-role", "caps-leader-election-role"] {
        let r = rules_of(&comps, "Role", role);
        assert!(r.iter().any(|r| r["resources"][0] == "leases"), "{role}");
    }
}

#[test]
fn webhooks_point_at_their_servers() {
    let (_tmp, dir) = written();
    let comps = docs(&read(&dir, "infrastructure-components.yaml"));
    for d in comps
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
    {
        let group = d["spec"]["group"].as_str().unwrap();
        let prefix = if group == "metal.sidero.dev" {
            "sidero"
        } else {
            "caps"
        };
        let w = &d["spec"]["conversion"]["webhook"];
        assert_eq!(d["spec"]["conversion"]["strategy"], "Webhook");
        assert_eq!(
            w["clientConfig"]["service"]["name"],
            format!("{prefix}-webhook-service")
        );
        assert_eq!(w["clientConfig"]["service"]["namespace"], "sidero-system");
        assert_eq!(w["clientConfig"]["service"]["path"], "/convert");
        assert_eq!(w["clientConfig"]["service"]["port"], 443);
        assert_eq!(
            w["conversionReviewVersions"],
            serde_json::json!(["v1", "v1beta1"])
        );
        assert_eq!(
            d["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            format!("sidero-system/{prefix}-serving-cert")
        );
    }
    let v = find(
        &comps,
        "ValidatingWebhookConfiguration",
        "sidero-validating-webhook-configuration",
    );
    let paths: Vec<&str> = v["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["clientConfig"]["service"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/validate-metal-sidero-dev-v1alpha2-server",
            "/validate-metal-sidero-dev-v1alpha1-server"
        ]
    );
    let v = find(
        &comps,
        "ValidatingWebhookConfiguration",
        "caps-validating-webhook-configuration",
    );
    let w = &v["webhooks"][0];
    assert_eq!(w["failurePolicy"], "Fail");
    assert_eq!(w["sideEffects"], "None");
    assert_eq!(w["rules"][0]["resources"][0], "metalmachinetemplates");
    let cert = find(&comps, "Certificate", "sidero-serving-cert");
    assert_eq!(cert["spec"]["secretName"], "sidero-webhook-service-cert");
    assert_eq!(
        cert["spec"]["dnsNames"][0],
        "sidero-webhook-service.sidero-system.svc"
    );
    let scm = find(&comps, "Deployment", "sidero-controller-manager");
    assert_eq!(
        scm["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        "sidero-webhook-service-cert"
    );
}

#[test]
fn metadata_maps_series_to_contracts() {
    let (_tmp, dir) = written();
    let m = &docs(&read(&dir, "metadata.yaml"))[0];
    assert_eq!(m["apiVersion"], "clusterctl.cluster.x-k8s.io/v1alpha3");
    assert_eq!(m["kind"], "Metadata");
    let series: Vec<(u64, u64, &str)> = m["releaseSeries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["major"].as_u64().unwrap(),
                s["minor"].as_u64().unwrap(),
                s["contract"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        series,
        [
            (0, 1, "v1alpha3"),
            (0, 2, "v1alpha3"),
            (0, 3, "v1alpha3"),
            (0, 4, "v1alpha4"),
            (0, 5, "v1beta1"),
            (0, 6, "v1beta1"),
            (0, 7, "v1beta1")
        ]
    );
}
