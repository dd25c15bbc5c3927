//! IPMI LAN messages (IPMI v2.0 §13.8): the request and response layouts share one shape,
//! `[addr1][netfn<<2|lun1][chk1][addr2][seq<<2|lun2][cmd][body…][chk2]`, where a response
//! body starts with the completion code.

use super::{CodecError, byte};

/// Network function "Chassis" (requests; responses use `netfn | 1`).
pub const NETFN_CHASSIS: u8 = 0x00;
/// Network function "Application".
pub const NETFN_APP: u8 = 0x06;
/// Slave address of the BMC (responder of our requests).
pub const RS_ADDR_BMC: u8 = 0x20;
/// Software ID used by remote console software (requester).
pub const RQ_ADDR_SOFTWARE: u8 = 0x81;

/// One IPMI LAN message, request or response.
///
/// For a request, `addr1` is the responder (BMC) address and `addr2` the requester's; for a
/// response they are swapped, exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanMessage {
    /// First address byte (rsAddr in requests, rqAddr in responses).
    pub addr1: u8,
    /// Network function (6 bits; odd for responses).
    pub netfn: u8,
    /// LUN paired with `addr1` (2 bits).
    pub lun1: u8,
    /// Second address byte (rqAddr in requests, rsAddr in responses).
    pub addr2: u8,
    /// Request sequence number (6 bits), echoed in the response.
    pub seq: u8,
    /// LUN paired with `addr2` (2 bits).
    pub lun2: u8,
    /// Command number.
    pub cmd: u8,
    /// Request data, or completion code followed by response data.
    pub body: Vec<u8>,
}

/// Two's complement checksum: the sum of the bytes plus the checksum is 0 (mod 256).
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, b| acc.wrapping_add(*b))
        .wrapping_neg()
}

impl LanMessage {
    /// Builds a request from remote console software to the BMC (LUN 0).
    pub fn request(netfn: u8, cmd: u8, seq: u8, data: &[u8]) -> Self {
        Self {
            addr1: RS_ADDR_BMC,
            netfn: netfn & 0x3F,
            lun1: 0,
            addr2: RQ_ADDR_SOFTWARE,
            seq: seq & 0x3F,
            lun2: 0,
            cmd,
            body: data.to_vec(),
        }
    }

    /// Builds the response to `req` with a completion code and data (used by test BMCs).
    pub fn response_to(req: &LanMessage, completion_code: u8, data: &[u8]) -> Self {
        let mut body = Vec::with_capacity(data.len() + 1);
        body.push(completion_code);
        body.extend_from_slice(data);
        Self {
            addr1: req.addr2,
            netfn: (req.netfn | 1) & 0x3F,
            lun1: req.lun2,
            addr2: req.addr1,
            seq: req.seq,
            lun2: req.lun1,
            cmd: req.cmd,
            body,
        }
    }

    /// Encodes the message with both checksums.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(7 + self.body.len());
        out.push(self.addr1);
        out.push(((self.netfn & 0x3F) << 2) | (self.lun1 & 0x03));
        out.push(checksum(&out[0..2]));
        out.push(self.addr2);
        out.push(((self.seq & 0x3F) << 2) | (self.lun2 & 0x03));
        out.push(self.cmd);
        out.extend_from_slice(&self.body);
        let c = checksum(&out[3..]);
        out.push(c);
        out
    }

    /// Decodes a message and verifies both checksums.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < 7 {
            return Err(CodecError::Truncated {
                what: "IPMI message",
                need: 7,
                got: buf.len(),
            });
        }
        let (head, rest) = buf.split_at(3);
        if checksum(&head[0..2]) != head[2] {
            return Err(CodecError::BadChecksum { which: "header" });
        }
        let (data, chk) = rest.split_at(rest.len() - 1);
        if checksum(data) != chk[0] {
            return Err(CodecError::BadChecksum { which: "data" });
        }
        let nl = byte(head, 1, "netfn/lun")?;
        let sl = byte(data, 1, "seq/lun")?;
        Ok(Self {
            addr1: head[0],
            netfn: nl >> 2,
            lun1: nl & 0x03,
            addr2: byte(data, 0, "address")?,
            seq: sl >> 2,
            lun2: sl & 0x03,
            cmd: byte(data, 2, "command")?,
            body: data.get(3..).unwrap_or_default().to_vec(),
        })
    }

    /// The completion code of a response (first body byte), if present.
    pub fn completion_code(&self) -> Option<u8> {
        self.body.first().copied()
    }

    /// Response data after the completion code.
    pub fn response_data(&self) -> &[u8] {
        self.body.get(1..).unwrap_or_default()
    }

    /// Whether `self` is the response to `req` (addresses, netfn+1, sequence and command).
    pub fn answers(&self, req: &LanMessage) -> bool {
        self.addr1 == req.addr2
            && self.addr2 == req.addr1
            && self.netfn == ((req.netfn | 1) & 0x3F)
            && self.seq == req.seq
            && self.cmd == req.cmd
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn get_device_id_known_bytes() {
        // Get Device ID (netfn App, cmd 0x01), seq 1: checksums as ipmitool computes them.
        let m = LanMessage::request(NETFN_APP, 0x01, 1, &[]);
        assert_eq!(m.encode(), vec![0x20, 0x18, 0xc8, 0x81, 0x04, 0x01, 0x7a]);
    }

    #[test]
    fn bad_checksums_are_reported() {
        let mut b = LanMessage::request(NETFN_CHASSIS, 0x02, 3, &[1]).encode();
        b[2] ^= 1;
        assert_eq!(
            LanMessage::parse(&b),
            Err(CodecError::BadChecksum { which: "header" })
        );
        b[2] ^= 1;
        let last = b.len() - 1;
        b[last] ^= 1;
        assert_eq!(
            LanMessage::parse(&b),
            Err(CodecError::BadChecksum { which: "data" })
        );
    }

    proptest! {
        #[test]
        fn round_trip(addr1: u8, netfn in 0u8..64, lun1 in 0u8..4, addr2: u8, seq in 0u8..64,
                      lun2 in 0u8..4, cmd: u8, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let m = LanMessage { addr1, netfn, lun1, addr2, seq, lun2, cmd, body };
            prop_assert_eq!(LanMessage::parse(&m.encode()), Ok(m));
        }

        #[test]
        fn response_matches_request(netfn in 0u8..32, cmd: u8, seq in 0u8..64, cc: u8,
                                    data in proptest::collection::vec(any::<u8>(), 0..16)) {
            let req = LanMessage::request(netfn * 2, cmd, seq, &[]);
            let resp = LanMessage::parse(&LanMessage::response_to(&req, cc, &data).encode()).unwrap();
            prop_assert!(resp.answers(&req));
            prop_assert_eq!(resp.completion_code(), Some(cc));
            prop_assert_eq!(resp.response_data(), &data[..]);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = LanMessage::parse(&bytes);
        }
    }
}
