//! The webhook side of the bundle (spec §2.8, §2.9, §11.2): CRDs with their conversion
//! webhook, the cert-manager Issuers and Certificates that serve them, and the validating
//! webhook configurations.

use serde_json::{Value, json};

use crate::{Error, NAMESPACE};

/// The two webhook servers: `(prefix, group served)`. Metal kinds convert in
/// sidero-controller-manager, infrastructure kinds in caps-controller-manager.
pub const SERVERS: &[(&str, &str)] = &[
    ("sidero", "metal.sidero.dev"),
    ("caps", "infrastructure.cluster.x-k8s.io"),
];

/// `<prefix>-webhook-service`.
pub fn service(prefix: &str) -> String {
    format!("{prefix}-webhook-service")
}

fn inject_annotation(prefix: &str) -> Value {
    json!({"cert-manager.io/inject-ca-from": format!("{NAMESPACE}/{prefix}-serving-cert")})
}

fn client_config(prefix: &str, path: &str) -> Value {
    json!({"service": {"namespace": NAMESPACE, "name": service(prefix), "path": path, "port": 443}})
}

/// The seven CRDs, each converted by the webhook server of its group.
pub fn crds() -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for crd in sidero_api::crds::all() {
        let mut v = serde_json::to_value(&crd)?;
        let group = crd.spec.group.as_str();
        let prefix = SERVERS
            .iter()
            .find(|(_, g)| *g == group)
            .map(|(p, _)| *p)
            .unwrap_or("caps");
        v["metadata"]["annotations"] = inject_annotation(prefix);
        v["spec"]["conversion"] = json!({
            "strategy": "Webhook",
            "webhook": {
                "conversionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": client_config(prefix, "/convert"),
            },
        });
        out.push(v);
    }
    Ok(out)
}

/// Self-signed Issuers and the serving Certificates whose Secrets the Deployments mount.
pub fn cert_manager() -> Vec<Value> {
    let mut out = Vec::new();
    for (prefix, _) in SERVERS {
        let svc = service(prefix);
        out.push(json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": format!("{prefix}-selfsigned-issuer")},
            "spec": {"selfSigned": {}},
        }));
        out.push(json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": format!("{prefix}-serving-cert")},
            "spec": {
                "dnsNames": [
                    format!("{svc}.{NAMESPACE}.svc"),
                    format!("{svc}.{NAMESPACE}.svc.cluster.local"),
                ],
                "issuerRef": {"kind": "Issuer", "name": format!("{prefix}-selfsigned-issuer")},
                "secretName": format!("{svc}-cert"),
            },
        }));
    }
    out
}

fn webhook(
    name: &str,
    prefix: &str,
    path: &str,
    group: &str,
    version: &str,
    plural: &str,
) -> Value {
    json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": client_config(prefix, path),
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "rules": [{
            "apiGroups": [group],
            "apiVersions": [version],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "resources": [plural],
        }],
    })
}

/// `sidero-validating-webhook-configuration` (Servers, both versions) and
/// `caps-validating-webhook-configuration` (MetalMachineTemplate immutability).
///
/// Webhook names must be unique within a configuration, so the v1alpha1 Server webhook
/// carries a version prefix.
pub fn validating() -> Vec<Value> {
    let metal = "metal.sidero.dev";
    let infra = "infrastructure.cluster.x-k8s.io";
    vec![
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "sidero-validating-webhook-configuration",
                "annotations": inject_annotation("sidero")},
            "webhooks": [
                webhook("vservers.metal.sidero.dev", "sidero",
                    "/validate-metal-sidero-dev-v1alpha2-server", metal, "v1alpha2", "servers"),
                webhook("v1alpha1.vservers.metal.sidero.dev", "sidero",
                    "/validate-metal-sidero-dev-v1alpha1-server", metal, "v1alpha1", "servers"),
            ],
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "caps-validating-webhook-configuration",
                "annotations": inject_annotation("caps")},
            "webhooks": [
                webhook("vmetalmachinetemplates.infrastructure.cluster.x-k8s.io", "caps",
                    "/validate-infrastructure-cluster-x-k8s-io-v1alpha3-metalmachinetemplate",
                    infra, "v1alpha3", "metalmachinetemplates"),
            ],
        }),
    ]
}
