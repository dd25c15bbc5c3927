//! A Talos node simulator for SideroLink tests. It boots as a Talos node does after iPXE:
//! fetches `/ipxe?uuid=…&mac=…` ([`boot`]) and takes its kernel arguments from the script
//! (`talos.config=`, `siderolink.api=`, `talos.events.sink=`, `talos.logging.kernel=`),
//! fetches its machine config from the `talos.config` URL with its UUID filled in (the URL
//! carries the per-boot token `/ipxe` put there), then does what Talos does with the rest:
//! calls `sidero.link.ProvisionService/Provision` with a fresh WireGuard key,
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
    /// `talos.config`: the machine config URL (with an empty `uuid=` Talos fills in), when
    /// the command line has one.
    pub config: Option<String>,
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
            config: get("talos.config").ok().map(str::to_string),
        })
    }

    /// The kernel arguments of an iPXE boot script: the words after the image of its
    /// `kernel` line.
    pub fn from_ipxe_script(script: &str) -> Result<KernelArgs, Error> {
        let line = script
            .lines()
            .find_map(|l| l.trim().strip_prefix("kernel "))
            .ok_or_else(|| Error::Process(format!("no kernel line in iPXE script {script:?}")))?;
        let args = line
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ");
        KernelArgs::parse(&args)
    }
}

/// `url` with its `uuid` query parameter set to `uuid` (appended when absent), as Talos fills
/// in the empty `uuid=` of `talos.config` with its SMBIOS UUID.
pub fn fill_uuid(url: &str, uuid: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut found = false;
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p == "uuid" || p.starts_with("uuid=") {
                found = true;
                format!("uuid={uuid}")
            } else {
                p.to_string()
            }
        })
        .collect();
    if !found {
        parts.push(format!("uuid={uuid}"));
    }
    format!("{base}?{}", parts.join("&"))
}

/// An HTTP/1.0 GET of `http://<addr><path>` made from inside namespace `netns`: status and body.
pub async fn http_get_in(
    netns: &str,
    addr: SocketAddr,
    path: &str,
) -> Result<(u16, String), Error> {
    use tokio::io::AsyncReadExt;
    let mut s = connect_in(netns, addr, Duration::from_secs(10))
        .await
        .map_err(|e| sim_err("HTTP connect")(format!("{addr}: {e}")))?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: talos-sim\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| sim_err("HTTP request")(e.to_string()))?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .map_err(|_| sim_err("HTTP response")(format!("GET {path}: timed out")))?
        .map_err(|e| sim_err("HTTP response")(e.to_string()))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| sim_err("HTTP response")(format!("GET {path}: no header end")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| sim_err("HTTP response")(format!("GET {path}: status line {head:?}")))?;
    Ok((status, body.to_string()))
}

/// What a node got from Sidero's HTTP boot endpoints before joining SideroLink.
#[derive(Clone, Debug)]
pub struct Boot {
    /// The `/ipxe` script.
    pub script: String,
    /// Its kernel arguments.
    pub args: KernelArgs,
    /// The machine config fetched from `talos.config`.
    pub config: String,
}

/// Boots node `uuid` (boot NIC `mac`) from inside `netns` as iPXE and Talos do: `/ipxe` on
/// `http` (the address the embedded script chains to), then the `talos.config` URL with the
/// UUID filled in. A non-200 answer is an error naming the step.
pub async fn boot(netns: &str, http: SocketAddr, uuid: &str, mac: &str) -> Result<Boot, Error> {
    let (status, script) = http_get_in(
        netns,
        http,
        &format!("/ipxe?uuid={uuid}&mac={mac}&domain=&hostname=&serial=&arch=x86_64"),
    )
    .await?;
    if status != 200 {
        return Err(sim_err("/ipxe")(format!("{status}: {script}")));
    }
    let args = KernelArgs::from_ipxe_script(&script)?;
    let url = args
        .config
        .as_deref()
        .ok_or_else(|| sim_err("kernel args")(format!("no talos.config in {script:?}")))?;
    let url = fill_uuid(url, uuid);
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| sim_err("talos.config")(format!("not an http URL: {url}")))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr: SocketAddr = authority
        .parse()
        .map_err(|e: std::net::AddrParseError| sim_err("talos.config")(format!("{url}: {e}")))?;
    let (status, config) = http_get_in(netns, addr, &format!("/{path}")).await?;
    if status != 200 {
        return Err(sim_err("talos.config")(format!(
            "{url}: {status}: {config}"
        )));
    }
    Ok(Boot {
        script,
        args,
        config,
    })
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
        assert_eq!(a.config, None);
        assert!(KernelArgs::parse("siderolink.api=x").is_err());
    }

    #[test]
    fn kernel_args_from_an_ipxe_script() {
        let script = "#!ipxe\nkernel /env/t/vmlinuz  console=ttyS0 talos.config=http://10.0.0.1:8081/configdata?token=abc&uuid= siderolink.api=10.0.0.1:8081 talos.logging.kernel=tcp://[fd00::1]:4001 talos.events.sink=[fd00::1]:4002\ninitrd /env/t/initramfs.xz\nboot\n";
        let a = KernelArgs::from_ipxe_script(script).unwrap();
        assert_eq!(a.api, "10.0.0.1:8081");
        assert_eq!(
            a.config.as_deref(),
            Some("http://10.0.0.1:8081/configdata?token=abc&uuid=")
        );
        assert!(KernelArgs::from_ipxe_script("#!ipxe\nexit\n").is_err());
    }

    #[test]
    fn talos_fills_in_the_uuid() {
        let rows = [
            (
                "http://h/configdata?token=t&uuid=",
                "http://h/configdata?token=t&uuid=u1",
            ),
            ("http://h/configdata?uuid=", "http://h/configdata?uuid=u1"),
            ("http://h/configdata", "http://h/configdata?uuid=u1"),
            ("http://h/c?uuid=old&x=1", "http://h/c?uuid=u1&x=1"),
        ];
        for (url, want) in rows {
            assert_eq!(fill_uuid(url, "u1"), want);
        }
    }
}
