//! sidero-controller-manager: the bare-metal facing half of Sidero Metal.

pub mod agent;
pub mod config;
pub mod controllers;
pub mod http;
pub mod identity;
pub mod ipxe;
pub mod metrics;
pub mod power_flags;
pub mod siderolink;
pub mod timeline;
