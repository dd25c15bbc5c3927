//! The pure decision: request bytes in, a proxy reply or a typed reason to stay silent out.
//!
//! Spec §5.1, plus two documented extensions (see [`Ingress::PxeBootServer`] and
//! [`IpxeClientBoot::HttpScript`]). The reply never carries `yiaddr` or any lease option
//! (1, 3, 6, 51, 58, 59…): the site DHCP server owns addresses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode};
use dhcproto::{Encodable, Encoder};
use thiserror::Error;

use crate::classify::{Classification, FirmwareClass, classify};
use crate::packet::{BOOTREQUEST, MalformedPacket, Request};

/// DHCP message type DISCOVER.
const DISCOVER: u8 = 1;
/// DHCP message type REQUEST.
const REQUEST: u8 = 3;
/// Option 43: vendor-specific information (PXE sub-options).
const OPT_VENDOR: u8 = 43;
/// Option 60: vendor class identifier.
const OPT_VENDOR_CLASS: u8 = 60;
/// Option 61: client identifier (copied back, RFC 6842).
const OPT_CLIENT_ID: u8 = 61;
/// Option 82: relay agent information (copied back, RFC 3046).
const OPT_RELAY_INFO: u8 = 82;
/// PXE vendor sub-option 71: boot item (type and layer), echoed by a boot server.
const PXE_BOOT_ITEM: u8 = 71;
/// BOOTP minimum message size (RFC 1542 §2.1); shorter replies are padded.
const MIN_REPLY_LEN: usize = 300;

/// Which socket a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ingress {
    /// The DHCP port (67): only DISCOVERs are answered, with an OFFER (spec §5.1).
    Dhcp,
    /// The PXE boot server discovery port (4011): a client that got the proxy offer unicasts
    /// a REQUEST here (UEFI firmware retrying a "BINL" offer, BIOS ROMs doing boot server
    /// discovery); it is answered with an ACK carrying the same boot information.
    /// Upstream does not listen on 4011.
    PxeBootServer,
}

impl Ingress {
    /// A stable label: `dhcp` or `pxe`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ingress::Dhcp => "dhcp",
            Ingress::PxeBootServer => "pxe",
        }
    }
}

/// What to hand a client that is already running iPXE (user class `iPXE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpxeClientBoot {
    /// Upstream behaviour (the compatible default): only x86 BIOS clients running iPXE are
    /// special, they get `tftp://<server IP>/undionly.kpxe` (our iPXE build with the embedded
    /// script); UEFI clients running iPXE get the normal UEFI boot file.
    #[default]
    Upstream,
    /// Every PXE client running iPXE (BIOS or UEFI, x86 or ARM64) gets the script URL
    /// `http://<server IP>:<api port>/boot.ipxe` and no option 66. Saves a TFTP download and a
    /// second DHCP round, but the script then runs inside the NIC's own iPXE, whose command
    /// set (and HTTP support) we do not control.
    HttpScript,
}

impl FromStr for IpxeClientBoot {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "upstream" | "tftp" => Ok(IpxeClientBoot::Upstream),
            "http-script" | "http" => Ok(IpxeClientBoot::HttpScript),
            other => Err(format!(
                "unknown iPXE client boot mode {other:?} (expected \"upstream\" or \"http-script\")"
            )),
        }
    }
}

/// What the decision needs to know about this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The server IP put in `siaddr`, option 54, option 66 and the boot URLs: the first IPv4
    /// address `--api-endpoint` resolves to.
    pub server_ip: Ipv4Addr,
    /// The advertised HTTP port (`--api-port`, default 8081) used in HTTP boot URLs.
    pub api_port: u16,
    /// What clients already running iPXE get.
    pub ipxe_clients: IpxeClientBoot,
}

impl ProxyConfig {
    /// A configuration with upstream's behaviour for iPXE clients.
    pub fn new(server_ip: Ipv4Addr, api_port: u16) -> Self {
        ProxyConfig {
            server_ip,
            api_port,
            ipxe_clients: IpxeClientBoot::Upstream,
        }
    }

    /// The boot information for a classified client: (option 66, option 67).
    pub fn boot_info(&self, client: &Classification) -> (Option<String>, String) {
        let ip = self.server_ip;
        let http = |path: &str| format!("http://{ip}:{}/{path}", self.api_port);
        if client.ipxe && client.class.is_pxe() && self.ipxe_clients == IpxeClientBoot::HttpScript {
            return (None, http("boot.ipxe"));
        }
        let tftp = |file: &str| (Some(ip.to_string()), file.to_owned());
        match client.class {
            FirmwareClass::X86Bios => tftp("undionly.kpxe"),
            FirmwareClass::X86BiosIpxe => (None, format!("tftp://{ip}/undionly.kpxe")),
            FirmwareClass::X86Uefi => tftp("snp.efi"),
            FirmwareClass::Arm64Uefi => tftp("snp-arm64.efi"),
            FirmwareClass::X86UefiHttp => (None, http("tftp/snp.efi")),
            FirmwareClass::Arm64UefiHttp => (None, http("tftp/snp-arm64.efi")),
        }
    }
}

/// Why a packet got no answer. Every variant is expected traffic on a shared L2 segment and
/// is logged at debug level only.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Ignored {
    /// The bytes are not a readable DHCP packet, or a PXE option is malformed.
    #[error("malformed packet: {0}")]
    Malformed(#[from] MalformedPacket),
    /// The BOOTP op code is not BOOTREQUEST (for example another server's reply).
    #[error("not a BOOTREQUEST (op {op})")]
    NotBootRequest {
        /// The op code found.
        op: u8,
    },
    /// Not the message type answered on this port (DISCOVER on 67, REQUEST on 4011).
    #[error("message type {} is not answered on the {} port", MessageTypeName(*.found), .ingress.as_str())]
    WrongMessageType {
        /// The port the packet came in on.
        ingress: Ingress,
        /// The message type (option 53), if any.
        found: Option<u8>,
    },
    /// No option 93: not a PXE boot request.
    #[error("not a PXE boot request (missing option 93)")]
    NoArchitecture,
    /// None of the option 93 values is a supported architecture.
    #[error("unsupported client architecture {arches:?}")]
    UnsupportedArchitecture {
        /// The option 93 values sent.
        arches: Vec<u16>,
    },
    /// Option 97 is present but not 17 bytes with a leading zero.
    #[error("malformed client GUID (option 97): {len} bytes, leading byte {leading}")]
    BadMachineIdentifier {
        /// Length of the option.
        len: usize,
        /// Its first byte.
        leading: u8,
    },
    /// The reply could not be encoded (not expected to happen).
    #[error("cannot encode the reply: {0}")]
    Encode(String),
}

/// The reason of an [`Ignored`] without its details, for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IgnoreKind {
    /// [`Ignored::Malformed`].
    Malformed,
    /// [`Ignored::NotBootRequest`].
    NotBootRequest,
    /// [`Ignored::WrongMessageType`].
    WrongMessageType,
    /// [`Ignored::NoArchitecture`].
    NoArchitecture,
    /// [`Ignored::UnsupportedArchitecture`].
    UnsupportedArchitecture,
    /// [`Ignored::BadMachineIdentifier`].
    BadMachineIdentifier,
    /// [`Ignored::Encode`].
    Encode,
}

impl IgnoreKind {
    /// A stable snake-case label (for metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreKind::Malformed => "malformed",
            IgnoreKind::NotBootRequest => "not_boot_request",
            IgnoreKind::WrongMessageType => "wrong_message_type",
            IgnoreKind::NoArchitecture => "no_architecture",
            IgnoreKind::UnsupportedArchitecture => "unsupported_architecture",
            IgnoreKind::BadMachineIdentifier => "bad_machine_identifier",
            IgnoreKind::Encode => "encode",
        }
    }
}

impl Ignored {
    /// The reason without its details.
    pub fn kind(&self) -> IgnoreKind {
        match self {
            Ignored::Malformed(_) => IgnoreKind::Malformed,
            Ignored::NotBootRequest { .. } => IgnoreKind::NotBootRequest,
            Ignored::WrongMessageType { .. } => IgnoreKind::WrongMessageType,
            Ignored::NoArchitecture => IgnoreKind::NoArchitecture,
            Ignored::UnsupportedArchitecture { .. } => IgnoreKind::UnsupportedArchitecture,
            Ignored::BadMachineIdentifier { .. } => IgnoreKind::BadMachineIdentifier,
            Ignored::Encode(_) => IgnoreKind::Encode,
        }
    }
}

/// Prints a DHCP message type number by name.
struct MessageTypeName(Option<u8>);

impl fmt::Display for MessageTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("<none>"),
            Some(t) => write!(f, "{:?}", MessageType::from(t)),
        }
    }
}

/// A proxy reply, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply message (OFFER on port 67, ACK on port 4011), without the echoed option 82.
    pub message: Message,
    /// The encoded datagram (at least 300 bytes), with option 82 echoed last when the
    /// request came through a relay agent that added one.
    pub bytes: Vec<u8>,
    /// The request's classification.
    pub client: Classification,
    /// Option 67, the boot file name or URL.
    pub boot_file: String,
    /// Option 66, the TFTP server name, when the boot file is a TFTP file name.
    pub tftp_server: Option<String>,
}

/// Decides the answer to one datagram received on `ingress`.
pub fn respond(packet: &[u8], ingress: Ingress, config: &ProxyConfig) -> Result<Reply, Ignored> {
    respond_to(&Request::parse(packet)?, ingress, config)
}

/// Decides the answer to an already decoded request.
pub fn respond_to(
    request: &Request,
    ingress: Ingress,
    config: &ProxyConfig,
) -> Result<Reply, Ignored> {
    if request.op != BOOTREQUEST {
        return Err(Ignored::NotBootRequest { op: request.op });
    }
    let (wanted, reply_type) = match ingress {
        Ingress::Dhcp => (DISCOVER, MessageType::Offer),
        Ingress::PxeBootServer => (REQUEST, MessageType::Ack),
    };
    let found = request.message_type();
    if found != Some(wanted) {
        return Err(Ignored::WrongMessageType { ingress, found });
    }
    let client = classify(request)?;
    let (tftp_server, boot_file) = config.boot_info(&client);

    let mut msg = Message::default();
    msg.set_opcode(Opcode::BootReply)
        .set_htype(HType::from(request.htype))
        .set_xid(request.xid)
        .set_flags(Flags::from(request.flags))
        .set_giaddr(request.giaddr)
        .set_siaddr(config.server_ip)
        .set_chaddr(request.hardware_address());
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(reply_type));
    opts.insert(DhcpOption::ServerIdentifier(config.server_ip));
    let vendor_class = request
        .option(OPT_VENDOR_CLASS)
        .map_or_else(|| b"PXEClient".to_vec(), <[u8]>::to_vec);
    opts.insert(DhcpOption::ClassIdentifier(vendor_class));
    if let Some(guid) = &client.guid {
        opts.insert(DhcpOption::ClientMachineIdentifier(guid.clone()));
    }
    if let Some(id) = request.option(OPT_CLIENT_ID) {
        opts.insert(DhcpOption::ClientIdentifier(id.to_vec()));
    }
    if ingress == Ingress::PxeBootServer
        && let Some(item) = request.option(OPT_VENDOR).and_then(boot_item)
    {
        let mut vendor = vec![PXE_BOOT_ITEM, 4];
        vendor.extend_from_slice(&item);
        vendor.push(255);
        opts.insert(DhcpOption::VendorExtensions(vendor));
    }
    if let Some(server) = &tftp_server {
        opts.insert(DhcpOption::TFTPServerName(server.as_bytes().to_vec()));
    }
    opts.insert(DhcpOption::BootfileName(boot_file.as_bytes().to_vec()));

    // Option 82 is echoed byte for byte (RFC 3046 §2.2), so it is appended raw rather than
    // re-encoded from dhcproto's typed (and possibly lossy) decoding.
    let relay = request.option(OPT_RELAY_INFO);
    let bytes = encode(&msg, relay).map_err(|e| Ignored::Encode(e.to_string()))?;
    Ok(Reply {
        message: msg,
        bytes,
        client,
        boot_file,
        tftp_server,
    })
}

/// The PXE boot item (sub-option 71, 4 bytes) of an option 43 value, if there is one.
fn boot_item(vendor: &[u8]) -> Option<[u8; 4]> {
    let mut rest = vendor;
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            0 => rest = tail,
            255 => return None,
            _ => {
                let (&len, tail) = tail.split_first()?;
                let value = tail.get(..usize::from(len))?;
                if code == PXE_BOOT_ITEM {
                    return value.try_into().ok();
                }
                rest = tail.get(usize::from(len)..)?;
            }
        }
    }
    None
}

/// Encodes a reply, with `relay` (option 82) appended last, padded with zero bytes (`Pad`
/// options) to the BOOTP minimum size.
fn encode(msg: &Message, relay: Option<&[u8]>) -> Result<Vec<u8>, dhcproto::error::EncodeError> {
    let mut bytes = Vec::with_capacity(MIN_REPLY_LEN + 64);
    msg.encode(&mut Encoder::new(&mut bytes))?;
    if let Some(relay) = relay {
        // The message always has options, so the encoding ends with `End`.
        if bytes.last() == Some(&255) {
            bytes.pop();
        }
        for chunk in relay.chunks(255) {
            bytes.push(OPT_RELAY_INFO);
            bytes.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
            bytes.extend_from_slice(chunk);
        }
        bytes.push(255);
    }
    if bytes.len() < MIN_REPLY_LEN {
        bytes.resize(MIN_REPLY_LEN, 0);
    }
    Ok(bytes)
}
