//! The sushy-tools Redfish emulator of `sidero-testenv` (loopback, fake driver, basic auth).
#![allow(unused_imports)]

pub use sidero_testenv::sushy::{PASS, Sushy, USER};
