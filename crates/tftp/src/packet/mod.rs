//! TFTP packet codec (RFC 1350 packets plus the RFC 2347 OACK).
//!
//! Everything here is pure and panic-free: [`Packet::parse`] borrows from the input and never
//! allocates, so untrusted datagrams of any content and length are safe to feed it. The
//! encoders write into caller-provided buffers and refuse strings that cannot be represented
//! on the wire (interior NUL bytes) instead of silently producing a different packet.
//!
//! Parsing is strict where ambiguity would matter (opcodes, the NUL terminators of file name
//! and mode, UTF-8) and lenient where real clients are sloppy: trailing bytes after an ACK are
//! ignored, an ERROR message without its terminating NUL is accepted, and an incomplete
//! trailing option (a name without a value) is dropped, as tftp-hpa and pin/tftp do.

use std::borrow::Cow;

mod codes;
mod option_list;
#[cfg(test)]
mod tests;

pub use codes::{ErrorCode, Opcode};
pub use option_list::{OptionIter, OptionList};

/// Smallest block size RFC 2348 allows.
pub const MIN_BLOCK_SIZE: u16 = 8;
/// Largest block size RFC 2348 allows (fits a maximal IPv4 UDP datagram with headers).
pub const MAX_BLOCK_SIZE: u16 = 65464;
/// The RFC 1350 block size used when no `blksize` option is negotiated.
pub const DEFAULT_BLOCK_SIZE: u16 = 512;

/// Errors from [`Packet::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The datagram is shorter than the fixed header of its packet type.
    #[error("packet too short")]
    TooShort,
    /// The opcode is not one of 1..=6.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A NUL-terminated string (file name or mode) lacks its terminator.
    #[error("missing NUL terminator")]
    MissingTerminator,
    /// A file name, mode or option is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    NotUtf8,
}

/// Errors from the encoders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string field contains a NUL byte, which would end it early on the wire.
    #[error("string field contains a NUL byte")]
    InteriorNul,
}

/// A read or write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The requested file name, as sent (not yet cleaned).
    pub filename: &'a str,
    /// The transfer mode as sent (`octet`, `netascii`, `mail`, any case).
    pub mode: &'a str,
    /// Requested options.
    pub options: OptionList<'a>,
}

/// A decoded TFTP packet borrowing from the datagram it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request.
    Rrq(Request<'a>),
    /// Write request.
    Wrq(Request<'a>),
    /// A data block.
    Data {
        /// Block number (wraps around after 65535).
        block: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Acknowledgment of a block (block 0 acknowledges an OACK).
    Ack {
        /// Acknowledged block number.
        block: u16,
    },
    /// An error report; it terminates the transfer.
    Error {
        /// Error code.
        code: ErrorCode,
        /// Message bytes without the terminating NUL (see [`message_text`]).
        message: &'a [u8],
    },
    /// Option acknowledgment.
    Oack(OptionList<'a>),
}

impl<'a> Packet<'a> {
    /// Parses one datagram. Never panics and never allocates.
    pub fn parse(buf: &'a [u8]) -> Result<Self, PacketError> {
        let (op, body) = read_u16(buf).ok_or(PacketError::TooShort)?;
        let opcode = Opcode::from_u16(op).ok_or(PacketError::UnknownOpcode(op))?;
        match opcode {
            Opcode::Rrq => parse_request(body).map(Packet::Rrq),
            Opcode::Wrq => parse_request(body).map(Packet::Wrq),
            Opcode::Data => {
                let (block, data) = read_u16(body).ok_or(PacketError::TooShort)?;
                Ok(Packet::Data { block, data })
            }
            Opcode::Ack => {
                let (block, _trailing) = read_u16(body).ok_or(PacketError::TooShort)?;
                Ok(Packet::Ack { block })
            }
            Opcode::Error => {
                let (code, rest) = read_u16(body).ok_or(PacketError::TooShort)?;
                let message = split_cstr(rest).map_or(rest, |(msg, _)| msg);
                Ok(Packet::Error {
                    code: ErrorCode::from_u16(code),
                    message,
                })
            }
            Opcode::Oack => OptionList::parse_lenient(body).map(Packet::Oack),
        }
    }

    /// This packet's opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Packet::Rrq(_) => Opcode::Rrq,
            Packet::Wrq(_) => Opcode::Wrq,
            Packet::Data { .. } => Opcode::Data,
            Packet::Ack { .. } => Opcode::Ack,
            Packet::Error { .. } => Opcode::Error,
            Packet::Oack(_) => Opcode::Oack,
        }
    }

    /// Appends the wire form of this packet to `out`.
    ///
    /// Fails only if a string field contains a NUL byte; `out` is then left unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&self.opcode().to_u16().to_be_bytes());
        let result = match self {
            Packet::Rrq(req) | Packet::Wrq(req) => {
                push_cstr(out, req.filename).and_then(|()| push_cstr(out, req.mode))?;
                out.extend_from_slice(req.options.as_bytes());
                Ok(())
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
                Ok(())
            }
            Packet::Ack { block } => {
                out.extend_from_slice(&block.to_be_bytes());
                Ok(())
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&code.to_u16().to_be_bytes());
                if message.contains(&0) {
                    Err(EncodeError::InteriorNul)
                } else {
                    out.extend_from_slice(message);
                    out.push(0);
                    Ok(())
                }
            }
            Packet::Oack(options) => {
                out.extend_from_slice(options.as_bytes());
                Ok(())
            }
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// Encodes an OACK carrying `pairs`.
pub fn encode_oack<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(2 + pairs.len() * 16);
    out.extend_from_slice(&Opcode::Oack.to_u16().to_be_bytes());
    encode_option_pairs(&mut out, pairs)?;
    Ok(out)
}

/// Appends `name\0value\0` pairs to `out` (the option tail of an RRQ, WRQ or OACK).
pub fn encode_option_pairs<N: AsRef<str>, V: AsRef<str>>(
    out: &mut Vec<u8>,
    pairs: &[(N, V)],
) -> Result<(), EncodeError> {
    let start = out.len();
    for (name, value) in pairs {
        if let Err(e) = push_cstr(out, name.as_ref()).and_then(|()| push_cstr(out, value.as_ref()))
        {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Encodes an ERROR packet. NUL bytes in `message` are replaced by spaces, so this cannot fail.
pub fn encode_error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + message.len());
    out.extend_from_slice(&Opcode::Error.to_u16().to_be_bytes());
    out.extend_from_slice(&code.to_u16().to_be_bytes());
    out.extend(message.bytes().map(|b| if b == 0 { b' ' } else { b }));
    out.push(0);
    out
}

/// The 4-byte header of a DATA packet for `block`.
pub fn data_header(block: u16) -> [u8; 4] {
    let [hi, lo] = block.to_be_bytes();
    let [op_hi, op_lo] = Opcode::Data.to_u16().to_be_bytes();
    [op_hi, op_lo, hi, lo]
}

/// An ERROR message for display: decoded as UTF-8, with invalid sequences replaced.
pub fn message_text(message: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(message)
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, PacketError> {
    let (filename, rest) = split_cstr(body).ok_or(PacketError::MissingTerminator)?;
    let (mode, rest) = split_cstr(rest).ok_or(PacketError::MissingTerminator)?;
    Ok(Request {
        filename: std::str::from_utf8(filename).map_err(|_| PacketError::NotUtf8)?,
        mode: std::str::from_utf8(mode).map_err(|_| PacketError::NotUtf8)?,
        options: OptionList::parse_lenient(rest)?,
    })
}

fn read_u16(buf: &[u8]) -> Option<(u16, &[u8])> {
    match buf {
        [hi, lo, rest @ ..] => Some((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => None,
    }
}

/// Splits a NUL-terminated string off the front of `buf`.
pub(crate) fn split_cstr(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = buf.iter().position(|&b| b == 0)?;
    let s = buf.get(..nul)?;
    let rest = buf.get(nul + 1..)?;
    Some((s, rest))
}

fn push_cstr(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::InteriorNul);
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}
