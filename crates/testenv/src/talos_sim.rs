//! A Talos node simulator for SideroLink tests. Given the kernel arguments Sidero hands a
//! node (`siderolink.api=`, `talos.events.sink=`, `talos.logging.kernel=`), it does what Talos
//! does with them: calls `sidero.link.ProvisionService/Provision` with a fresh WireGuard key,
//! brings up its side of the tunnel (userspace WireGuard, inside a network namespace the test
//! created), streams kernel-log JSON lines to the log receiver and publishes machine events to
//! the events sink, both through the tunnel.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use prost::{Message, Name};
use prost_types::Any;
use sidero_proto::events::EventRequest;
use sidero_proto::events::event_sink_service_client::EventSinkServiceClient;
use sidero_proto::sidero::link::ProvisionRequest;
use sidero_proto::sidero::link::provision_service_client::ProvisionServiceClient;
use sidero_proto::{common, machine};
use sidero_siderolink::wireguard::{Device, DeviceConfig, Mode, PeerConfig};
use tokio::io::AsyncWriteExt;

use crate::Error;
use crate::netns::connect_in;

fn sim_err(what: &str) -> impl FnOnce(String) -> Error + '_ {
    move |e| Error::Process(format!("talos simulator: {what}: {e}"))
}

/// The SideroLink kernel arguments of a Talos node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelArgs {
    /// `siderolink.api`: `host:port` of the Provision API (insecure gRPC).
    pub api: String,
    /// `talos.events.sink`: `[addr]:port` of the events sink.
    pub events_sink: SocketAddr,
    /// `talos.logging.kernel`: `tcp://[addr]:port` of the log receiver.
    pub kernel_log: SocketAddr,
}

impl KernelArgs {
    /// Picks the three arguments out of a kernel command line.
    pub fn parse(cmdline: &str) -> Result<KernelArgs, Error> {
        let get = |key: &str| {
            cmdline
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .ok_or_else(|| Error::Process(format!("kernel args: no {key}= in {cmdline:?}")))
        };
        let api = get("siderolink.api")?;
        let api = api.strip_prefix("grpc://").unwrap_or(api).to_string();
        let addr = |s: &str, key: &str| {
            s.parse::<SocketAddr>()
                .map_err(|e| Error::Process(format!("kernel args: {key}={s}: {e}")))
        };
        let events_sink = addr(get("talos.events.sink")?, "talos.events.sink")?;
        let kernel_log = get("talos.logging.kernel")?;
        let kernel_log = addr(
            kernel_log.strip_prefix("tcp://").unwrap_or(kernel_log),
            "talos.logging.kernel",
        )?;
        Ok(KernelArgs {
            api,
            events_sink,
            kernel_log,
        })
    }
}

/// A joined node: its tunnel is up in its namespace.
pub struct TalosNode {
    /// SMBIOS UUID (the ServerBinding name).
    pub uuid: String,
    /// The node's WireGuard public key.
    pub public_key: String,
    /// The node's tunnel address.
    pub address: Ipv6Addr,
    /// Sidero's tunnel address.
    pub server_address: Ipv6Addr,
    /// The node's WireGuard device.
    pub device: Device,
    netns: String,
    args: KernelArgs,
}

impl TalosNode {
    /// Provisions `uuid` through `args.api` (dialled from inside namespace `netns`, as a node
    /// reaches Sidero over its LAN), then creates WireGuard interface `ifname` there with
    /// Sidero as its only peer (keepalive 1 s, so the handshake happens at once).
    pub async fn join(
        args: KernelArgs,
        uuid: &str,
        netns: &str,
        ifname: &str,
    ) -> Result<TalosNode, Error> {
        let private_key =
            sidero_siderolink::generate_key().map_err(|e| sim_err("key")(e.to_string()))?;
        let public_key = sidero_siderolink::key::public_key(&private_key)
            .map_err(|e| sim_err("key")(e.to_string()))?;
        let api: SocketAddr = args
            .api
            .parse()
            .map_err(|e: std::net::AddrParseError| sim_err("siderolink.api")(e.to_string()))?;
        let channel = channel_in(netns, api)
            .await
            .map_err(|e| sim_err("connecting to siderolink.api")(e.to_string()))?;
        let mut client = ProvisionServiceClient::new(channel);
        let resp = client
            .provision(ProvisionRequest {
                node_uuid: uuid.to_string(),
                node_public_key: public_key.clone(),
                talos_version: Some("v1.13.0".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| sim_err("Provision")(e.to_string()))?
            .into_inner();
        let (address, len) = sidero_siderolink::provision::parse_prefix(&resp.node_address_prefix)
            .ok_or_else(|| sim_err("node_address_prefix")(resp.node_address_prefix.clone()))?;
        let server_address: Ipv6Addr = resp
            .server_address
            .parse()
            .map_err(|e: std::net::AddrParseError| sim_err("server_address")(e.to_string()))?;
        let endpoint: SocketAddr = resp
            .server_endpoint
            .first()
            .ok_or_else(|| sim_err("server_endpoint")("empty".into()))?
            .parse()
            .map_err(|e: std::net::AddrParseError| sim_err("server_endpoint")(e.to_string()))?;
        let config = DeviceConfig {
            name: ifname.to_string(),
            private_key,
            address: (IpAddr::V6(address), len),
            listen_port: 0,
            mode: Mode::Userspace,
        };
        let device = crate::netns::run_in(netns, move || Device::create_blocking(config))?
            .map_err(|e| sim_err("WireGuard device")(e.to_string()))?;
        let server = PeerConfig {
            public_key: resp.server_public_key.clone(),
            allowed_ips: vec![(IpAddr::V6(server_address), 128)],
            endpoint: Some(endpoint),
            keepalive: Some(1),
        };
        device
            .set_peers(BTreeMap::from([(resp.server_public_key, server)]))
            .await
            .map_err(|e| sim_err("WireGuard peer")(e.to_string()))?;
        Ok(TalosNode {
            uuid: uuid.to_string(),
            public_key,
            address,
            server_address,
            device,
            netns: netns.to_string(),
            args,
        })
    }

    /// Streams `lines` (each a JSON object, no newline) to the log receiver over the tunnel,
    /// one per line, then closes the connection.
    pub async fn stream_logs(&self, lines: impl IntoIterator<Item = String>) -> Result<(), Error> {
        let mut s = connect_in(&self.netns, self.args.kernel_log, Duration::from_secs(10))
            .await
            .map_err(|e| sim_err("connecting to talos.logging.kernel")(e.to_string()))?;
        let mut buf = Vec::with_capacity(64 * 1024);
        for line in lines {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            if buf.len() >= 32 * 1024 {
                s.write_all(&buf)
                    .await
                    .map_err(|e| sim_err("writing logs")(e.to_string()))?;
                buf.clear();
            }
        }
        s.write_all(&buf)
            .await
            .map_err(|e| sim_err("writing logs")(e.to_string()))?;
        s.shutdown()
            .await
            .map_err(|e| sim_err("closing logs")(e.to_string()))
    }

    /// Publishes `events` in order to the events sink over the tunnel.
    pub async fn publish(&self, events: Vec<Any>) -> Result<(), Error> {
        let channel = channel_in(&self.netns, self.args.events_sink)
            .await
            .map_err(|e| sim_err("connecting to talos.events.sink")(e.to_string()))?;
        let mut client = EventSinkServiceClient::new(channel);
        for (i, data) in events.into_iter().enumerate() {
            client
                .publish(EventRequest {
                    data: Some(data),
                    id: format!("sim{i:016}"),
                    actor_id: String::new(),
                })
                .await
                .map_err(|e| sim_err("Publish")(e.to_string()))?;
        }
        Ok(())
    }
}

/// An insecure gRPC channel to `addr` whose connections are made inside namespace `netns`.
async fn channel_in(
    netns: &str,
    addr: SocketAddr,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let ns = netns.to_string();
    tonic::transport::Endpoint::from_static("http://siderolink.test")
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let ns = ns.clone();
            async move {
                connect_in(&ns, addr, Duration::from_secs(10))
                    .await
                    .map(hyper_util::rt::TokioIo::new)
            }
        }))
        .await
}

/// A Talos kmsg JSON line (the fields Talos sends for `talos.logging.kernel`).
pub fn kmsg_line(seq: u64, msg: &str) -> String {
    serde_json::json!({
        "clock": 1_000_000 + seq * 10,
        "facility": "kern",
        "msg": msg,
        "priority": "info",
        "seq": seq,
        "talos-level": "info",
        "talos-time": "2026-11-25T12:00:00.000000001Z",
    })
    .to_string()
}

/// Packs a Talos event.
pub fn pack<M: Message + Name>(m: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: m.encode_to_vec(),
    }
}

/// The events of a successful install and first boot, in Talos' order: addresses, config
/// saved, install started, the install sequence ending in the reboot "error", then boot.
pub fn install_events(hostname: &str, addresses: &[&str]) -> Vec<Any> {
    use machine::{phase_event, sequence_event};
    let phase = |p: &str, a: phase_event::Action| {
        pack(&machine::PhaseEvent {
            phase: p.into(),
            action: a as i32,
        })
    };
    vec![
        pack(&machine::AddressEvent {
            hostname: hostname.into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }),
        pack(&machine::SequenceEvent {
            sequence: "install".into(),
            action: sequence_event::Action::Start as i32,
            error: None,
        }),
        phase("saveConfig", phase_event::Action::Start),
        pack(&machine::TaskEvent {
            task: "saveConfig".into(),
            action: 0,
        }),
        phase("saveConfig", phase_event::Action::Stop),
        phase("install", phase_event::Action::Start),
        pack(&machine::ServiceStateEvent {
            service: "machined".into(),
            action: 3,
            message: "Running".into(),
            health: None,
        }),
        phase("install", phase_event::Action::Stop),
        pack(&machine::SequenceEvent {
            sequence: "install".into(),
            action: sequence_event::Action::Noop as i32,
            error: Some(common::Error {
                code: common::Code::Fatal as i32,
                message: "error rebooting: unix.Reboot: operation not permitted".into(),
                details: vec![],
            }),
        }),
        pack(&machine::SequenceEvent {
            sequence: "boot".into(),
            action: sequence_event::Action::Start as i32,
            error: None,
        }),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn kernel_args_parse() {
        let a = KernelArgs::parse(
            "console=ttyS0 siderolink.api=10.5.0.1:8081 talos.events.sink=[fdae:2859:5bb1:7a03::1]:4002 talos.logging.kernel=tcp://[fdae:2859:5bb1:7a03::1]:4001",
        )
        .unwrap();
        assert_eq!(a.api, "10.5.0.1:8081");
        assert_eq!(a.events_sink.to_string(), "[fdae:2859:5bb1:7a03::1]:4002");
        assert_eq!(a.kernel_log.port(), 4001);
        assert!(KernelArgs::parse("siderolink.api=x").is_err());
    }
}
