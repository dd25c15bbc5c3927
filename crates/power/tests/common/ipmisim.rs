//! The real `ipmi_sim` BMC of `sidero-testenv` (loopback, recording hook).

pub use sidero_testenv::ipmi_sim::{IpmiSim, PASSWORD, USER};
