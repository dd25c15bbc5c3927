//! What a MetalMachine shows of its ServerBinding, and the binding's own status.

use sidero_api::condition::{self, Condition};
use sidero_api::infra::v1alpha3::{MachineAddress, ServerBinding};

/// `status.addresses` of a MetalMachine: each node address as `InternalIP`, then the
/// hostname as `Hostname` when known (spec §3.5 step 12).
pub fn addresses(binding: &ServerBinding) -> Vec<MachineAddress> {
    let mut out: Vec<MachineAddress> = binding
        .spec
        .addresses
        .iter()
        .map(|a| MachineAddress {
            type_: "InternalIP".into(),
            address: a.clone(),
        })
        .collect();
    if !binding.spec.hostname.is_empty() {
        out.push(MachineAddress {
            type_: "Hostname".into(),
            address: binding.spec.hostname.clone(),
        });
    }
    out
}

/// Upserts every condition of the binding into `conditions` (CAPI semantics: a condition
/// whose state is unchanged keeps its transition time).
pub fn copy_conditions(binding: &ServerBinding, conditions: &mut Vec<Condition>) {
    let from = binding
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    for c in from {
        condition::set(conditions, c.clone());
    }
}

/// `status.ready` of a ServerBinding: its Server exists (spec §3.6).
pub fn ready(server_exists: bool) -> bool {
    server_exists
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn binding(addresses: &[&str], hostname: &str) -> ServerBinding {
        serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
            "metadata": {"name": "s1"},
            "spec": {"metalMachineRef": {"name": "m", "namespace": "ns"},
                "siderolink": {"address": "", "publicKey": ""},
                "addresses": addresses, "hostname": hostname},
            "status": {"ready": true, "conditions": [
                {"type": "TalosInstalled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap()
    }

    #[test]
    fn addresses_then_hostname() {
        let got = addresses(&binding(&["10.0.0.5", "fd00::5"], "node-1"));
        let types: Vec<(&str, &str)> = got
            .iter()
            .map(|a| (a.type_.as_str(), a.address.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("InternalIP", "10.0.0.5"),
                ("InternalIP", "fd00::5"),
                ("Hostname", "node-1")
            ]
        );
        assert!(addresses(&binding(&[], "")).is_empty());
    }

    #[test]
    fn conditions_are_upserted_keeping_the_transition_time() {
        let b = binding(&[], "");
        let mut conds = Vec::new();
        copy_conditions(&b, &mut conds);
        assert!(condition::is_true(&conds, "TalosInstalled"));
        let first = conds[0].last_transition_time.clone();
        copy_conditions(&b, &mut conds);
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, first);
    }
}
