//! Unit tests of the `metal.sidero.dev` types, CRDs and conversions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod convert;
mod crd;
mod hardware_strategies;
mod helpers;
mod props;
mod samples;
mod strategies;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses `yaml` into `T`, serializes it to JSON and checks nothing was lost or added.
fn assert_yaml_round_trip<T: DeserializeOwned + Serialize>(yaml: &str) -> T {
    let typed: T = serde_saphyr::from_str(yaml).unwrap();
    let expected: Value = serde_saphyr::from_str(yaml).unwrap();
    let actual = serde_json::to_value(&typed).unwrap();
    assert_eq!(actual, expected, "round trip changed the object");
    typed
}
