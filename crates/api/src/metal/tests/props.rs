//! Property tests: v1alpha2 → v1alpha1 → v1alpha2 is lossless (typed and through
//! `convert_object`), and v1alpha1 → v1alpha2 → v1alpha1 keeps the v1alpha1 fields.

use proptest::collection::vec;
use proptest::option::of as opt;
use proptest::prelude::*;
use serde_json::Value;

use super::strategies::{hub_class, hub_environment, hub_server, os, spoke_server};
use crate::metal::convert::{
    CONVERSION_DATA_ANNOTATION, convert_object, environment_to_v1alpha1, environment_to_v1alpha2,
    server_to_v1alpha1, server_to_v1alpha2, serverclass_to_v1alpha1, serverclass_to_v1alpha2,
};
use crate::metal::v1alpha1 as v1;

fn hub_json(hub: &impl serde::Serialize) -> Value {
    serde_json::to_value(hub).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn server_hub_round_trip(hub in hub_server()) {
        let back = server_to_v1alpha2(&server_to_v1alpha1(&hub).unwrap()).unwrap();
        prop_assert_eq!(&back, &hub);
        let json = hub_json(&hub);
        let down = convert_object(&json, "metal.sidero.dev/v1alpha1").unwrap();
        prop_assert_eq!(convert_object(&down, "metal.sidero.dev/v1alpha2").unwrap(), json);
    }

    #[test]
    fn serverclass_hub_round_trip(hub in hub_class()) {
        let back = serverclass_to_v1alpha2(&serverclass_to_v1alpha1(&hub).unwrap()).unwrap();
        prop_assert_eq!(&back, &hub);
        let json = hub_json(&hub);
        let down = convert_object(&json, "metal.sidero.dev/v1alpha1").unwrap();
        prop_assert_eq!(convert_object(&down, "metal.sidero.dev/v1alpha2").unwrap(), json);
    }

    #[test]
    fn environment_hub_round_trip(hub in hub_environment()) {
        let back = environment_to_v1alpha2(&environment_to_v1alpha1(&hub).unwrap()).unwrap();
        prop_assert_eq!(back, hub);
    }

    #[test]
    fn server_spoke_round_trip(spoke in spoke_server()) {
        let mut back = server_to_v1alpha1(&server_to_v1alpha2(&spoke).unwrap()).unwrap();
        if let Some(annotations) = back.metadata.annotations.as_mut() {
            annotations.remove(CONVERSION_DATA_ANNOTATION);
            if annotations.is_empty() {
                back.metadata.annotations = None;
            }
        }
        prop_assert_eq!(back, spoke);
    }

    #[test]
    fn serverclass_spoke_round_trip(hub in hub_class(), cpus in opt(vec((os(), os()), 1..3)), systems in opt(vec(os(), 1..3))) {
        let mut spoke = serverclass_to_v1alpha1(&hub).unwrap();
        spoke.metadata.annotations = hub.metadata.annotations.clone();
        spoke.spec.qualifiers.cpu = cpus.map(|c| c.into_iter().map(|(manufacturer, version)| v1::CpuInformation { manufacturer, version }).collect());
        spoke.spec.qualifiers.system_information = systems.map(|s| s.into_iter().map(|family| v1::SystemInformation { family, ..Default::default() }).collect());
        let mut back = serverclass_to_v1alpha1(&serverclass_to_v1alpha2(&spoke).unwrap()).unwrap();
        back.metadata.annotations = spoke.metadata.annotations.clone();
        prop_assert_eq!(back, spoke);
    }
}
