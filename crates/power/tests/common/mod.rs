//! Shared test support.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

pub mod fake_bmc;
pub mod ipmisim;
pub mod sushy;
