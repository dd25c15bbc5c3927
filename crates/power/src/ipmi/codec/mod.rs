//! Pure, allocation-light codec for IPMI over LAN: the RMCP header, IPMI v1.5 and v2.0
//! (RMCP+) session headers, IPMI LAN messages with their checksums, the RMCP+ Open Session
//! and RAKP messages, and the secured (integrity + confidentiality) session channel.
//!
//! Nothing here performs I/O. Every parser takes arbitrary bytes from the network and returns
//! a [`CodecError`] instead of panicking: a hostile or broken BMC must never crash the
//! controller (this module is the target of the `ipmi_response` fuzz target).

mod message;
mod packet;
mod rakp;
mod secure;

pub use message::{LanMessage, NETFN_APP, NETFN_CHASSIS, RQ_ADDR_SOFTWARE, RS_ADDR_BMC};
pub use packet::{
    AUTH_TYPE_FORMAT_V20, CLASS_IPMI, Packet, PayloadType, RMCP_VERSION, SessionHeader, encode_v15,
    encode_v20_unauthenticated, parse_packet,
};
pub use rakp::{
    OpenSessionRequest, OpenSessionResponse, ROLE_NAME_ONLY_LOOKUP, Rakp1, Rakp2, Rakp3, Rakp4,
};
pub use secure::{Opened, SecureChannel};

/// Why bytes could not be decoded (or a message could not be built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended before a field.
    #[error("truncated {what}: need {need} bytes, got {got}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        got: usize,
    },
    /// A field has a value this implementation does not accept.
    #[error("invalid {what}: {value:#04x}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// Its value (low byte for wider fields).
        value: u32,
    },
    /// A checksum of an IPMI message does not match.
    #[error("bad {which} checksum")]
    BadChecksum {
        /// "header" or "data".
        which: &'static str,
    },
    /// The integrity check (AuthCode) of a session packet does not match.
    #[error("integrity check failed")]
    BadAuthCode,
    /// The confidentiality layer could not be removed (length or padding).
    #[error("decryption failed: {0}")]
    Decrypt(&'static str),
    /// A field is too long to encode.
    #[error("{what} too long: {len} bytes (max {max})")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

/// Reads a little-endian `u32` at `at`, or reports what was truncated.
pub(crate) fn le_u32(buf: &[u8], at: usize, what: &'static str) -> Result<u32, CodecError> {
    let b = take(buf, at, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Returns `len` bytes at `at`, or a [`CodecError::Truncated`].
pub(crate) fn take<'a>(
    buf: &'a [u8],
    at: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], CodecError> {
    let end = at.checked_add(len).ok_or(CodecError::Truncated {
        what,
        need: usize::MAX,
        got: buf.len(),
    })?;
    buf.get(at..end).ok_or(CodecError::Truncated {
        what,
        need: end,
        got: buf.len(),
    })
}

/// Returns the byte at `at`, or a [`CodecError::Truncated`].
pub(crate) fn byte(buf: &[u8], at: usize, what: &'static str) -> Result<u8, CodecError> {
    buf.get(at).copied().ok_or(CodecError::Truncated {
        what,
        need: at + 1,
        got: buf.len(),
    })
}

/// Copies exactly 16 bytes at `at`.
pub(crate) fn array16(buf: &[u8], at: usize, what: &'static str) -> Result<[u8; 16], CodecError> {
    let b = take(buf, at, 16, what)?;
    let mut out = [0u8; 16];
    out.copy_from_slice(b);
    Ok(out)
}
