//! Parsing a server's BOOTREPLY (RFC 2131/2132, classless routes RFC 3442). Every length is
//! checked against the bytes present; unknown options are skipped; an option that does not fit
//! or is malformed is an error for the options we use and ignored otherwise.

use std::net::Ipv4Addr;

/// Fixed BOOTP header length, up to the magic cookie.
const HEADER: usize = 236;
const COOKIE: [u8; 4] = [99, 130, 83, 99];

/// DHCP message types the client cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
    /// Anything else (a client message echoed, DHCPINFORM …).
    Other(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> MessageType {
        match v {
            2 => MessageType::Offer,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            n => MessageType::Other(n),
        }
    }
}

/// One route from option 121 (or a default route from option 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Destination prefix length (0 = default route).
    pub prefix: u8,
    /// Next hop; 0.0.0.0 means on-link.
    pub gateway: Ipv4Addr,
}

/// What a lease gives the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `yiaddr`.
    pub address: Ipv4Addr,
    /// Prefix length from option 1 (24 when the server sends no mask).
    pub prefix: u8,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 121.
    pub classless_routes: Vec<Route>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 26.
    pub mtu: Option<u16>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
}

impl Default for Lease {
    fn default() -> Lease {
        Lease {
            address: Ipv4Addr::UNSPECIFIED,
            prefix: 24,
            routers: Vec::new(),
            classless_routes: Vec::new(),
            dns: Vec::new(),
            mtu: None,
            hostname: None,
            lease_secs: None,
            server_id: None,
        }
    }
}

impl Lease {
    /// Routes to install: the classless static routes when present (RFC 3442 says option 3
    /// is then ignored), else a default route via each router.
    pub fn routes(&self) -> Vec<Route> {
        if !self.classless_routes.is_empty() {
            return self.classless_routes.clone();
        }
        self.routers
            .iter()
            .map(|r| Route {
                destination: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                gateway: *r,
            })
            .collect()
    }
}

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Transaction id.
    pub xid: u32,
    /// Client hardware address (first 6 bytes of `chaddr`).
    pub chaddr: [u8; 6],
    /// Option 53.
    pub kind: MessageType,
    /// The lease it offers or acknowledges.
    pub lease: Lease,
}

/// Why a reply was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Shorter than the BOOTP header and cookie.
    #[error("packet too short ({0} bytes)")]
    Short(usize),
    /// `op` is not BOOTREPLY.
    #[error("not a BOOTREPLY (op {0})")]
    NotReply(u8),
    /// Wrong magic cookie.
    #[error("no DHCP magic cookie")]
    NoCookie,
    /// No option 53.
    #[error("no DHCP message type")]
    NoMessageType,
    /// An option runs past the packet.
    #[error("option {code} runs past the end of the packet")]
    Truncated {
        /// Option code.
        code: u8,
    },
    /// An option we use has a bad length or content.
    #[error("option {code} is malformed")]
    Malformed {
        /// Option code.
        code: u8,
    },
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

fn ipv4_list(b: &[u8]) -> Option<Vec<Ipv4Addr>> {
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return None;
    }
    b.chunks_exact(4).map(ipv4).collect()
}

/// Prefix length of a contiguous netmask.
fn prefix_of(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then(|| u8::try_from(ones).unwrap_or(32))
}

/// RFC 3442: width byte, then ceil(width/8) significant destination octets, then the router.
fn classless(mut b: &[u8]) -> Option<Vec<Route>> {
    let mut out = Vec::new();
    while let Some((&width, rest)) = b.split_first() {
        if width > 32 {
            return None;
        }
        let n = usize::from(width).div_ceil(8);
        let dest = rest.get(..n)?;
        let gw = ipv4(rest.get(n..n + 4)?)?;
        let mut d = [0u8; 4];
        d.get_mut(..n)?.copy_from_slice(dest);
        out.push(Route {
            destination: Ipv4Addr::from(d),
            prefix: width,
            gateway: gw,
        });
        b = rest.get(n + 4..)?;
    }
    Some(out)
}

/// Parses a reply.
pub fn parse(p: &[u8]) -> Result<Reply, ReplyError> {
    let header = p.get(..HEADER + 4).ok_or(ReplyError::Short(p.len()))?;
    let op = header.first().copied().unwrap_or(0);
    if op != 2 {
        return Err(ReplyError::NotReply(op));
    }
    if header.get(HEADER..HEADER + 4) != Some(&COOKIE[..]) {
        return Err(ReplyError::NoCookie);
    }
    let word = |o: usize| {
        header
            .get(o..o + 4)
            .and_then(ipv4)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    };
    let xid = u32::from(word(4));
    let mut chaddr = [0u8; 6];
    if let Some(c) = header.get(28..34) {
        chaddr.copy_from_slice(c);
    }
    let mut lease = Lease {
        address: word(16),
        prefix: 24,
        ..Lease::default()
    };
    let mut kind = None;
    let mut opts = p.get(HEADER + 4..).unwrap_or_default();
    while let Some((&code, rest)) = opts.split_first() {
        match code {
            0 => {
                opts = rest;
                continue;
            }
            255 => break,
            _ => {}
        }
        let (&len, rest) = rest.split_first().ok_or(ReplyError::Truncated { code })?;
        let len = usize::from(len);
        let data = rest.get(..len).ok_or(ReplyError::Truncated { code })?;
        opts = rest.get(len..).unwrap_or_default();
        let bad = ReplyError::Malformed { code };
        match code {
            53 => kind = Some(MessageType::from(*data.first().ok_or(bad)?)),
            1 => lease.prefix = ipv4(data).and_then(prefix_of).ok_or(bad)?,
            3 => lease.routers = ipv4_list(data).ok_or(bad)?,
            6 => lease.dns = ipv4_list(data).ok_or(bad)?,
            12 => {
                let name = String::from_utf8_lossy(data)
                    .trim_end_matches('\0')
                    .to_string();
                lease.hostname = Some(name).filter(|n| !n.is_empty());
            }
            26 => {
                let b: [u8; 2] = data.try_into().map_err(|_| bad.clone())?;
                // RFC 2132: the minimum legal MTU is 68.
                lease.mtu = Some(u16::from_be_bytes(b)).filter(|m| *m >= 68);
            }
            51 => {
                let b: [u8; 4] = data.try_into().map_err(|_| bad.clone())?;
                lease.lease_secs = Some(u32::from_be_bytes(b));
            }
            54 => lease.server_id = Some(ipv4(data).ok_or(bad)?),
            121 => lease.classless_routes = classless(data).ok_or(bad)?,
            _ => {}
        }
    }
    Ok(Reply {
        xid,
        chaddr,
        kind: kind.ok_or(ReplyError::NoMessageType)?,
        lease,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn netmasks() {
        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_of(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_of(Ipv4Addr::new(255, 0, 255, 0)), None);
    }

    #[test]
    fn classless_routes() {
        let b = [
            0, 10, 0, 0, 1, // default via 10.0.0.1
            24, 192, 168, 5, 10, 0, 0, 2, // 192.168.5.0/24 via 10.0.0.2
            32, 1, 2, 3, 4, 0, 0, 0, 0, // 1.2.3.4/32 on-link
        ];
        let r = classless(&b).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].prefix, r[0].gateway), (0, Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r[1].destination, Ipv4Addr::new(192, 168, 5, 0));
        assert_eq!(
            (r[2].destination, r[2].prefix),
            (Ipv4Addr::new(1, 2, 3, 4), 32)
        );
        assert_eq!(classless(&[33, 0, 0, 0, 0]), None);
        assert_eq!(classless(&[24, 1, 2]), None);
        assert_eq!(classless(&[]), Some(vec![]));
    }
}
