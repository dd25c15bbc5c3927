//! RMCP+ cryptography (IPMI v2.0 §13.28–§13.31): the cipher suites we speak, the RAKP
//! authentication codes, the Session Integrity Key (SIK) and the derived keys K1 (integrity)
//! and K2 (confidentiality), the per-packet AuthCode and AES-CBC-128 with IPMI padding.
//! Pure functions; no I/O.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::codec::CodecError;

/// Authentication (RAKP) algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlg {
    /// RAKP-HMAC-SHA1 (wire value 0x01).
    HmacSha1,
    /// RAKP-HMAC-SHA256 (wire value 0x03).
    HmacSha256,
}

/// Integrity algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlg {
    /// HMAC-SHA1-96 (wire value 0x01).
    HmacSha1_96,
    /// HMAC-SHA256-128 (wire value 0x04).
    HmacSha256_128,
}

/// A cipher suite this client speaks. Both use AES-CBC-128 confidentiality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    /// Cipher suite ID (3 or 17).
    pub id: u8,
    /// Authentication algorithm.
    pub auth: AuthAlg,
    /// Integrity algorithm.
    pub integrity: IntegrityAlg,
}

/// Wire value of AES-CBC-128 confidentiality.
pub const CONF_AES_CBC_128: u8 = 0x01;

impl CipherSuite {
    /// Suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128.
    pub const SUITE_3: Self = Self {
        id: 3,
        auth: AuthAlg::HmacSha1,
        integrity: IntegrityAlg::HmacSha1_96,
    };
    /// Suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128.
    pub const SUITE_17: Self = Self {
        id: 17,
        auth: AuthAlg::HmacSha256,
        integrity: IntegrityAlg::HmacSha256_128,
    };

    /// The suite with this ID, if supported (3 and 17).
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            3 => Some(Self::SUITE_3),
            17 => Some(Self::SUITE_17),
            _ => None,
        }
    }

    /// The suite matching the algorithms a BMC selected, if supported.
    pub fn from_algorithms(auth: u8, integrity: u8, conf: u8) -> Option<Self> {
        [Self::SUITE_3, Self::SUITE_17].into_iter().find(|s| {
            s.auth.wire() == auth && s.integrity.wire() == integrity && conf == CONF_AES_CBC_128
        })
    }
}

impl AuthAlg {
    /// Wire value.
    pub fn wire(self) -> u8 {
        match self {
            Self::HmacSha1 => 0x01,
            Self::HmacSha256 => 0x03,
        }
    }

    /// Full HMAC of `data` under `key`.
    pub fn hmac(self, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::HmacSha1 => hmac_with::<Hmac<sha1::Sha1>>(key, data),
            Self::HmacSha256 => hmac_with::<Hmac<sha2::Sha256>>(key, data),
        }
    }

    /// Length of the RAKP 4 integrity check value (HMAC-SHA1-96 / HMAC-SHA256-128).
    pub fn rakp4_icv_len(self) -> usize {
        match self {
            Self::HmacSha1 => 12,
            Self::HmacSha256 => 16,
        }
    }
}

impl IntegrityAlg {
    /// Wire value.
    pub fn wire(self) -> u8 {
        match self {
            Self::HmacSha1_96 => 0x01,
            Self::HmacSha256_128 => 0x04,
        }
    }

    /// AuthCode length in bytes.
    pub fn code_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
        }
    }

    /// The AuthCode of the covered bytes under K1.
    pub fn sign(self, k1: &[u8], covered: &[u8]) -> Vec<u8> {
        let mut mac = match self {
            Self::HmacSha1_96 => hmac_with::<Hmac<sha1::Sha1>>(k1, &[covered]),
            Self::HmacSha256_128 => hmac_with::<Hmac<sha2::Sha256>>(k1, &[covered]),
        };
        mac.truncate(self.code_len());
        mac
    }
}

/// HMAC over the concatenation of `parts`. HMAC accepts keys of any length, so the error
/// branch is unreachable; it yields an empty MAC that never verifies (fails closed).
fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match <M as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Constant-time comparison of two MACs (false when lengths differ or either is empty).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The values both sides feed into the RAKP exchange.
#[derive(Clone, Copy)]
pub struct RakpParams<'a> {
    /// Remote console session ID (SIDm).
    pub console_session_id: u32,
    /// Managed system session ID (SIDc).
    pub bmc_session_id: u32,
    /// Remote console random number (Rm).
    pub console_random: &'a [u8; 16],
    /// Managed system random number (Rc).
    pub bmc_random: &'a [u8; 16],
    /// Managed system GUID (GUIDc).
    pub bmc_guid: &'a [u8; 16],
    /// Requested role byte of RAKP 1 (ROLEm), including the lookup bit.
    pub role: u8,
    /// User name (UNAMEm).
    pub user: &'a [u8],
}

impl RakpParams<'_> {
    fn ulen(&self) -> [u8; 1] {
        [u8::try_from(self.user.len()).unwrap_or(0)]
    }

    /// RAKP 2 key exchange auth code: HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm).
    pub fn rakp2_auth_code(&self, alg: AuthAlg, kuid: &[u8]) -> Vec<u8> {
        let sidm = self.console_session_id.to_le_bytes();
        let sidc = self.bmc_session_id.to_le_bytes();
        let parts: [&[u8]; 8] = [
            &sidm,
            &sidc,
            self.console_random,
            self.bmc_random,
            self.bmc_guid,
            &[self.role],
            &self.ulen(),
            self.user,
        ];
        alg.hmac(kuid, &parts)
    }

    /// RAKP 3 key exchange auth code: HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm).
    pub fn rakp3_auth_code(&self, alg: AuthAlg, kuid: &[u8]) -> Vec<u8> {
        let sidm = self.console_session_id.to_le_bytes();
        let parts: [&[u8]; 5] = [
            self.bmc_random,
            &sidm,
            &[self.role],
            &self.ulen(),
            self.user,
        ];
        alg.hmac(kuid, &parts)
    }

    /// Session Integrity Key: HMAC_Kg(Rm, Rc, ROLEm, ULENGTHm, UNAMEm); Kg = Kuid without a BMC key.
    pub fn session_integrity_key(&self, alg: AuthAlg, kg: &[u8]) -> Vec<u8> {
        let parts: [&[u8]; 5] = [
            self.console_random,
            self.bmc_random,
            &[self.role],
            &self.ulen(),
            self.user,
        ];
        alg.hmac(kg, &parts)
    }

    /// RAKP 4 integrity check value: HMAC_SIK(Rm, SIDc, GUIDc), truncated.
    pub fn rakp4_icv(&self, alg: AuthAlg, sik: &[u8]) -> Vec<u8> {
        let sidc = self.bmc_session_id.to_le_bytes();
        let parts: [&[u8]; 3] = [self.console_random, &sidc, self.bmc_guid];
        let mut icv = alg.hmac(sik, &parts);
        icv.truncate(alg.rakp4_icv_len());
        icv
    }
}

/// Keys of an active session. `Debug` never shows key material.
#[derive(Clone)]
pub struct SessionKeys {
    /// The negotiated suite.
    pub suite: CipherSuite,
    k1: Vec<u8>,
    k2: Vec<u8>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("suite", &self.suite.id)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Derives K1 = HMAC_SIK(20 × 0x01) and K2 = HMAC_SIK(20 × 0x02) (the constants are 20
    /// bytes for every authentication algorithm, as in ipmitool and OpenIPMI).
    pub fn derive(suite: CipherSuite, sik: &[u8]) -> Self {
        Self {
            suite,
            k1: suite.auth.hmac(sik, &[&[0x01; 20]]),
            k2: suite.auth.hmac(sik, &[&[0x02; 20]]),
        }
    }

    /// The AuthCode of a packet's covered bytes.
    pub fn auth_code(&self, covered: &[u8]) -> Vec<u8> {
        self.suite.integrity.sign(&self.k1, covered)
    }

    /// AES-CBC-128 (key = first 16 bytes of K2): returns IV ‖ ciphertext of the payload
    /// followed by the confidentiality pad 1, 2, … N and the pad length N.
    pub fn encrypt(&self, iv: [u8; 16], plain: &[u8]) -> Result<Vec<u8>, CodecError> {
        let key = self.k2.get(..16).ok_or(CodecError::Decrypt("short K2"))?;
        let pad = (16 - (plain.len() + 1) % 16) % 16;
        let mut buf = Vec::with_capacity(plain.len() + pad + 1);
        buf.extend_from_slice(plain);
        buf.extend((1..=pad).map(|i| u8::try_from(i).unwrap_or(0)));
        buf.push(u8::try_from(pad).unwrap_or(0));
        let len = buf.len();
        let enc = cbc::Encryptor::<aes::Aes128>::new_from_slices(key, &iv)
            .map_err(|_| CodecError::Decrypt("key/IV length"))?;
        enc.encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .map_err(|_| CodecError::Decrypt("block alignment"))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Reverses [`SessionKeys::encrypt`], checking length and padding.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let key = self.k2.get(..16).ok_or(CodecError::Decrypt("short K2"))?;
        if data.len() < 32 || !data.len().is_multiple_of(16) {
            return Err(CodecError::Decrypt("length is not IV + whole blocks"));
        }
        let (iv, ct) = data.split_at(16);
        let mut buf = ct.to_vec();
        let dec = cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| CodecError::Decrypt("key/IV length"))?;
        let plain_len = dec
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CodecError::Decrypt("block alignment"))?
            .len();
        buf.truncate(plain_len);
        let pad = usize::from(buf.last().copied().unwrap_or(0));
        if pad > 15 || pad + 1 > buf.len() {
            return Err(CodecError::Decrypt("bad pad length"));
        }
        let body_len = buf.len() - pad - 1;
        let pad_ok = buf[body_len..body_len + pad]
            .iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i + 1);
        if !pad_ok {
            return Err(CodecError::Decrypt("bad pad bytes"));
        }
        buf.truncate(body_len);
        Ok(buf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hmac_sha1_rfc2202_case_2() {
        let mac = AuthAlg::HmacSha1.hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let mac = AuthAlg::HmacSha256.hmac(b"Jefe", &[b"what do ya want for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn password_zero_padding_is_hmac_equivalent() {
        // ipmitool keys the RAKP HMACs with the password zero-padded to 20 bytes.
        let mut padded = b"password".to_vec();
        padded.resize(20, 0);
        for alg in [AuthAlg::HmacSha1, AuthAlg::HmacSha256] {
            assert_eq!(alg.hmac(b"password", &[b"x"]), alg.hmac(&padded, &[b"x"]));
        }
    }

    proptest! {
        #[test]
        fn aes_round_trip(sik in proptest::collection::vec(any::<u8>(), 20..33), iv: [u8; 16],
                          plain in proptest::collection::vec(any::<u8>(), 0..100), s17: bool) {
            let suite = if s17 { CipherSuite::SUITE_17 } else { CipherSuite::SUITE_3 };
            let keys = SessionKeys::derive(suite, &sik);
            let ct = keys.encrypt(iv, &plain).unwrap();
            prop_assert_eq!(ct.len() % 16, 0);
            prop_assert_eq!(keys.decrypt(&ct).unwrap(), plain);
        }

        #[test]
        fn decrypt_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let keys = SessionKeys::derive(CipherSuite::SUITE_3, &[7; 20]);
            let _ = keys.decrypt(&data);
        }
    }
}
