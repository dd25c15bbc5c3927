//! DISCOVER and REQUEST messages, encoded by hand (RFC 2131 §2 header, RFC 2132 options).
//!
//! Not with dhcproto: its `Message` constructors draw a random transaction id through `rand`
//! even when given one, and `rand` seeds from `getrandom(2)`, which blocks until the kernel's
//! random pool is initialized. Early in a boot on a machine without a hardware random source
//! (QEMU's default CPU, old servers) that never happened: the agent hung silently before its
//! first DISCOVER. The messages are small and fixed; the tests decode them with dhcproto.

use std::net::Ipv4Addr;

/// Options the agent asks for.
pub const PARAMETERS: [u8; 8] = [
    1,   // subnet mask
    3,   // router
    6,   // domain name servers
    12,  // hostname
    26,  // interface MTU
    28,  // broadcast address
    121, // classless static routes
    51,  // address lease time
];

/// Largest DHCP message the agent accepts (option 57).
pub const MAX_MESSAGE_SIZE: u16 = 1500;

/// DHCP message types (option 53) the agent sends.
const DHCPDISCOVER: u8 = 1;
const DHCPREQUEST: u8 = 3;

/// The BOOTP header (236 bytes), the magic cookie and the options every message carries.
fn base(xid: u32, mac: [u8; 6], kind: u8) -> Vec<u8> {
    let mut m = vec![0u8; 236];
    m[0] = 1; // op: BOOTREQUEST
    m[1] = 1; // htype: Ethernet
    m[2] = 6; // hlen
    m[4..8].copy_from_slice(&xid.to_be_bytes());
    m[10] = 0x80; // flags: broadcast (no address to receive unicast on yet)
    m[28..34].copy_from_slice(&mac);
    m.extend_from_slice(&[99, 130, 83, 99]); // magic cookie
    m.extend_from_slice(&[53, 1, kind]);
    m.extend_from_slice(&[61, 7, 1]); // client identifier: hardware type 1 + MAC
    m.extend_from_slice(&mac);
    m.extend_from_slice(&[55, PARAMETERS.len() as u8]);
    m.extend_from_slice(&PARAMETERS);
    m.push(57);
    m.push(2);
    m.extend_from_slice(&MAX_MESSAGE_SIZE.to_be_bytes());
    m
}

fn finish(mut m: Vec<u8>) -> Vec<u8> {
    m.push(255); // end
    m
}

/// A DISCOVER from `mac` with transaction id `xid`.
pub fn discover(xid: u32, mac: [u8; 6]) -> Vec<u8> {
    finish(base(xid, mac, DHCPDISCOVER))
}

/// A REQUEST for `address` offered by `server` (selecting state, RFC 2131 §4.3.2).
pub fn request(xid: u32, mac: [u8; 6], address: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    let mut m = base(xid, mac, DHCPREQUEST);
    m.extend_from_slice(&[50, 4]);
    m.extend_from_slice(&address.octets());
    m.extend_from_slice(&[54, 4]);
    m.extend_from_slice(&server.octets());
    finish(m)
}
