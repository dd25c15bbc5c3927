//! A lenient, panic-free reader for incoming DHCPv4 (BOOTP) requests.
//!
//! The proxy only needs the fixed BOOTP header and a handful of options, so it reads the raw
//! option bytes itself instead of decoding every option into a typed value: a malformed option
//! the proxy does not care about (a bad FQDN, a short classless route) must not make it drop a
//! PXE request, and multi-valued options such as option 93 must keep all of their values.
//!
//! Rules, matching the Go library upstream uses (`insomniacslk/dhcp`):
//! * the packet must hold the 236-byte header and the magic cookie `63 82 53 63`;
//! * options are code/length/value triplets; `Pad` (0) is skipped, `End` (255) stops reading,
//!   a missing `End` is accepted, bytes after `End` are ignored;
//! * an option whose length runs past the end of the packet makes the packet malformed;
//! * an option that appears more than once is concatenated (RFC 3396);
//! * option 52 (overload) makes the `file` and/or `sname` fields carry more options (RFC 2132 §9.3);
//! * a hardware address length above 16 is clamped to 16.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use thiserror::Error;

/// BOOTP op code of a request (`BOOTREQUEST`).
pub const BOOTREQUEST: u8 = 1;
/// BOOTP op code of a reply (`BOOTREPLY`).
pub const BOOTREPLY: u8 = 2;
/// The DHCP magic cookie that follows the BOOTP header.
pub const MAGIC_COOKIE: [u8; 4] = [0x63, 0x82, 0x53, 0x63];

/// Length of the fixed BOOTP header (without the magic cookie).
const HEADER_LEN: usize = 236;
/// Offset and length of the `sname` field.
const SNAME: (usize, usize) = (44, 64);
/// Offset and length of the `file` field.
const FILE: (usize, usize) = (108, 128);
/// Option code of "Option Overload" (RFC 2132 §9.3).
const OPT_OVERLOAD: u8 = 52;
/// Option code of "Pad".
const OPT_PAD: u8 = 0;
/// Option code of "End".
const OPT_END: u8 = 255;

/// Why bytes could not be read as a DHCP request (or carry an option the proxy cannot read).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedPacket {
    /// Shorter than the BOOTP header plus the magic cookie.
    #[error("packet too short ({len} bytes, need at least 240)")]
    TooShort {
        /// Length of the received datagram.
        len: usize,
    },
    /// The four bytes after the header are not the DHCP magic cookie.
    #[error("bad magic cookie {found:02x?}")]
    BadMagicCookie {
        /// The bytes found instead.
        found: [u8; 4],
    },
    /// An option's length runs past the end of the area that holds it.
    #[error("option {code} is truncated")]
    TruncatedOption {
        /// The option code.
        code: u8,
    },
    /// Option 93 (client system architecture) is not a whole number of 16-bit values.
    #[error("option 93 has odd length {len}")]
    BadArchitectureLength {
        /// Length of the option data.
        len: usize,
    },
}

/// A decoded DHCPv4 request: the BOOTP header and the raw option values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// BOOTP op code (1 = request, 2 = reply).
    pub op: u8,
    /// Hardware address type (1 = Ethernet).
    pub htype: u8,
    /// Hardware address length, clamped to 16.
    pub hlen: u8,
    /// Relay hop count.
    pub hops: u8,
    /// Transaction id chosen by the client.
    pub xid: u32,
    /// Seconds since the client started.
    pub secs: u16,
    /// Flags (bit 15 = broadcast).
    pub flags: u16,
    /// Client IP address (set by a client that already has one).
    pub ciaddr: Ipv4Addr,
    /// "Your" IP address (always zero in requests).
    pub yiaddr: Ipv4Addr,
    /// Next server IP address.
    pub siaddr: Ipv4Addr,
    /// Relay agent IP address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address field (16 bytes; the first `hlen` are meaningful).
    pub chaddr: [u8; 16],
    /// Option values by code, with repeated options concatenated.
    pub options: BTreeMap<u8, Vec<u8>>,
}

impl Request {
    /// Reads a request from a received datagram.
    pub fn parse(bytes: &[u8]) -> Result<Self, MalformedPacket> {
        let (Some(header), Some(cookie)) = (bytes.get(..HEADER_LEN), bytes.get(HEADER_LEN..240))
        else {
            return Err(MalformedPacket::TooShort { len: bytes.len() });
        };
        if cookie != MAGIC_COOKIE {
            let mut found = [0; 4];
            found.copy_from_slice(cookie);
            return Err(MalformedPacket::BadMagicCookie { found });
        }
        let mut chaddr = [0; 16];
        chaddr.copy_from_slice(&header[28..44]);

        let mut options = BTreeMap::new();
        read_options(&bytes[240..], &mut options)?;
        // RFC 3396 §5: options field first, then `file`, then `sname`.
        let overload = options
            .get(&OPT_OVERLOAD)
            .and_then(|v| v.first().copied())
            .unwrap_or(0);
        if overload & 1 != 0 {
            read_options(&header[FILE.0..FILE.0 + FILE.1], &mut options)?;
        }
        if overload & 2 != 0 {
            read_options(&header[SNAME.0..SNAME.0 + SNAME.1], &mut options)?;
        }

        Ok(Request {
            op: header[0],
            htype: header[1],
            hlen: header[2].min(16),
            hops: header[3],
            xid: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
            secs: u16::from_be_bytes([header[8], header[9]]),
            flags: u16::from_be_bytes([header[10], header[11]]),
            ciaddr: ipv4_at(header, 12),
            yiaddr: ipv4_at(header, 16),
            siaddr: ipv4_at(header, 20),
            giaddr: ipv4_at(header, 24),
            chaddr,
            options,
        })
    }

    /// The value of an option, if present and non-empty (an empty option counts as absent,
    /// as it does upstream).
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .get(&code)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    /// The DHCP message type (option 53), if present and exactly one byte long.
    pub fn message_type(&self) -> Option<u8> {
        match self.option(53) {
            Some([t]) => Some(*t),
            _ => None,
        }
    }

    /// The meaningful part of the client hardware address.
    pub fn hardware_address(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen)]
    }

    /// The client hardware address as `aa:bb:cc:…` for logs.
    pub fn hardware_address_string(&self) -> String {
        let mut out = String::with_capacity(self.hardware_address().len() * 3);
        for (i, b) in self.hardware_address().iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// Reads option triplets from `area` into `options`, concatenating repeats.
fn read_options(area: &[u8], options: &mut BTreeMap<u8, Vec<u8>>) -> Result<(), MalformedPacket> {
    let mut rest = area;
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            OPT_PAD => rest = tail,
            OPT_END => break,
            _ => {
                let Some((&len, tail)) = tail.split_first() else {
                    return Err(MalformedPacket::TruncatedOption { code });
                };
                let len = usize::from(len);
                let (Some(value), Some(after)) = (tail.get(..len), tail.get(len..)) else {
                    return Err(MalformedPacket::TruncatedOption { code });
                };
                options.entry(code).or_default().extend_from_slice(value);
                rest = after;
            }
        }
    }
    Ok(())
}

/// Reads an IPv4 address at `offset` of the header (the caller guarantees the length).
fn ipv4_at(header: &[u8], offset: usize) -> Ipv4Addr {
    match header.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn base() -> Vec<u8> {
        let mut p = vec![0u8; 240];
        p[0] = BOOTREQUEST;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        p[10] = 0x80;
        p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        p[236..240].copy_from_slice(&MAGIC_COOKIE);
        p
    }

    #[test]
    fn reads_header_and_options() {
        let mut p = base();
        p.extend_from_slice(&[53, 1, 1, 0, 0, 93, 2, 0, 7, 255, 0xaa, 0xbb]);
        let r = Request::parse(&p).unwrap();
        assert_eq!(r.op, BOOTREQUEST);
        assert_eq!(r.xid, 0xdead_beef);
        assert_eq!(r.flags, 0x8000);
        assert_eq!(r.hardware_address_string(), "52:54:00:12:34:56");
        assert_eq!(r.message_type(), Some(1));
        assert_eq!(r.option(93), Some(&[0u8, 7][..]));
    }

    #[test]
    fn concatenates_repeated_options() {
        let mut p = base();
        p.extend_from_slice(&[93, 2, 0, 0, 93, 2, 0, 7]);
        let r = Request::parse(&p).unwrap();
        assert_eq!(r.option(93), Some(&[0u8, 0, 0, 7][..]));
    }

    #[test]
    fn reads_overloaded_fields() {
        let mut p = base();
        p[108..113].copy_from_slice(&[93, 2, 0, 9, 255]);
        p[44..48].copy_from_slice(&[77, 2, b'h', b'i']);
        p.extend_from_slice(&[52, 1, 3, 255]);
        let r = Request::parse(&p).unwrap();
        assert_eq!(r.option(93), Some(&[0u8, 9][..]));
        assert_eq!(r.option(77), Some(&b"hi"[..]));
    }

    #[test]
    fn rejects_short_bad_cookie_and_truncated() {
        assert_eq!(
            Request::parse(&[1; 100]),
            Err(MalformedPacket::TooShort { len: 100 })
        );
        let mut p = base();
        p[236] = 0;
        assert!(matches!(
            Request::parse(&p),
            Err(MalformedPacket::BadMagicCookie { .. })
        ));
        let mut p = base();
        p.extend_from_slice(&[60, 9, b'P']);
        assert_eq!(
            Request::parse(&p),
            Err(MalformedPacket::TruncatedOption { code: 60 })
        );
        let mut p = base();
        p.push(60);
        assert_eq!(
            Request::parse(&p),
            Err(MalformedPacket::TruncatedOption { code: 60 })
        );
    }

    #[test]
    fn clamps_hlen_and_treats_empty_options_as_absent() {
        let mut p = base();
        p[2] = 200;
        p.extend_from_slice(&[97, 0, 53, 2, 1, 1]);
        let r = Request::parse(&p).unwrap();
        assert_eq!(r.hardware_address().len(), 16);
        assert_eq!(r.option(97), None);
        assert_eq!(
            r.message_type(),
            None,
            "two-byte option 53 is no message type"
        );
    }
}
