//! The CRDs and webhook configurations of a provider, made to work without kustomize or a
//! Service: what upstream's kustomize overlays add (labels, conversion, names) is added here,
//! and webhooks point at the manager's loopback port. Pure functions; the install is elsewhere.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::Error;

/// Labels a provider's CRDs carry once installed, as upstream's kustomize and `clusterctl init`
/// would set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdLabels {
    /// `cluster.x-k8s.io/provider` (clusterctl's provider name, e.g. `bootstrap-talos`).
    pub provider: String,
    /// The API version that implements the CAPI v1beta1 contract (label
    /// `cluster.x-k8s.io/v1beta1`); `None` for CAPI's own CRDs, which need no contract label.
    pub v1beta1_contract: Option<String>,
}

/// Where a manager's webhook server listens and which CA signed its certificate.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// PEM of the CA the API server must trust for this endpoint.
    pub ca_pem: String,
}

/// The webhook configurations found in a provider's `config/webhook/manifests.yaml`.
#[derive(Clone, Debug, Default)]
pub struct WebhookConfigs {
    /// Mutating (defaulting) webhook configurations.
    pub mutating: Vec<MutatingWebhookConfiguration>,
    /// Validating webhook configurations.
    pub validating: Vec<ValidatingWebhookConfiguration>,
}

/// Adds the labels, and routes conversion to the manager's `/convert` when the CRD lists more
/// than one version (served or not: the API server converts stored objects between them).
pub fn patch_crd(crd: &mut CustomResourceDefinition, labels: &CrdLabels, ep: &Endpoint) {
    let l = crd.metadata.labels.get_or_insert_with(BTreeMap::new);
    l.insert("cluster.x-k8s.io/provider".into(), labels.provider.clone());
    l.insert("clusterctl.cluster.x-k8s.io".into(), String::new());
    if let Some(v) = &labels.v1beta1_contract {
        l.insert("cluster.x-k8s.io/v1beta1".into(), v.clone());
    }
    crd.spec.conversion = if crd.spec.versions.len() > 1 {
        Some(apiext::CustomResourceConversion {
            strategy: "Webhook".into(),
            webhook: Some(apiext::WebhookConversion {
                client_config: Some(apiext::WebhookClientConfig {
                    url: Some(format!("{}/convert", ep.base_url)),
                    ca_bundle: Some(ByteString(ep.ca_pem.clone().into_bytes())),
                    service: None,
                }),
                conversion_review_versions: vec!["v1".into(), "v1beta1".into()],
            }),
        })
    } else {
        None
    };
}

/// Parses a multi-document webhook manifest; documents of other kinds are ignored.
pub fn parse_webhooks(text: &str) -> Result<WebhookConfigs, Error> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| Error::Manifest(format!("webhook manifest: {e}")))?;
    let mut out = WebhookConfigs::default();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let kind = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let bad = |e: serde_json::Error| Error::Manifest(format!("{kind}: {e}"));
        match kind.as_str() {
            "MutatingWebhookConfiguration" => {
                out.mutating.push(serde_json::from_value(doc).map_err(bad)?);
            }
            "ValidatingWebhookConfiguration" => {
                out.validating
                    .push(serde_json::from_value(doc).map_err(bad)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Reads and parses `path` with [`parse_webhooks`].
pub fn read_webhooks(path: &Path) -> Result<WebhookConfigs, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse_webhooks(&text)
}

/// Replaces a Service reference with the manager's loopback URL (same path) and the CA.
fn route(cc: &mut WebhookClientConfig, ep: &Endpoint) {
    let path = cc
        .service
        .take()
        .and_then(|s| s.path)
        .or_else(|| cc.url.take())
        .unwrap_or_default();
    cc.url = Some(format!("{}{path}", ep.base_url));
    cc.ca_bundle = Some(ByteString(ep.ca_pem.clone().into_bytes()));
}

/// Every provider ships configurations with the same generic names (kustomize adds a prefix
/// upstream), so each is renamed `<prefix>-<name>`; every webhook is routed to `ep`.
pub fn patch_webhooks(configs: &mut WebhookConfigs, prefix: &str, ep: &Endpoint) {
    for c in &mut configs.mutating {
        c.metadata.name = Some(format!(
            "{prefix}-{}",
            c.metadata.name.as_deref().unwrap_or("mutating")
        ));
        for w in c.webhooks.iter_mut().flatten() {
            route(&mut w.client_config, ep);
        }
    }
    for c in &mut configs.validating {
        c.metadata.name = Some(format!(
            "{prefix}-{}",
            c.metadata.name.as_deref().unwrap_or("validating")
        ));
        for w in c.webhooks.iter_mut().flatten() {
            route(&mut w.client_config, ep);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const MANIFEST: &str = "---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-webhook-configuration
webhooks:
- admissionReviewVersions: [v1]
  clientConfig:
    service: {name: webhook-service, namespace: system, path: /mutate-x}
  name: default.x.example.com
  sideEffects: None
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-webhook-configuration
webhooks:
- admissionReviewVersions: [v1]
  clientConfig:
    service: {name: webhook-service, namespace: system, path: /validate-x}
  failurePolicy: Fail
  name: validation.x.example.com
  sideEffects: None
---
apiVersion: v1
kind: Service
metadata: {name: ignored}
";

    fn ep() -> Endpoint {
        Endpoint {
            base_url: "https://127.0.0.1:4443".into(),
            ca_pem: "PEM".into(),
        }
    }

    #[test]
    fn webhooks_are_renamed_and_routed_to_loopback() {
        let mut c = parse_webhooks(MANIFEST).unwrap();
        assert_eq!((c.mutating.len(), c.validating.len()), (1, 1));
        patch_webhooks(&mut c, "cabpt", &ep());
        let m = &c.mutating[0];
        assert_eq!(
            m.metadata.name.as_deref(),
            Some("cabpt-mutating-webhook-configuration")
        );
        let cc = &m.webhooks.as_ref().unwrap()[0].client_config;
        assert_eq!(cc.url.as_deref(), Some("https://127.0.0.1:4443/mutate-x"));
        assert!(cc.service.is_none());
        assert_eq!(cc.ca_bundle.as_ref().unwrap().0, b"PEM");
        let v = &c.validating[0].webhooks.as_ref().unwrap()[0].client_config;
        assert_eq!(v.url.as_deref(), Some("https://127.0.0.1:4443/validate-x"));
    }

    fn crd(versions: &[&str]) -> CustomResourceDefinition {
        let mut c = CustomResourceDefinition::default();
        c.spec.versions = versions
            .iter()
            .map(|v| apiext::CustomResourceDefinitionVersion {
                name: (*v).into(),
                ..Default::default()
            })
            .collect();
        c
    }

    #[test]
    fn crd_labels_and_conversion() {
        let labels = CrdLabels {
            provider: "bootstrap-talos".into(),
            v1beta1_contract: Some("v1alpha3".into()),
        };
        // (versions, expects webhook conversion)
        for (versions, webhook) in [
            (vec!["v1alpha3"], false),
            (vec!["v1alpha2", "v1alpha3"], true),
        ] {
            let mut c = crd(&versions);
            patch_crd(&mut c, &labels, &ep());
            let l = c.metadata.labels.as_ref().unwrap();
            assert_eq!(l["cluster.x-k8s.io/v1beta1"], "v1alpha3");
            assert_eq!(l["cluster.x-k8s.io/provider"], "bootstrap-talos");
            assert!(l.contains_key("clusterctl.cluster.x-k8s.io"));
            match c.spec.conversion {
                Some(conv) => {
                    assert!(webhook, "{versions:?}");
                    assert_eq!(conv.strategy, "Webhook");
                    let cc = conv.webhook.unwrap().client_config.unwrap();
                    assert_eq!(cc.url.as_deref(), Some("https://127.0.0.1:4443/convert"));
                }
                None => assert!(!webhook, "{versions:?}"),
            }
        }
        let mut core = crd(&["v1beta1"]);
        let no_contract = CrdLabels {
            provider: "cluster-api".into(),
            v1beta1_contract: None,
        };
        patch_crd(&mut core, &no_contract, &ep());
        assert!(
            !core
                .metadata
                .labels
                .unwrap()
                .contains_key("cluster.x-k8s.io/v1beta1")
        );
    }
}
