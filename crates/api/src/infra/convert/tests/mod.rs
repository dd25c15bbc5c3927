//! Conversion tests: every mapping of spec §2.8, the annotation convention, and lossless
//! v1alpha3 → v1alpha2 → v1alpha3 round trips (proptest).

mod mapping;
mod roundtrip;
