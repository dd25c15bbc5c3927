//! Packet builders shared by the integration tests (requests are built with dhcproto, the way
//! a client library would, and encoded to bytes).
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::Ipv4Addr;

use sidero_dhcp::dhcproto::v4::{
    DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption,
};
use sidero_dhcp::dhcproto::{Decodable, Decoder, Encodable, Encoder};
use sidero_dhcp::{IpxeClientBoot, ProxyConfig};

pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 5);
pub const API_PORT: u16 = 8081;
pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const XID: u32 = 0x1234_5678;

/// A valid PXE GUID: 17 bytes, leading 0.
pub fn guid() -> Vec<u8> {
    let mut g = vec![0u8];
    g.extend(1..=16u8);
    g
}

pub fn config() -> ProxyConfig {
    ProxyConfig::new(SERVER_IP, API_PORT)
}

pub fn http_script_config() -> ProxyConfig {
    ProxyConfig {
        ipxe_clients: IpxeClientBoot::HttpScript,
        ..config()
    }
}

/// A DHCP request of `mtype` with option 93 = `arches` (none when empty).
pub fn request(mtype: MessageType, arches: &[u16]) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootRequest)
        .set_xid(XID)
        .set_flags(Flags::default().set_broadcast())
        .set_chaddr(&MAC);
    m.opts_mut().insert(DhcpOption::MessageType(mtype));
    if !arches.is_empty() {
        set_raw(
            &mut m,
            93,
            arches.iter().flat_map(|a| a.to_be_bytes()).collect(),
        );
    }
    m
}

/// A DISCOVER as PXE firmware sends it: option 93, 60 `PXEClient:Arch:…`, 97 GUID.
pub fn pxe_discover(arch: u16) -> Message {
    let mut m = request(MessageType::Discover, &[arch]);
    let class = format!("PXEClient:Arch:{arch:05}:UNDI:003016");
    m.opts_mut()
        .insert(DhcpOption::ClassIdentifier(class.into_bytes()));
    m.opts_mut()
        .insert(DhcpOption::ClientMachineIdentifier(guid()));
    m
}

/// Sets option `code` to raw bytes.
pub fn set_raw(m: &mut Message, code: u8, data: Vec<u8>) {
    m.opts_mut().insert(DhcpOption::Unknown(UnknownOption::new(
        OptionCode::from(code),
        data,
    )));
}

pub fn with_user_class(mut m: Message, value: &[u8]) -> Message {
    m.opts_mut().insert(DhcpOption::UserClass(value.to_vec()));
    m
}

pub fn encode(m: &Message) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut Encoder::new(&mut buf)).unwrap();
    buf
}

/// Encodes `m` with a raw option appended after the others. (dhcproto encodes an option 82
/// held as raw bytes twice, so relay information is added this way.)
pub fn encode_with_raw(m: &Message, code: u8, data: &[u8]) -> Vec<u8> {
    let mut buf = encode(m);
    assert_eq!(buf.pop(), Some(255));
    buf.push(code);
    buf.push(data.len() as u8);
    buf.extend_from_slice(data);
    buf.push(255);
    buf
}

pub fn decode(bytes: &[u8]) -> Message {
    Message::decode(&mut Decoder::new(bytes)).unwrap()
}

/// The raw bytes of option `code` in a reply, as encoded on the wire.
pub fn opt_bytes(m: &Message, code: u8) -> Option<Vec<u8>> {
    let opt = m.opts().get(OptionCode::from(code))?;
    let mut buf = Vec::new();
    opt.encode(&mut Encoder::new(&mut buf)).unwrap();
    // Strip code and length (every option in our replies is shorter than 256 bytes).
    Some(buf[2..].to_vec())
}

pub fn opt_string(m: &Message, code: u8) -> Option<String> {
    opt_bytes(m, code).map(|b| String::from_utf8(b).unwrap())
}
