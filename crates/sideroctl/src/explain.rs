//! The plain-language "waiting for / stuck at" line of `describe server`: a pure function of
//! what the Server, its ServerBinding and the clock say (spec §3.1 flow: accept → wipe →
//! clean → allocate → install).

use std::time::Duration;

use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{CONDITION_POWER_CYCLE, Server};

/// Where a server is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Progressing or idle as intended; the text says what it waits for.
    Waiting(String),
    /// Something needs attention; the text says what.
    Stuck(String),
    /// Nothing to wait for.
    Done(String),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Waiting(t) => write!(f, "waiting for {t}"),
            Verdict::Stuck(t) => write!(f, "stuck at {t}"),
            Verdict::Done(t) => write!(f, "{t}"),
        }
    }
}

/// The facts the verdict depends on, taken from the objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Server name (its UUID).
    pub name: String,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `spec.accepted`.
    pub accepted: bool,
    /// `spec.cordoned`.
    pub cordoned: bool,
    /// `status.isClean`.
    pub clean: bool,
    /// `status.inUse`.
    pub in_use: bool,
    /// `spec.bmc` or `spec.managementApi` is set.
    pub power_managed: bool,
    /// The `PowerCycle` condition: (status, reason, message, age).
    pub power_cycle: Option<(String, String, String, Duration)>,
    /// The ServerBinding: its MetalMachine `namespace/name` and whether `TalosInstalled` is
    /// true.
    pub binding: Option<(String, bool)>,
}

impl Facts {
    /// Takes the facts from the objects at wall time `now`.
    pub fn of(server: &Server, binding: Option<&ServerBinding>, now: jiff::Timestamp) -> Facts {
        let status = server.status.clone().unwrap_or_default();
        let power_cycle = server.condition(CONDITION_POWER_CYCLE).map(|c| {
            let age = Duration::try_from(now.duration_since(c.last_transition_time.0))
                .unwrap_or_default();
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
                age,
            )
        });
        let binding = binding.map(|b| {
            let mm = &b.spec.metal_machine_ref;
            let name = format!(
                "{}/{}",
                mm.namespace.as_deref().unwrap_or_default(),
                mm.name.as_deref().unwrap_or_default()
            );
            let installed = b.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "TalosInstalled" && c.status == "True")
            });
            (name, installed)
        });
        Facts {
            name: server.metadata.name.clone().unwrap_or_default(),
            deleting: server.metadata.deletion_timestamp.is_some(),
            accepted: server.spec.accepted,
            cordoned: server.spec.is_cordoned(),
            clean: status.is_clean,
            in_use: status.in_use,
            power_managed: server.spec.bmc.is_some() || server.spec.management_api.is_some(),
            power_cycle,
            binding,
        }
    }
}

/// What the server waits for, or where it is stuck. `reboot_timeout` is the manager's
/// `--server-reboot-timeout` (a wipe not reported within it is retried by the controller).
pub fn explain(f: &Facts, reboot_timeout: Duration) -> Verdict {
    if f.deleting {
        return match &f.binding {
            Some((mm, _)) => Verdict::Waiting(format!(
                "its ServerBinding to be released by MetalMachine {mm} before deletion"
            )),
            None => Verdict::Waiting(
                "the Server controller to power it off and remove its finalizer (deletion)".into(),
            ),
        };
    }
    if !f.accepted {
        return Verdict::Waiting(format!(
            "acceptance: run `sideroctl accept {}` (it will be wiped)",
            f.name
        ));
    }
    if let Some((mm, installed)) = &f.binding {
        return if *installed {
            Verdict::Done(format!(
                "in service: Talos installed, bound to MetalMachine {mm}"
            ))
        } else {
            Verdict::Waiting(format!(
                "Talos to boot and install (bound to MetalMachine {mm}; config served at /configdata, install reported over SideroLink)"
            ))
        };
    }
    if f.in_use {
        return Verdict::Stuck(
            "marked in use without a ServerBinding: the Server controller clears it on its next reconcile".into(),
        );
    }
    if !f.clean {
        return match &f.power_cycle {
            Some((status, reason, _, age)) if status == "False" && reason == "InProgress" => {
                if *age > reboot_timeout {
                    Verdict::Stuck(format!(
                        "wiping: no wipe report for {} (reboot timeout {}); the controller power-cycles it again: check its console and network boot",
                        human(*age),
                        human(reboot_timeout)
                    ))
                } else {
                    Verdict::Waiting(format!(
                        "the agent to wipe the disks and report (power-cycled into the agent {} ago)",
                        human(*age)
                    ))
                }
            }
            Some((status, reason, message, _)) if status == "False" => {
                Verdict::Stuck(format!("power management: {reason}: {message}"))
            }
            _ if !f.power_managed => Verdict::Waiting(
                "the server to network-boot into the agent for wiping (no BMC or management API: power it on or reboot it by hand)".into(),
            ),
            _ => Verdict::Waiting(
                "the Server controller to power-cycle it into the agent for wiping".into(),
            ),
        };
    }
    if f.cordoned {
        return Verdict::Done(format!(
            "clean but cordoned: not allocated until `sideroctl uncordon {}`",
            f.name
        ));
    }
    Verdict::Waiting("a MetalMachine to allocate it (clean and free)".into())
}

/// `1h2m`, `5m3s`, `40s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..172_800 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1200);

    fn base() -> Facts {
        Facts {
            name: "uuid-1".into(),
            accepted: true,
            power_managed: true,
            ..Facts::default()
        }
    }

    fn pc(status: &str, reason: &str, age: u64) -> Option<(String, String, String, Duration)> {
        Some((
            status.into(),
            reason.into(),
            "msg".into(),
            Duration::from_secs(age),
        ))
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Facts, &str)> = vec![
            (
                "not accepted",
                Facts {
                    accepted: false,
                    ..base()
                },
                "waiting for acceptance: run `sideroctl accept uuid-1` (it will be wiped)",
            ),
            (
                "accepted, dirty, nothing yet",
                base(),
                "waiting for the Server controller to power-cycle it into the agent for wiping",
            ),
            (
                "accepted, dirty, no BMC",
                Facts {
                    power_managed: false,
                    ..base()
                },
                "waiting for the server to network-boot into the agent for wiping (no BMC or management API: power it on or reboot it by hand)",
            ),
            (
                "wiping within the timeout",
                Facts {
                    power_cycle: pc("False", "InProgress", 300),
                    ..base()
                },
                "waiting for the agent to wipe the disks and report (power-cycled into the agent 5m0s ago)",
            ),
            (
                "wiping past the timeout",
                Facts {
                    power_cycle: pc("False", "InProgress", 1500),
                    ..base()
                },
                "stuck at wiping: no wipe report for 25m0s (reboot timeout 20m0s); the controller power-cycles it again: check its console and network boot",
            ),
            (
                "power failure",
                Facts {
                    power_cycle: pc("False", "PowerFailed", 5),
                    ..base()
                },
                "stuck at power management: PowerFailed: msg",
            ),
            (
                "clean and free",
                Facts {
                    clean: true,
                    power_cycle: pc("True", "Done", 5),
                    ..base()
                },
                "waiting for a MetalMachine to allocate it (clean and free)",
            ),
            (
                "clean and cordoned",
                Facts {
                    clean: true,
                    cordoned: true,
                    ..base()
                },
                "clean but cordoned: not allocated until `sideroctl uncordon uuid-1`",
            ),
            (
                "bound, installing",
                Facts {
                    clean: false,
                    in_use: true,
                    binding: Some(("default/cp-0".into(), false)),
                    ..base()
                },
                "waiting for Talos to boot and install (bound to MetalMachine default/cp-0; config served at /configdata, install reported over SideroLink)",
            ),
            (
                "bound, installed",
                Facts {
                    in_use: true,
                    binding: Some(("default/cp-0".into(), true)),
                    ..base()
                },
                "in service: Talos installed, bound to MetalMachine default/cp-0",
            ),
            (
                "in use without binding",
                Facts {
                    in_use: true,
                    clean: true,
                    ..base()
                },
                "stuck at marked in use without a ServerBinding: the Server controller clears it on its next reconcile",
            ),
            (
                "deleting while bound",
                Facts {
                    deleting: true,
                    binding: Some(("default/w-1".into(), true)),
                    ..base()
                },
                "waiting for its ServerBinding to be released by MetalMachine default/w-1 before deletion",
            ),
            (
                "deleting",
                Facts {
                    deleting: true,
                    ..base()
                },
                "waiting for the Server controller to power it off and remove its finalizer (deletion)",
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(explain(&facts, T).to_string(), want, "{name}");
        }
    }

    #[test]
    fn facts_from_objects() {
        let server: Server = serde_json::from_value(serde_json::json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "u1"},
            "spec": {"accepted": true, "managementApi": {"endpoint": "127.0.0.1:1"}},
            "status": {"ready": false, "inUse": false, "isClean": false, "conditions": [
                {"type": "PowerCycle", "status": "False", "reason": "InProgress",
                 "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let f = Facts::of(&server, None, now);
        assert!(f.accepted && f.power_managed && !f.clean);
        assert_eq!(f.power_cycle.unwrap().3, Duration::from_secs(600));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(59)), "59s");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 120)), "3h2m");
        assert_eq!(human(Duration::from_secs(3 * 86_400)), "3d0h");
    }
}
