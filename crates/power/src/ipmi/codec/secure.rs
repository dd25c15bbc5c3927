//! The secured channel of an active RMCP+ session: payloads are encrypted with AES-CBC-128
//! and every packet carries an integrity AuthCode. Symmetric, so a test BMC uses it too.

use super::CodecError;
use super::packet::{PayloadType, SessionHeader, encode_v20, parse_packet};
use crate::ipmi::crypto::{SessionKeys, ct_eq};

/// One direction-aware end of an active session.
#[derive(Debug, Clone)]
pub struct SecureChannel {
    /// Session keys.
    pub keys: SessionKeys,
    /// The session ID the peer assigned; written into packets we send.
    pub peer_session_id: u32,
    /// The session ID we assigned; expected in packets we receive.
    pub own_session_id: u32,
}

/// A verified, decrypted packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Payload type.
    pub payload_type: PayloadType,
    /// Session sequence number of the packet.
    pub seq: u32,
    /// Plain payload.
    pub payload: Vec<u8>,
}

impl SecureChannel {
    /// Seals a payload: encrypts it with `iv` (must be fresh random bytes) and signs the packet.
    pub fn seal(
        &self,
        payload_type: PayloadType,
        seq: u32,
        plain: &[u8],
        iv: [u8; 16],
    ) -> Result<Vec<u8>, CodecError> {
        let ct = self.keys.encrypt(iv, plain)?;
        let sign = |covered: &[u8]| self.keys.auth_code(covered);
        encode_v20(
            payload_type,
            true,
            self.peer_session_id,
            seq,
            &ct,
            Some(&sign),
        )
    }

    /// Verifies and opens a received packet. Packets for another session, without integrity or
    /// encryption, with a wrong AuthCode or bad padding are rejected.
    pub fn open(&self, datagram: &[u8]) -> Result<Opened, CodecError> {
        let code_len = self.keys.suite.integrity.code_len();
        let p = parse_packet(datagram, code_len)?;
        let SessionHeader::V20 {
            payload_type,
            encrypted,
            authenticated,
            session_id,
            seq,
        } = p.header
        else {
            return Err(CodecError::InvalidField {
                what: "session format (expected RMCP+)",
                value: 0,
            });
        };
        if session_id != self.own_session_id {
            return Err(CodecError::InvalidField {
                what: "session ID",
                value: session_id,
            });
        }
        if !authenticated {
            return Err(CodecError::InvalidField {
                what: "unauthenticated packet in session",
                value: payload_type.bits().into(),
            });
        }
        if !ct_eq(&self.keys.auth_code(p.covered), p.auth_code) {
            return Err(CodecError::BadAuthCode);
        }
        if !encrypted {
            return Err(CodecError::InvalidField {
                what: "unencrypted packet in session",
                value: payload_type.bits().into(),
            });
        }
        Ok(Opened {
            payload_type,
            seq,
            payload: self.keys.decrypt(p.payload)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::ipmi::crypto::CipherSuite;
    use proptest::prelude::*;

    fn pair(suite: CipherSuite) -> (SecureChannel, SecureChannel) {
        let keys = SessionKeys::derive(suite, &[0x42; 20]);
        let console = SecureChannel {
            keys: keys.clone(),
            peer_session_id: 0xB0B,
            own_session_id: 0xC0C,
        };
        let bmc = SecureChannel {
            keys,
            peer_session_id: 0xC0C,
            own_session_id: 0xB0B,
        };
        (console, bmc)
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(s17: bool, seq: u32, iv: [u8; 16],
                                plain in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (console, bmc) = pair(if s17 { CipherSuite::SUITE_17 } else { CipherSuite::SUITE_3 });
            let wire = console.seal(PayloadType::Ipmi, seq, &plain, iv).unwrap();
            let opened = bmc.open(&wire).unwrap();
            prop_assert_eq!(opened, Opened { payload_type: PayloadType::Ipmi, seq, payload: plain });
            // Our own packet is not accepted back (session IDs are directional).
            prop_assert!(console.open(&wire).is_err());
        }

        #[test]
        fn any_bit_flip_is_rejected(seq: u32, plain in proptest::collection::vec(any::<u8>(), 1..40),
                                    pos: usize, bit in 0u8..8) {
            let (console, bmc) = pair(CipherSuite::SUITE_3);
            let mut wire = console.seal(PayloadType::Ipmi, seq, &plain, [9; 16]).unwrap();
            let i = 4 + pos % (wire.len() - 4);
            wire[i] ^= 1 << bit;
            prop_assert!(bmc.open(&wire).is_err());
        }

        #[test]
        fn open_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let (_, bmc) = pair(CipherSuite::SUITE_17);
            let _ = bmc.open(&data);
        }
    }
}
