//! DISCOVER and REQUEST messages, encoded with dhcproto.

use std::net::Ipv4Addr;

use dhcproto::Encodable;
pub use dhcproto::error::EncodeError;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};

/// Options the agent asks for.
pub const PARAMETERS: [OptionCode; 8] = [
    OptionCode::SubnetMask,
    OptionCode::Router,
    OptionCode::DomainNameServer,
    OptionCode::Hostname,
    OptionCode::InterfaceMtu,
    OptionCode::BroadcastAddr,
    OptionCode::ClasslessStaticRoute,
    OptionCode::AddressLeaseTime,
];

fn base(xid: u32, mac: [u8; 6], kind: MessageType) -> Message {
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(xid, zero, zero, zero, zero, &mac);
    m.set_flags(Flags::default().set_broadcast());
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    let mut client_id = vec![1u8];
    client_id.extend_from_slice(&mac);
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    opts.insert(DhcpOption::ParameterRequestList(PARAMETERS.to_vec()));
    opts.insert(DhcpOption::MaxMessageSize(1500));
    m
}

/// A DISCOVER from `mac` with transaction id `xid`.
pub fn discover(xid: u32, mac: [u8; 6]) -> Result<Vec<u8>, EncodeError> {
    base(xid, mac, MessageType::Discover).to_vec()
}

/// A REQUEST for `address` offered by `server` (selecting state, RFC 2131 §4.3.2).
pub fn request(
    xid: u32,
    mac: [u8; 6],
    address: Ipv4Addr,
    server: Ipv4Addr,
) -> Result<Vec<u8>, EncodeError> {
    let mut m = base(xid, mac, MessageType::Request);
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(address));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    m.to_vec()
}
