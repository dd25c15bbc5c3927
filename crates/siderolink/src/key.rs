//! WireGuard keys as SideroLink carries them: 32 bytes in standard base64 with padding.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Length of a WireGuard key in bytes.
pub const KEY_LEN: usize = 32;

/// Why text is not a WireGuard key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not standard base64.
    #[error("{0}")]
    Base64(String),
    /// Decodes, but not to 32 bytes.
    #[error("incorrect key size: {0}")]
    Length(usize),
}

/// The 32 key bytes of base64 `text`.
pub fn decode(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let bytes = B64
        .decode(text)
        .map_err(|e| KeyError::Base64(e.to_string()))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(bytes.len()))
}

/// The canonical base64 form of a key (what is stored in `spec.siderolink.publicKey`).
pub fn canonical(text: &str) -> Result<String, KeyError> {
    decode(text).map(|k| B64.encode(k))
}

/// The public key (base64) of a base64 private key.
pub fn public_key(private_key: &str) -> Result<String, KeyError> {
    let private = defguard_wireguard_rs::key::Key::new(decode(private_key)?);
    Ok(B64.encode(private.public_key().as_array()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn public_key_matches_the_rfc7748_vector() {
        // RFC 7748 §6.1: Alice's private and public keys.
        let private = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
        let public = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
        assert_eq!(public_key(private).unwrap(), public);
    }

    #[test]
    fn decoding_is_strict() {
        assert!(canonical("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=").is_ok());
        assert_eq!(canonical("AAAA"), Err(KeyError::Length(3)));
        assert!(matches!(canonical("hSDw CYk"), Err(KeyError::Base64(_))));
        // Missing padding is refused, as Go's StdEncoding does.
        assert!(canonical("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo").is_err());
    }
}
