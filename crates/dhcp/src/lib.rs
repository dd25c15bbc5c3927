//! Proxy DHCP for Sidero network boot (spec §5.1, §10.4).
//!
//! The proxy answers PXE clients with boot information only — next server, TFTP server name
//! and boot file by client firmware — and never leases addresses: the site DHCP server keeps
//! doing IPAM, and both answer the same DISCOVER on the same L2 segment (the client merges
//! the address offer with our boot offer).
//!
//! * [`respond`] is the pure decision: datagram bytes in, a [`Reply`] or a typed [`Ignored`]
//!   reason out. It never panics on any input.
//! * [`ProxyServer`] binds UDP 67 and 4011 (configurable, optionally to one interface) and
//!   answers until a shutdown future completes, reporting to a [`ProxyMetrics`] hook.
//!
//! Beyond upstream v0.6.13: REQUESTs on the PXE boot server port 4011 get an ACK with the
//! same boot information ([`Ingress::PxeBootServer`]); clients already running iPXE can be
//! handed the HTTP script URL `/boot.ipxe` ([`IpxeClientBoot::HttpScript`], off by default);
//! replies carry option 53 and 54 and echo options 61 and 82.

mod classify;
mod metrics;
mod net;
mod packet;
mod respond;
mod server;

pub use classify::{
    Classification, FirmwareClass, OPT_CLIENT_ARCH, OPT_CLIENT_GUID, OPT_USER_CLASS, classify,
    first_user_class, guid_uuid,
};
pub use metrics::{CountingMetrics, Counts, NoMetrics, Offered, ProxyMetrics};
pub use net::{SetupError, bind_udp, interface_for_ip, resolve_endpoint};
pub use packet::{BOOTREPLY, BOOTREQUEST, MAGIC_COOKIE, MalformedPacket, Request};
pub use respond::{
    IgnoreKind, Ignored, Ingress, IpxeClientBoot, ProxyConfig, Reply, respond, respond_to,
};
pub use server::{
    DHCP_CLIENT_PORT, DHCP_PORT, PXE_PORT, ProxyServer, ServerConfig, reply_destination,
};

/// The DHCP codec used for replies, re-exported so callers and tests can build and read
/// messages with the same version.
pub use dhcproto;
