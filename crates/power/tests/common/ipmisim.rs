//! The real `ipmi_sim` BMC of `sidero-testenv` (loopback, recording hook).
#![allow(unused_imports)]

pub use sidero_testenv::ipmi_sim::{IpmiSim, PASSWORD, USER};
