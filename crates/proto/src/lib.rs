//! Protocol Buffers of Sidero Metal's gRPC APIs, wire-compatible with upstream v0.6.13.
//!
//! The `.proto` files in `proto/` are ours, written from the specification (same packages,
//! services, method names and field numbers as upstream). `build.rs` compiles them with protox,
//! so no `protoc` is needed, and generates prost messages with tonic clients and servers.
//!
//! One module per proto package:
//!
//! * [`api`]: package `api`, service `Agent` (spec §7.1), called by the discovery agent on
//!   sidero-controller-manager's combined listener.
//! * [`sidero::link`]: package `sidero.link`, service `ProvisionService` (spec §8.1), called
//!   by Talos nodes to join SideroLink.
//! * [`events`]: package `events`, service `EventSinkService` (spec §8.6), where Talos nodes
//!   publish their events.
//! * [`machine`] and [`common`]: the Talos event messages the sink decodes (spec §8.6).
//!
//! [`FILE_DESCRIPTOR_SET`] holds the encoded descriptors of every file, for tests and gRPC
//! reflection.

use std::fmt;

/// Package `api`: the Agent service and its messages.
///
/// Generated code. Clients are in `agent_client`, the server trait and service in
/// `agent_server`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/api.rs"));
}

/// Package `sidero.link`.
pub mod sidero {
    /// Package `sidero.link`: SideroLink provisioning. Generated code; the client is in
    /// `provision_service_client`, the server in `provision_service_server`.
    #[allow(
        missing_docs,
        clippy::all,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )]
    pub mod link {
        include!(concat!(env!("OUT_DIR"), "/sidero.link.rs"));
    }
}

/// Package `events`: the Talos events sink. Generated code; the client is in
/// `event_sink_service_client`, the server in `event_sink_service_server`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod events {
    include!(concat!(env!("OUT_DIR"), "/events.rs"));
}

/// Package `machine`: the Talos machine events Sidero decodes. Generated code.
#[allow(
    missing_docs,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod machine {
    include!(concat!(env!("OUT_DIR"), "/machine.rs"));
}

/// Package `common`: Talos' error type carried by events. Generated code.
#[allow(
    missing_docs,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod common {
    include!(concat!(env!("OUT_DIR"), "/common.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of every file in `proto/`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// Full gRPC name of the Agent service.
pub const AGENT_SERVICE: &str = "api.Agent";

/// Full gRPC name of the SideroLink provisioning service.
pub const PROVISION_SERVICE: &str = "sidero.link.ProvisionService";

/// Full gRPC name of the Talos events sink service.
pub const EVENT_SINK_SERVICE: &str = "events.EventSinkService";

/// `type_url` prefix of messages packed in `google.protobuf.Any`.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

impl fmt::Debug for api::BmcInfo {
    /// Like the derived `Debug`, but the password is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = if self.pass.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("BmcInfo")
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("pass", &pass)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::api;

    #[test]
    fn bmc_info_debug_redacts_the_password() {
        let info = api::BmcInfo {
            ip: "10.0.0.9".into(),
            port: 623,
            user: "sidero".into(),
            pass: "hunter2-secret".into(),
        };
        let req = api::UpdateBmcInfoRequest {
            uuid: "u".into(),
            bmc_info: Some(info),
        };
        let text = format!("{req:?} {req:#?}");
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("sidero") && text.contains("10.0.0.9")
        );
        let empty = format!("{:?}", api::BmcInfo::default());
        assert!(!empty.contains("<redacted>"), "{empty}");
    }

    #[test]
    fn storage_type_names_are_the_proto_names() {
        use api::StorageType as T;
        let names: Vec<_> = [T::Unknown, T::Ssd, T::Hdd, T::NvMe, T::Sd]
            .iter()
            .map(|t| t.as_str_name())
            .collect();
        assert_eq!(names, ["Unknown", "SSD", "HDD", "NVMe", "SD"]);
    }
}
