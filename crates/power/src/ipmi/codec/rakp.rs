//! RMCP+ session establishment messages (IPMI v2.0 §13.17–§13.23): Open Session
//! Request/Response and RAKP Messages 1–4. Each has `encode` and `parse`, so a test BMC can
//! be built from the same code; parsers accept any bytes without panicking.

use super::{CodecError, array16, byte, le_u32, take};

/// RAKP 1 role bit 4: look the user up by name only (not by name and privilege).
pub const ROLE_NAME_ONLY_LOOKUP: u8 = 0x10;

/// Maximum user name length in RAKP 1.
const MAX_USER_NAME: usize = 16;

/// Appends one 8-byte algorithm proposal record (type, reserved, length 8, algorithm).
fn push_algorithm(out: &mut Vec<u8>, payload_type: u8, alg: u8) {
    out.extend_from_slice(&[payload_type, 0, 0, 0x08, alg & 0x3F, 0, 0, 0]);
}

/// Reads the algorithm byte of the record at `at` (checking its payload type).
fn algorithm(buf: &[u8], at: usize, payload_type: u8) -> Result<u8, CodecError> {
    let rec = take(buf, at, 8, "algorithm record")?;
    if rec[0] != payload_type {
        return Err(CodecError::InvalidField {
            what: "algorithm record type",
            value: rec[0].into(),
        });
    }
    Ok(rec[4] & 0x3F)
}

/// RMCP+ Open Session Request (payload type 0x10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionRequest {
    /// Message tag, echoed by the BMC.
    pub tag: u8,
    /// Requested maximum privilege level (0 = highest the proposal allows).
    pub max_privilege: u8,
    /// The remote console's session ID (non-zero).
    pub console_session_id: u32,
    /// Proposed authentication algorithm.
    pub auth_alg: u8,
    /// Proposed integrity algorithm.
    pub integrity_alg: u8,
    /// Proposed confidentiality algorithm.
    pub conf_alg: u8,
}

impl OpenSessionRequest {
    /// Encodes the 32-byte payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.tag, self.max_privilege & 0x0F, 0, 0];
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        push_algorithm(&mut out, 0x00, self.auth_alg);
        push_algorithm(&mut out, 0x01, self.integrity_alg);
        push_algorithm(&mut out, 0x02, self.conf_alg);
        out
    }

    /// Decodes the payload.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        Ok(Self {
            tag: byte(buf, 0, "message tag")?,
            max_privilege: byte(buf, 1, "privilege")? & 0x0F,
            console_session_id: le_u32(buf, 4, "console session ID")?,
            auth_alg: algorithm(buf, 8, 0x00)?,
            integrity_alg: algorithm(buf, 16, 0x01)?,
            conf_alg: algorithm(buf, 24, 0x02)?,
        })
    }
}

/// RMCP+ Open Session Response (payload type 0x11). When `status` is not 0 the BMC may
/// omit everything after the console session ID; those fields then decode as 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// Message tag of the request.
    pub tag: u8,
    /// RMCP+ status code (0 = no errors).
    pub status: u8,
    /// Maximum privilege level granted.
    pub max_privilege: u8,
    /// The remote console's session ID.
    pub console_session_id: u32,
    /// The BMC's (managed system's) session ID.
    pub bmc_session_id: u32,
    /// Selected authentication algorithm.
    pub auth_alg: u8,
    /// Selected integrity algorithm.
    pub integrity_alg: u8,
    /// Selected confidentiality algorithm.
    pub conf_alg: u8,
}

impl OpenSessionResponse {
    /// Encodes the 36-byte payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.tag, self.status, self.max_privilege & 0x0F, 0];
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        out.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        push_algorithm(&mut out, 0x00, self.auth_alg);
        push_algorithm(&mut out, 0x01, self.integrity_alg);
        push_algorithm(&mut out, 0x02, self.conf_alg);
        out
    }

    /// Decodes the payload.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        let tag = byte(buf, 0, "message tag")?;
        let status = byte(buf, 1, "status code")?;
        if status != 0 {
            return Ok(Self {
                tag,
                status,
                max_privilege: buf.get(2).copied().unwrap_or(0) & 0x0F,
                console_session_id: le_u32(buf, 4, "console session ID").unwrap_or(0),
                bmc_session_id: 0,
                auth_alg: 0,
                integrity_alg: 0,
                conf_alg: 0,
            });
        }
        Ok(Self {
            tag,
            status,
            max_privilege: byte(buf, 2, "privilege")? & 0x0F,
            console_session_id: le_u32(buf, 4, "console session ID")?,
            bmc_session_id: le_u32(buf, 8, "BMC session ID")?,
            auth_alg: algorithm(buf, 12, 0x00)?,
            integrity_alg: algorithm(buf, 20, 0x01)?,
            conf_alg: algorithm(buf, 28, 0x02)?,
        })
    }
}

/// RAKP Message 1 (payload type 0x12), console → BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp1 {
    /// Message tag.
    pub tag: u8,
    /// The BMC's session ID.
    pub bmc_session_id: u32,
    /// Remote console random number (Rm).
    pub console_random: [u8; 16],
    /// Requested role: privilege level in bits 3:0, [`ROLE_NAME_ONLY_LOOKUP`] in bit 4.
    pub role: u8,
    /// User name (at most 16 bytes).
    pub user: Vec<u8>,
}

impl Rakp1 {
    /// Encodes the payload.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let ulen = user_len(&self.user)?;
        let mut out = vec![self.tag, 0, 0, 0];
        out.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        out.extend_from_slice(&self.console_random);
        out.extend_from_slice(&[self.role, 0, 0, ulen]);
        out.extend_from_slice(&self.user);
        Ok(out)
    }

    /// Decodes the payload.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        let ulen = usize::from(byte(buf, 27, "user name length")?);
        if ulen > MAX_USER_NAME {
            return Err(CodecError::InvalidField {
                what: "user name length",
                value: u32::try_from(ulen).unwrap_or(u32::MAX),
            });
        }
        Ok(Self {
            tag: byte(buf, 0, "message tag")?,
            bmc_session_id: le_u32(buf, 4, "BMC session ID")?,
            console_random: array16(buf, 8, "console random number")?,
            role: byte(buf, 24, "role")?,
            user: take(buf, 28, ulen, "user name")?.to_vec(),
        })
    }
}

/// Checks and converts a user name length.
pub(crate) fn user_len(user: &[u8]) -> Result<u8, CodecError> {
    if user.len() > MAX_USER_NAME {
        return Err(CodecError::TooLong {
            what: "user name",
            len: user.len(),
            max: MAX_USER_NAME,
        });
    }
    u8::try_from(user.len()).map_err(|_| CodecError::TooLong {
        what: "user name",
        len: user.len(),
        max: MAX_USER_NAME,
    })
}

/// RAKP Message 2 (payload type 0x13), BMC → console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp2 {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// The remote console's session ID.
    pub console_session_id: u32,
    /// Managed system random number (Rc).
    pub bmc_random: [u8; 16],
    /// Managed system GUID.
    pub bmc_guid: [u8; 16],
    /// Key exchange authentication code (HMAC, length per authentication algorithm).
    pub auth_code: Vec<u8>,
}

impl Rakp2 {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.tag, self.status, 0, 0];
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        out.extend_from_slice(&self.bmc_random);
        out.extend_from_slice(&self.bmc_guid);
        out.extend_from_slice(&self.auth_code);
        out
    }

    /// Decodes the payload. With a non-zero status only tag and status are required.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        let tag = byte(buf, 0, "message tag")?;
        let status = byte(buf, 1, "status code")?;
        if status != 0 {
            return Ok(Self {
                tag,
                status,
                console_session_id: le_u32(buf, 4, "console session ID").unwrap_or(0),
                bmc_random: [0; 16],
                bmc_guid: [0; 16],
                auth_code: Vec::new(),
            });
        }
        Ok(Self {
            tag,
            status,
            console_session_id: le_u32(buf, 4, "console session ID")?,
            bmc_random: array16(buf, 8, "BMC random number")?,
            bmc_guid: array16(buf, 24, "BMC GUID")?,
            auth_code: buf.get(40..).unwrap_or_default().to_vec(),
        })
    }
}

/// RAKP Message 3 (payload type 0x14), console → BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp3 {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code (0, or the reason the console gives up).
    pub status: u8,
    /// The BMC's session ID.
    pub bmc_session_id: u32,
    /// Key exchange authentication code.
    pub auth_code: Vec<u8>,
}

impl Rakp3 {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.tag, self.status, 0, 0];
        out.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        out.extend_from_slice(&self.auth_code);
        out
    }

    /// Decodes the payload.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        Ok(Self {
            tag: byte(buf, 0, "message tag")?,
            status: byte(buf, 1, "status code")?,
            bmc_session_id: le_u32(buf, 4, "BMC session ID")?,
            auth_code: buf.get(8..).unwrap_or_default().to_vec(),
        })
    }
}

/// RAKP Message 4 (payload type 0x15), BMC → console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp4 {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// The remote console's session ID.
    pub console_session_id: u32,
    /// Integrity check value (truncated HMAC with the SIK).
    pub icv: Vec<u8>,
}

impl Rakp4 {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.tag, self.status, 0, 0];
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        out.extend_from_slice(&self.icv);
        out
    }

    /// Decodes the payload. With a non-zero status only tag and status are required.
    pub fn parse(buf: &[u8]) -> Result<Self, CodecError> {
        let tag = byte(buf, 0, "message tag")?;
        let status = byte(buf, 1, "status code")?;
        Ok(Self {
            tag,
            status,
            console_session_id: if status == 0 {
                le_u32(buf, 4, "console session ID")?
            } else {
                le_u32(buf, 4, "console session ID").unwrap_or(0)
            },
            icv: buf.get(8..).unwrap_or_default().to_vec(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    proptest! {
        #[test]
        fn open_session_round_trip(tag: u8, p in 0u8..16, sid: u32, b: u32, a in 0u8..64,
                                   i in 0u8..64, c in 0u8..64) {
            let req = OpenSessionRequest { tag, max_privilege: p, console_session_id: sid,
                auth_alg: a, integrity_alg: i, conf_alg: c };
            prop_assert_eq!(OpenSessionRequest::parse(&req.encode()), Ok(req));
            let resp = OpenSessionResponse { tag, status: 0, max_privilege: p, console_session_id: sid,
                bmc_session_id: b, auth_alg: a, integrity_alg: i, conf_alg: c };
            prop_assert_eq!(OpenSessionResponse::parse(&resp.encode()), Ok(resp));
        }

        #[test]
        fn rakp_round_trip(tag: u8, sid: u32, r: [u8; 16], g: [u8; 16], role: u8,
                           user in bytes(17), code in bytes(40)) {
            let m1 = Rakp1 { tag, bmc_session_id: sid, console_random: r, role, user: user.clone() };
            match m1.encode() {
                Ok(b) => prop_assert_eq!(Rakp1::parse(&b), Ok(m1)),
                Err(_) => prop_assert!(user.len() > 16),
            }
            let m2 = Rakp2 { tag, status: 0, console_session_id: sid, bmc_random: r, bmc_guid: g,
                auth_code: code.clone() };
            prop_assert_eq!(Rakp2::parse(&m2.encode()), Ok(m2));
            let m3 = Rakp3 { tag, status: 0, bmc_session_id: sid, auth_code: code.clone() };
            prop_assert_eq!(Rakp3::parse(&m3.encode()), Ok(m3));
            let m4 = Rakp4 { tag, status: 0, console_session_id: sid, icv: code };
            prop_assert_eq!(Rakp4::parse(&m4.encode()), Ok(m4));
        }

        #[test]
        fn parsers_never_panic(b in bytes(64)) {
            let _ = OpenSessionRequest::parse(&b);
            let _ = OpenSessionResponse::parse(&b);
            let _ = Rakp1::parse(&b);
            let _ = Rakp2::parse(&b);
            let _ = Rakp3::parse(&b);
            let _ = Rakp4::parse(&b);
        }
    }

    #[test]
    fn error_status_with_short_body() {
        let r = OpenSessionResponse::parse(&[1, 0x11]).unwrap();
        assert_eq!((r.tag, r.status), (1, 0x11));
        assert!(OpenSessionResponse::parse(&[1, 0, 0]).is_err());
    }
}
