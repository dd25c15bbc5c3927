//! RMCP framing (ASF RMCP v1.0 header, class IPMI) and the IPMI v1.5 / v2.0 session headers
//! (IPMI v2.0 §13.6, §13.8 and §13.28 for the RMCP+ integrity trailer).

use super::{CodecError, byte, le_u32, take};

/// RMCP version 1.0 (0x06).
pub const RMCP_VERSION: u8 = 0x06;
/// RMCP message class "IPMI".
pub const CLASS_IPMI: u8 = 0x07;
/// Authentication type/format value that announces an RMCP+ (IPMI v2.0) session header.
pub const AUTH_TYPE_FORMAT_V20: u8 = 0x06;
/// Next-header byte that closes the integrity trailer.
const NEXT_HEADER: u8 = 0x07;
/// RMCP header: version, reserved, sequence 0xFF (no RMCP ACK), class IPMI.
const RMCP_HEADER: [u8; 4] = [RMCP_VERSION, 0x00, 0xFF, CLASS_IPMI];

/// RMCP+ payload types this client speaks (IPMI v2.0 §13.27.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    /// An IPMI message.
    Ipmi,
    /// RMCP+ Open Session Request.
    OpenSessionRequest,
    /// RMCP+ Open Session Response.
    OpenSessionResponse,
    /// RAKP Message 1.
    Rakp1,
    /// RAKP Message 2.
    Rakp2,
    /// RAKP Message 3.
    Rakp3,
    /// RAKP Message 4.
    Rakp4,
    /// Anything else (SOL, OEM…), carried as the raw 6-bit value.
    Other(u8),
}

impl PayloadType {
    /// Decodes the low 6 bits of the payload type byte.
    pub fn from_bits(v: u8) -> Self {
        match v & 0x3F {
            0x00 => Self::Ipmi,
            0x10 => Self::OpenSessionRequest,
            0x11 => Self::OpenSessionResponse,
            0x12 => Self::Rakp1,
            0x13 => Self::Rakp2,
            0x14 => Self::Rakp3,
            0x15 => Self::Rakp4,
            other => Self::Other(other),
        }
    }

    /// The 6-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Self::Ipmi => 0x00,
            Self::OpenSessionRequest => 0x10,
            Self::OpenSessionResponse => 0x11,
            Self::Rakp1 => 0x12,
            Self::Rakp2 => 0x13,
            Self::Rakp3 => 0x14,
            Self::Rakp4 => 0x15,
            Self::Other(v) => v & 0x3F,
        }
    }
}

/// A decoded session header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionHeader {
    /// IPMI v1.5 session header.
    V15 {
        /// Authentication type (0 = none).
        auth_type: u8,
        /// Session sequence number.
        seq: u32,
        /// Session ID.
        session_id: u32,
    },
    /// IPMI v2.0 (RMCP+) session header.
    V20 {
        /// Payload type.
        payload_type: PayloadType,
        /// Payload is encrypted (bit 7).
        encrypted: bool,
        /// Packet carries an integrity trailer (bit 6).
        authenticated: bool,
        /// Session ID (the receiver's ID for the session).
        session_id: u32,
        /// Session sequence number.
        seq: u32,
    },
}

/// A framed packet as received: header, payload and (for authenticated v2.0 packets) the
/// bytes covered by the AuthCode plus the AuthCode itself. Nothing is verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The session header.
    pub header: SessionHeader,
    /// The payload (still encrypted if the header says so).
    pub payload: &'a [u8],
    /// Bytes covered by the integrity AuthCode (empty when there is none).
    pub covered: &'a [u8],
    /// The AuthCode (empty when there is none).
    pub auth_code: &'a [u8],
}

/// Parses one datagram. `auth_code_len` is the AuthCode length of the session's integrity
/// algorithm (12 for HMAC-SHA1-96, 16 for HMAC-SHA256-128); it is used only when the
/// header says the packet is authenticated.
pub fn parse_packet(buf: &[u8], auth_code_len: usize) -> Result<Packet<'_>, CodecError> {
    let rmcp = take(buf, 0, 4, "RMCP header")?;
    if rmcp[0] != RMCP_VERSION {
        return Err(CodecError::InvalidField {
            what: "RMCP version",
            value: rmcp[0].into(),
        });
    }
    if rmcp[3] != CLASS_IPMI {
        return Err(CodecError::InvalidField {
            what: "RMCP class",
            value: rmcp[3].into(),
        });
    }
    let auth_type = byte(buf, 4, "authentication type")?;
    if auth_type != AUTH_TYPE_FORMAT_V20 {
        return parse_v15(buf, auth_type);
    }
    let pt = byte(buf, 5, "payload type")?;
    let payload_type = PayloadType::from_bits(pt);
    if payload_type == PayloadType::Other(0x02) {
        return Err(CodecError::InvalidField {
            what: "payload type (OEM explicit)",
            value: pt.into(),
        });
    }
    let session_id = le_u32(buf, 6, "session ID")?;
    let seq = le_u32(buf, 10, "session sequence")?;
    let len_bytes = take(buf, 14, 2, "payload length")?;
    let len = usize::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]));
    let payload = take(buf, 16, len, "payload")?;
    let authenticated = pt & 0x40 != 0;
    let header = SessionHeader::V20 {
        payload_type,
        encrypted: pt & 0x80 != 0,
        authenticated,
        session_id,
        seq,
    };
    if !authenticated {
        return Ok(Packet {
            header,
            payload,
            covered: &[],
            auth_code: &[],
        });
    }
    let after = 16 + len;
    let trailer = buf.len() - after;
    let pad = trailer
        .checked_sub(2 + auth_code_len)
        .ok_or(CodecError::Truncated {
            what: "integrity trailer",
            need: after + 2 + auth_code_len,
            got: buf.len(),
        })?;
    if pad > 3 || byte(buf, after + pad, "pad length")? as usize != pad {
        return Err(CodecError::InvalidField {
            what: "integrity pad length",
            value: u32::try_from(pad).unwrap_or(u32::MAX),
        });
    }
    if byte(buf, after + pad + 1, "next header")? != NEXT_HEADER {
        return Err(CodecError::InvalidField {
            what: "next header",
            value: buf[after + pad + 1].into(),
        });
    }
    let covered_end = after + pad + 2;
    Ok(Packet {
        header,
        payload,
        covered: take(buf, 4, covered_end - 4, "covered bytes")?,
        auth_code: take(buf, covered_end, auth_code_len, "AuthCode")?,
    })
}

fn parse_v15(buf: &[u8], auth_type: u8) -> Result<Packet<'_>, CodecError> {
    let seq = le_u32(buf, 5, "session sequence")?;
    let session_id = le_u32(buf, 9, "session ID")?;
    let (auth_code, len_at) = if auth_type == 0 {
        (&buf[0..0], 13)
    } else {
        (take(buf, 13, 16, "AuthCode")?, 29)
    };
    let len = usize::from(byte(buf, len_at, "message length")?);
    let payload = take(buf, len_at + 1, len, "message")?;
    Ok(Packet {
        header: SessionHeader::V15 {
            auth_type,
            seq,
            session_id,
        },
        payload,
        covered: &[],
        auth_code,
    })
}

/// Encodes an IPMI v1.5 packet with authentication type "none" (used only for Get Channel
/// Authentication Capabilities before a session exists).
pub fn encode_v15(session_id: u32, seq: u32, msg: &[u8]) -> Result<Vec<u8>, CodecError> {
    let len = u8::try_from(msg.len()).map_err(|_| CodecError::TooLong {
        what: "IPMI v1.5 message",
        len: msg.len(),
        max: 255,
    })?;
    let mut out = Vec::with_capacity(14 + msg.len());
    out.extend_from_slice(&RMCP_HEADER);
    out.push(0x00);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&session_id.to_le_bytes());
    out.push(len);
    out.extend_from_slice(msg);
    Ok(out)
}

/// Encodes an unauthenticated, unencrypted RMCP+ packet (Open Session, RAKP messages).
pub fn encode_v20_unauthenticated(
    payload_type: PayloadType,
    session_id: u32,
    seq: u32,
    payload: &[u8],
) -> Result<Vec<u8>, CodecError> {
    encode_v20(payload_type, false, session_id, seq, payload, None)
}

/// Computes the AuthCode over the covered bytes of a packet.
pub(crate) type Signer<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

/// Encodes an RMCP+ packet. With `sign`, the integrity pad, pad length, next header and the
/// AuthCode (computed by `sign` over the covered bytes) are appended.
pub(crate) fn encode_v20(
    payload_type: PayloadType,
    encrypted: bool,
    session_id: u32,
    seq: u32,
    payload: &[u8],
    sign: Option<Signer<'_>>,
) -> Result<Vec<u8>, CodecError> {
    let len = u16::try_from(payload.len()).map_err(|_| CodecError::TooLong {
        what: "RMCP+ payload",
        len: payload.len(),
        max: usize::from(u16::MAX),
    })?;
    let mut pt = payload_type.bits();
    if encrypted {
        pt |= 0x80;
    }
    if sign.is_some() {
        pt |= 0x40;
    }
    let mut out = Vec::with_capacity(40 + payload.len());
    out.extend_from_slice(&RMCP_HEADER);
    out.push(AUTH_TYPE_FORMAT_V20);
    out.push(pt);
    out.extend_from_slice(&session_id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    if let Some(sign) = sign {
        // Covered range: from the auth type byte (offset 4) through the next header byte,
        // padded with 0xFF to a multiple of 4 bytes.
        let covered = out.len() - 4 + 2;
        let pad = (4 - covered % 4) % 4;
        out.extend(std::iter::repeat_n(0xFF, pad));
        out.push(u8::try_from(pad).unwrap_or(0));
        out.push(NEXT_HEADER);
        let code = sign(&out[4..]);
        out.extend_from_slice(&code);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn covered_range_is_dword_aligned() {
        for n in 0..12usize {
            let payload = vec![0xAB; n];
            let sign = |c: &[u8]| {
                assert_eq!(c.len() % 4, 0);
                vec![0x11; 12]
            };
            let b = encode_v20(PayloadType::Ipmi, true, 7, 9, &payload, Some(&sign)).unwrap();
            let p = parse_packet(&b, 12).unwrap();
            assert_eq!(p.payload, &payload[..]);
            assert_eq!(p.auth_code, &[0x11; 12]);
            assert_eq!(p.covered.len() % 4, 0);
        }
    }

    proptest! {
        #[test]
        fn v15_round_trip(sid: u32, seq: u32, msg in proptest::collection::vec(any::<u8>(), 0..255)) {
            let b = encode_v15(sid, seq, &msg).unwrap();
            let p = parse_packet(&b, 12).unwrap();
            prop_assert_eq!(p.header, SessionHeader::V15 { auth_type: 0, seq, session_id: sid });
            prop_assert_eq!(p.payload, &msg[..]);
        }

        #[test]
        fn v20_round_trip(pt in prop_oneof![Just(0u8), 0x10u8..0x16], sid: u32, seq: u32,
                          enc: bool, signed: bool, code_len in prop_oneof![Just(12usize), Just(16usize)],
                          payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let sign = move |_: &[u8]| vec![0x5A; code_len];
            let sign_ref: &dyn Fn(&[u8]) -> Vec<u8> = &sign;
            let ty = PayloadType::from_bits(pt);
            let b = encode_v20(ty, enc, sid, seq, &payload, signed.then_some(sign_ref)).unwrap();
            let p = parse_packet(&b, code_len).unwrap();
            prop_assert_eq!(p.header, SessionHeader::V20 {
                payload_type: ty, encrypted: enc, authenticated: signed, session_id: sid, seq });
            prop_assert_eq!(p.payload, &payload[..]);
            prop_assert_eq!(p.auth_code.len(), if signed { code_len } else { 0 });
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                              code_len in 0usize..40) {
            let _ = parse_packet(&bytes, code_len);
        }
    }
}
