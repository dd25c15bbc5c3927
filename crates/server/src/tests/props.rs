//! Properties of [`crate::decide`] over arbitrary observations.

use std::time::Duration;

use proptest::prelude::*;
use sidero_power::{NotManagedReason, PowerState};

use super::{now, observed, power_cycle_in_progress, server, with_condition};
use crate::{Binding, Config, Observed, PowerAction, Requeue, decide};

fn arb_observed() -> impl Strategy<Value = Observed> {
    (
        (any::<bool>(), any::<bool>(), any::<bool>()),
        prop_oneof![
            Just(Binding::Absent),
            any::<bool>().prop_map(|t| Binding::Present { talos_installed: t })
        ],
        prop_oneof![
            Just(Ok(PowerState::On)),
            Just(Ok(PowerState::Off)),
            Just(Ok(PowerState::Unknown)),
            Just(Err("boom".to_owned())),
        ],
        prop_oneof![
            Just(None),
            Just(Some(NotManagedReason::NoBmcOrApi)),
            Just(Some(NotManagedReason::BmcCredentialsIncomplete)),
        ],
        any::<bool>(),
        proptest::option::of(0i64..10_000),
        any::<bool>(),
    )
        .prop_map(
            |((accepted, in_use, clean), binding, power, not_managed, deleting, pc, fin)| {
                let mut s = server(accepted, in_use, clean);
                if let Some(age) = pc {
                    s = with_condition(s, power_cycle_in_progress(age));
                }
                if !fin {
                    s.metadata.finalizers = None;
                }
                let mut o = observed(s);
                o.binding = binding;
                o.power = power;
                o.not_managed = not_managed;
                o.being_deleted = deleting;
                o
            },
        )
}

fn arb_timeout() -> impl Strategy<Value = Duration> {
    (3u64..7200).prop_map(Duration::from_secs)
}

proptest! {
    #[test]
    fn invariants(input in arb_observed(), timeout in arb_timeout()) {
        let cfg = Config { reboot_timeout: timeout, ..Config::default() };
        let d = decide(&input, &cfg, now());
        let allowed = [
            Requeue::None,
            Requeue::After(Duration::from_secs(20)),
            Requeue::After(Duration::from_secs(300)),
            Requeue::After(timeout / 3),
        ];
        prop_assert!(allowed.contains(&d.requeue), "{:?}", d.requeue);
        if !input.server.spec.accepted {
            prop_assert!(d.actions.is_empty());
            prop_assert!(!d.status.is_clean);
            prop_assert!(!d.status.ready);
        }
        if input.not_managed.is_some() {
            prop_assert!(d.actions.is_empty());
            prop_assert!(d.success_events.is_empty());
        }
        prop_assert_eq!(d.status.in_use, input.binding.is_allocated());
        if input.binding.is_allocated() {
            prop_assert!(!d.status.is_clean);
        } else {
            prop_assert!(d.status.condition("PXEBooted").is_none());
        }
        // Actions: SetPxe only first, at most two, a failure is always 20 s and not ready.
        prop_assert!(d.actions.len() <= 2);
        for (i, a) in d.actions.iter().enumerate() {
            prop_assert_eq!(matches!(a, PowerAction::SetPxe(_)), i == 0 && d.actions.len() == 2);
            let f = d.failure(*a, "e");
            prop_assert!(!f.status.ready);
            prop_assert_eq!(f.requeue, Requeue::After(Duration::from_secs(20)));
        }
        if input.being_deleted {
            prop_assert!(d.finalizer != crate::FinalizerChange::Add);
        }
        if input.binding.is_allocated() {
            prop_assert!(d.finalizer != crate::FinalizerChange::Remove);
        }
    }
}
