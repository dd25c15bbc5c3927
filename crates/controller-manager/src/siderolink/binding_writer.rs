//! Applies Talos events' [`Effects`] to a ServerBinding (spec §8.6): conditions with CAPI's
//! semantics on `status.conditions`, and `spec.addresses` / `spec.hostname` for an
//! AddressEvent. Read-modify-patch guarded by `resourceVersion`, retried on conflict.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::condition::{self, Severity};
use sidero_api::infra::v1alpha3::{ServerBinding, ServerBindingStatus};
use sidero_siderolink::event_sink::EffectSink;
use sidero_siderolink::events::Effects;

use super::{FIELD_MANAGER, MAX_WRITE_ATTEMPTS, is_conflict};

/// The [`EffectSink`] writing ServerBindings.
#[derive(Clone)]
pub struct BindingWriter {
    client: Client,
}

impl BindingWriter {
    /// A writer acting with `client`.
    pub fn new(client: Client) -> BindingWriter {
        BindingWriter { client }
    }
}

/// The binding's status after `effects` (conditions only).
pub fn next_status(current: &ServerBindingStatus, effects: &Effects) -> ServerBindingStatus {
    let mut status = current.clone();
    for c in &effects.conditions {
        if c.status {
            condition::mark_true(&mut status.conditions, c.type_);
        } else {
            condition::mark_false(
                &mut status.conditions,
                c.type_,
                c.reason,
                Severity::parse(c.severity).unwrap_or(Severity::Info),
                &c.message,
            );
        }
    }
    status
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

#[tonic::async_trait]
impl EffectSink for BindingWriter {
    async fn apply(&self, server_uuid: &str, effects: &Effects) -> Result<(), String> {
        let api: Api<ServerBinding> = Api::all(self.client.clone());
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            let b = api
                .get(server_uuid)
                .await
                .map_err(|e| format!("reading server binding {server_uuid:?}: {e}"))?;
            let current = b.status.clone().unwrap_or_default();
            let status = next_status(&current, effects);
            let mut result = Ok(());
            if status != current {
                let patch = json!({
                    "metadata": {"resourceVersion": b.resource_version()},
                    "status": {"conditions": status.conditions},
                });
                result = api
                    .patch_status(server_uuid, &params(), &Patch::Merge(patch))
                    .await
                    .map(|_| ());
            }
            if result.is_ok()
                && let Some((hostname, addresses)) = &effects.addresses
                && (b.spec.hostname != *hostname || b.spec.addresses != *addresses)
            {
                // Merge patch: an empty hostname must be written as null to clear it.
                let hostname = (!hostname.is_empty()).then_some(hostname);
                let patch = json!({"spec": {"addresses": addresses, "hostname": hostname}});
                result = api
                    .patch(server_uuid, &params(), &Patch::Merge(patch))
                    .await
                    .map(|_| ());
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) if is_conflict(&e) && attempt < MAX_WRITE_ATTEMPTS => continue,
                Err(e) => return Err(format!("patching server binding {server_uuid:?}: {e}")),
            }
        }
        Err(format!(
            "server binding {server_uuid:?} changed concurrently {MAX_WRITE_ATTEMPTS} times"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sidero_proto::machine;
    use sidero_siderolink::events::{self, TalosEvent};

    #[test]
    fn install_sequence_ends_with_three_true_conditions() {
        let node = "fd00::9".parse().unwrap();
        let steps = [
            TalosEvent::Phase(machine::PhaseEvent {
                phase: "saveConfig".into(),
                action: 0,
            }),
            TalosEvent::Phase(machine::PhaseEvent {
                phase: "install".into(),
                action: 0,
            }),
        ];
        let mut status = ServerBindingStatus::default();
        for e in &steps {
            status = next_status(&status, &events::effects(e, node, &[]));
        }
        let installed = condition::get(&status.conditions, events::TALOS_INSTALLED).unwrap();
        assert_eq!(installed.status, "False");
        assert_eq!(
            installed.reason.as_deref(),
            Some(events::REASON_INSTALL_IN_PROGRESS)
        );
        assert_eq!(installed.severity.as_deref(), Some("Info"));
        assert!(condition::is_true(
            &status.conditions,
            events::TALOS_CONFIG_LOADED
        ));
        let boot = TalosEvent::Sequence(machine::SequenceEvent {
            sequence: "boot".into(),
            action: 1,
            error: None,
        });
        status = next_status(&status, &events::effects(&boot, node, &[]));
        for c in [
            events::TALOS_INSTALLED,
            events::TALOS_CONFIG_LOADED,
            events::TALOS_CONFIG_VALIDATED,
        ] {
            assert!(condition::is_true(&status.conditions, c), "{c}");
        }
    }
}
